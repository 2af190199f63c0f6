"""Runs with fixed figures for the Compare tab's tests: as if measured, without a child process."""

from __future__ import annotations

from typing import Any

from gpuscope.measurement.measured_run import LivePoint, MeasuredRun, RunState
from gpuscope.measurement.run_params import Emulated, precision_param
from gpuscope.measurement.run_result import build_result
from gpuscope.sampler import WindowResult
from gpuscope.telemetry.model import DeviceInfo, EnergySource
from gpuscope.workloads.events import ErrorKind, Failed, Result
from gpuscope.workloads.registry import find_workloads


def measured(
    workload: str,
    device: str,
    telemetry: DeviceInfo | None,
    rate: float,
    power_w: float | None,
    params: dict[str, Any],
    facts: dict[str, Any] | None = None,
    source: EnergySource = EnergySource.COUNTER,
    flops_per_unit: float | None = None,
    stopped: bool = False,
    live: bool = False,
    chosen: dict[str, str] | None = None,
    emulated: Emulated | None = None,
) -> MeasuredRun:
    """A run of a bundled workload at ``rate`` units/s and ``power_w`` for 10 s (or 4 s, still
    measuring, when ``live``), its energy from ``source``."""
    info = find_workloads(plugin_dirs=[], use_entry_points=False).workloads[workload]
    named = precision_param(info)
    run = MeasuredRun(
        info, device, dict(params), duration_s=10.0, chosen=dict(chosen or {}), emulated=emulated,
        precision_param=named.name if named is not None else None,
    )  # fmt: skip
    run.facts = dict(facts or {})
    run.telemetry = telemetry
    run.device_name = telemetry.name if telemetry else None
    seconds = 4.0 if live else (6.0 if stopped else 10.0)
    run.live = [
        LivePoint(
            0.5 * i,
            rate * (1 + 0.02 * (i % 3)),
            power_w,
            rate / power_w if power_w else None,
            source if power_w else None,
        )
        for i in range(1, int(seconds * 2) + 1)
    ]
    run.units, run.seconds = rate * seconds, seconds
    if live:
        run.state = RunState.MEASURING
        return run
    window = WindowResult(
        telemetry.device_id if telemetry else "none",
        seconds,
        power_w * seconds if power_w else None,
        power_w,
        source if power_w else None,
        0,
        False,
    )
    flops = rate * seconds * flops_per_unit if flops_per_unit else None
    run.result = build_result(
        workload,
        device,
        info.unit,
        run.params,
        Result(rate * seconds, flops, seconds, 40, stopped_early=stopped),
        window if power_w else None,
        telemetry,
        run.device_name,
        run.facts,
        chosen=run.chosen,
        emulated=run.emulated.head() if run.emulated is not None else None,
        precision_param=run.precision_param,
    )
    run.state = RunState.DONE
    return run


def failed(workload: str, device: str, params: dict[str, Any], message: str) -> MeasuredRun:
    info = find_workloads(plugin_dirs=[], use_entry_points=False).workloads[workload]
    run = MeasuredRun(info, device, dict(params))
    run.fail(Failed(ErrorKind.DEVICE_OOM, message))
    return run


CNN = {"mode": "train", "precision": "bf16", "batch": 256, "image_size": 224, "channels_last": True}
# what a CPU without native bf16 runs of the same request: its native precision, its batch
CNN_ON_CPU = {**CNN, "precision": "fp32", "batch": 2}
CNN_CHOSEN = {"precision": "the device's native one", "batch": "the device's default"}
GEMM = {"dtype": "bf16", "size": 8192}
RNN = {"precision": "fp32", "batch": 64, "seq": 128, "hidden": 1024, "layers": 2, "vocab": 10000}
BF16_EMULATED = Emulated(
    "bf16", "cpu", "AVX2, no AVX512-BF16 or AMX", "dtype", "fp32", frozenset({"fp32"})
)


def session_runs(infos: dict[str, DeviceInfo]) -> list[MeasuredRun]:
    """Three configurations in launch order: a CNN on cpu and two GPUs at each device's own
    precision and batch (one GPU still measuring), a GEMM at bf16 on both sides, which the CPU
    only emulates (a 1e5x gap, not a fair one) and an estimated CPU energy, and an LSTM stopped
    early on the CPU beside a GPU that ran out of memory."""
    cpu, gpu0, gpu1 = infos["cpu"], infos["nvidia:0"], infos["nvidia:1"]
    chosen = {"chosen": CNN_CHOSEN}
    return [
        measured("cnn", "cpu", cpu, 2.91, None, CNN_ON_CPU, {"batch": 2}, **chosen),
        measured("cnn", "cuda:0", gpu0, 3981.4, 571.0, CNN, {"batch": 256}, **chosen),
        measured("cnn", "cuda:1", gpu1, 3902.2, 566.0, CNN, {"batch": 256}, live=True, **chosen),
        measured(
            "gemm",
            "cpu",
            cpu,
            6.21e9,
            95.0,
            GEMM,
            source=EnergySource.ESTIMATE,
            flops_per_unit=1.0,
            emulated=BF16_EMULATED,
        ),
        measured("gemm", "cuda:0", gpu0, 6.76e14, 688.0, GEMM, flops_per_unit=1.0),
        measured("rnn", "cpu", cpu, 1.52e4, None, RNN, stopped=True),
        measured("rnn", "cuda:0", gpu0, 3.6e5, 402.0, RNN),
        failed("rnn", "cuda:1", RNN, "CUDA out of memory. Tried to allocate 2.00 GiB"),
    ]
