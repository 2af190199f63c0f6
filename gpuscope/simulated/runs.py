"""SIMULATED workload runs on the simulated GPUs: the runner's events, in real time.

A simulated run goes through the same parameter checks as a real one (``resolve_params`` on the
bundled workload's own declaration) and reports what that workload would report on the part it
pretends to be: its FLOP rate is the part's datasheet peak for the chosen precision
(``measurement.peaks``) times the share of peak the bundled workload reached on a real H100
(docs/benchmarks.md, 2026-11-26), less a kernel-launch overhead per step, so it never passes 100 %
of peak and a tiny GEMM is slow, as it is on real hardware. Only the bundled gemm, cnn and rnn
are simulated; anything else is refused, never invented.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from gpuscope.measurement.peaks import peak_tflops
from gpuscope.simulated.devices import SimulatedGpu
from gpuscope.workloads.api import WorkloadError, resolve_params
from gpuscope.workloads.child import RunSpec
from gpuscope.workloads.events import (
    ErrorKind,
    Failed,
    FirstStep,
    Progress,
    Result,
    RunEvent,
    Started,
    WarmupDone,
)
from gpuscope.workloads.gemm import gemm_flops
from gpuscope.workloads.resnet import resnet50_counts
from gpuscope.workloads.rnn import lstm_forward_flops_per_token

# Share of the datasheet peak reached on an H100 SXM (driver 580, torch 2.11), 2026-11-26:
# GEMM 8192 per dtype; ResNet-50 bf16 batch 256 (3,967 images/s train, 12,740 infer) and the
# LSTM fp32 (360k tokens/s, on cuDNN's TF32 path) as FLOP rates over their precision's peak.
GEMM_EFFICIENCY = {"bf16": 0.683, "fp16": 0.656, "tf32": 0.716, "fp32": 0.765, "fp8": 0.624}
CNN_EFFICIENCY = {"train": 0.0984, "infer": 0.1053}
RNN_EFFICIENCY = 0.118
# Precision -> the peak it runs at: fp32 models use TF32 tensor cores through cuDNN by default.
MODEL_PEAK_DTYPE = {"bf16": "bf16", "fp16": "fp16", "fp32": "tf32"}
LAUNCH_OVERHEAD_S = 10e-6  # per step: a GEMM of n=64 is launch-bound, not compute-bound
SIMULATED_WORKLOADS = ("gemm", "cnn", "rnn")


def simulated_rate(
    workload: str, params: Mapping[str, Any], device_name: str
) -> tuple[float, float]:
    """(units per second, FLOP per unit) of a bundled workload on the part ``device_name``."""
    if workload == "gemm":
        dtype = str(params["dtype"])
        flops_per_unit, efficiency = 1.0, GEMM_EFFICIENCY[dtype]
        step_flops = gemm_flops(int(params["size"]))
    elif workload == "cnn":
        dtype = MODEL_PEAK_DTYPE[str(params["precision"])]
        _, macs = resnet50_counts(int(params["image_size"]))
        flops_per_unit = 2.0 * macs * (3 if params["mode"] == "train" else 1)
        efficiency = CNN_EFFICIENCY[str(params["mode"])]
        step_flops = flops_per_unit * int(simulated_facts(workload, params)["batch"])
    else:
        dtype = MODEL_PEAK_DTYPE[str(params["precision"])]
        hidden, layers, vocab = int(params["hidden"]), int(params["layers"]), int(params["vocab"])
        flops_per_unit = 3.0 * lstm_forward_flops_per_token(hidden, layers, vocab)
        efficiency = RNN_EFFICIENCY
        step_flops = flops_per_unit * int(params["batch"]) * int(params["seq"])
    peak = peak_tflops(device_name, dtype)
    if peak is None:
        raise WorkloadError(f"no datasheet peak for {device_name} in {dtype}")
    step_s = step_flops / (peak * 1e12 * efficiency) + LAUNCH_OVERHEAD_S
    flop_rate = step_flops / step_s
    return flop_rate / flops_per_unit, flops_per_unit


def simulated_facts(workload: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """What the bundled workload's setup would report: the CNN's batch."""
    if workload == "cnn":
        return {"batch": int(params["batch"])}
    return {}


class SimulatedRun:
    """A workload "running" on a simulated GPU: the runner's events at the simulated rate, in
    real time, with the GPU's load raised while it runs. Stands in for ``WorkloadRun``."""

    def __init__(self, spec: RunSpec, gpu: SimulatedGpu, progress_period_s: float = 0.5) -> None:
        self.spec = spec
        self.gpu = gpu
        self.progress_period_s = progress_period_s
        self._stop = threading.Event()

    def stop(self, grace_s: float = 5.0) -> None:
        self._stop.set()

    def _resolve(self) -> tuple[str, dict[str, Any]]:
        """Workload name and parameters, or WorkloadError: what a real run would refuse, this
        refuses."""
        ref = self.spec.ref
        name = ref.module.rsplit(".", 1)[-1]
        if ref.file is not None or ref.origin != "bundled" or name not in SIMULATED_WORKLOADS:
            raise WorkloadError(
                f"simulated GPUs run only the bundled {', '.join(SIMULATED_WORKLOADS)}"
            )
        return name, resolve_params(ref.load(), self.spec.params)

    def events(self) -> Iterator[RunEvent]:
        try:
            name, params = self._resolve()
            rate, flops_per_unit = simulated_rate(name, params, self.gpu.name)
        except WorkloadError as exc:
            yield Failed(ErrorKind.USAGE, str(exc), received_s=time.monotonic())
            return
        uuid = self.gpu.info.uuid
        facts = {"simulated": True, **simulated_facts(name, params)}
        yield Started(0, self.gpu.name, uuid, facts, received_s=time.monotonic())
        self.gpu.extra_load = 1.0
        try:
            if self._stop.wait(self.spec.warmup_s):
                yield Result(0.0, None, 0.0, 0, stopped_early=True, received_s=time.monotonic())
                return
            yield FirstStep(self.spec.warmup_s, received_s=time.monotonic())
            yield WarmupDone(1, self.spec.warmup_s, received_s=time.monotonic())
            t0 = time.monotonic()
            while True:
                stopped = self._stop.wait(self.progress_period_s)
                now = time.monotonic()
                seconds = now - t0
                units = rate * seconds
                flops, steps = units * flops_per_unit, int(seconds * 10)
                if seconds >= self.spec.duration_s or stopped:
                    yield Result(units, flops, seconds, steps, stopped, received_s=now)
                    return
                yield Progress(units, flops, seconds, steps, received_s=now)
        finally:
            self.gpu.extra_load = 0.0
