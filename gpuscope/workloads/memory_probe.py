"""Finds the largest batch of a bundled model that fits in device memory, then measures it.

The search doubles the batch until a training step runs out of memory, then bisects between the
last batch that fitted and the first that did not (to within 1/32). Each failed try's memory is
released before the next. GPU only: on a CPU, running out of memory summons the kernel's OOM
killer rather than an exception.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping
from typing import Any

from gpuscope.workloads.api import Param, Work, Workload, WorkloadError
from gpuscope.workloads.cnn import ResNet50
from gpuscope.workloads.rnn import LstmLanguageModel
from gpuscope.workloads.training import PRECISIONS

MODELS: dict[str, type[Workload]] = {"cnn": ResNet50, "rnn": LstmLanguageModel}


def probe_largest(fits: Callable[[int], bool], limit: int) -> tuple[int, int]:
    """(largest batch for which ``fits`` holds, number of tries); 0 if not even 1 fits."""
    tries = 1
    if not fits(1):
        return 0, tries
    good, bad = 1, None
    while good * 2 <= limit:
        tries += 1
        if not fits(good * 2):
            bad = good * 2
            break
        good *= 2
    if bad is None:
        return good, tries
    while bad - good > max(1, good // 32):
        middle = (good + bad) // 2
        tries += 1
        if fits(middle):
            good = middle
        else:
            bad = middle
    return good, tries


class MemoryProbe(Workload):
    name = "memory-probe"
    description = "largest batch of a model that fits in device memory, then its throughput"
    devices = ("cuda", "rocm")
    unit = "samples"  # images for cnn, sequences for rnn
    params = (
        Param("model", "cnn", "which bundled model to probe", choices=tuple(MODELS)),
        Param("precision", "bf16", "autocast dtype, or fp32", choices=PRECISIONS, precision=True),
        Param("limit", 65536, "largest batch to try", minimum=1),
    )
    setup_timeout_s = 900.0  # the probe itself runs in setup: 101 s on an H200

    def setup(self, device: str, params: Mapping[str, Any]) -> None:
        import torch

        self._torch = torch
        self._device = device
        self._model_cls = MODELS[str(params["model"])]
        self._precision = str(params["precision"])
        self._largest, self._tries = probe_largest(self._fits, int(params["limit"]))
        if self._largest == 0:
            raise WorkloadError(f"not even a batch of 1 fits on {device}")
        self._inner = self._build(self._largest)

    def _build(self, batch: int) -> Workload:
        inner = self._model_cls()
        given = {"batch": batch, "precision": self._precision}
        defaults = {p.name: p.default for p in self._model_cls.params}
        inner.setup(self._device, {**defaults, **given})
        return inner

    def _fits(self, batch: int) -> bool:
        inner: Workload | None = None
        try:
            inner = self._build(batch)
            inner.step()
            self._torch.cuda.synchronize(self._device)
            return True
        except self._torch.cuda.OutOfMemoryError:
            return False
        finally:
            if inner is not None:
                inner.teardown()
            del inner
            gc.collect()
            self._torch.cuda.empty_cache()

    def step(self) -> Work:
        done = self._inner.step()
        assert isinstance(done, Work)
        # Report samples (images or sequences), whatever the inner model counts in.
        samples = self._largest
        return Work(units=samples, flops=done.flops)

    def facts(self) -> dict[str, Any]:
        return {"largest_batch": self._largest, "tries": self._tries, **self._inner.facts()}

    def teardown(self) -> None:
        inner = self.__dict__.pop("_inner", None)
        if inner is not None:
            inner.teardown()
