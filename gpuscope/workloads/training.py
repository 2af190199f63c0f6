"""One training or inference step with mixed precision, shared by the bundled model workloads.

Precision: "bf16" and "fp16" run under ``torch.autocast`` (fp16 with a GradScaler, as real
training does); "fp32" runs plain fp32.
"""

from __future__ import annotations

import contextlib
from typing import Any

from gpuscope.workloads.api import WorkloadError

PRECISIONS = ("bf16", "fp16", "fp32")
MODES = ("train", "infer")


class ModelStep:
    """Runs ``model(inputs)`` with ``loss_fn`` for training, or under inference mode."""

    def __init__(self, model: Any, loss_fn: Any, device: str, precision: str, mode: str) -> None:
        import torch

        if precision not in PRECISIONS:
            raise WorkloadError(f"precision must be one of {', '.join(PRECISIONS)}")
        if precision == "fp16" and device == "cpu":
            raise WorkloadError("fp16 autocast is for GPUs; use bf16 or fp32 on the CPU")
        self._torch = torch
        self._model = model
        self._loss_fn = loss_fn
        self._train = mode == "train"
        self._device_type = "cpu" if device == "cpu" else "cuda"
        self._dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[precision]
        self._scaler = torch.amp.GradScaler(self._device_type) if precision == "fp16" else None
        model.train(self._train)
        self._optimizer = (
            torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9) if self._train else None
        )

    def _autocast(self) -> Any:
        if self._dtype is None:
            return contextlib.nullcontext()
        return self._torch.autocast(self._device_type, dtype=self._dtype)

    def __call__(self, inputs: Any, targets: Any) -> None:
        if not self._train:
            with self._torch.inference_mode(), self._autocast():
                self._model(inputs)
            return
        assert self._optimizer is not None
        self._optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            loss = self._loss_fn(self._model(inputs), targets)
        if self._scaler is not None:
            self._scaler.scale(loss).backward()
            self._scaler.step(self._optimizer)
            self._scaler.update()
        else:
            loss.backward()
            self._optimizer.step()
