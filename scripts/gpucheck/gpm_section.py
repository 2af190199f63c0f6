"""The ``gpm`` section: NVML GPM activity as gpuscope reads it, idle, under a bf16 GEMM and under
the axpy plugin; the achieved-throughput estimate against the GEMM's measured rate; and what GPM
and the energy counter cost on the card.

One sampler, wanting activity, runs through idle and both workloads; each phase is judged on the
samples inside its window (the workloads' measured windows from their bench reports), so warm-up
and start-up never count. On a GPU without GPM the section says why in one line and measures
nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from gpuscope.sampler import Sampler
from gpuscope.telemetry.model import ActivitySampling, Device, DeviceInfo, Sample

from .context import REPO, Context
from .gpm_cost import (
    ENERGY_CALL,
    GPM_METRIC_NAMES,
    GpmCallCost,
    energy_reads_allowed,
    energy_reads_while_recording,
    median_us,
    time_device_reads,
    time_gpm_calls,
)
from .gpm_figures import (
    Window,
    activity_means,
    activity_note,
    activity_read,
    activity_table,
    add_verdicts,
    axpy_verdicts,
    estimate_mean,
    estimate_verdict,
    gemm_verdicts,
    idle_verdicts,
    in_window,
    timeline,
)
from .report import SectionResult, format_value
from .runner import Unsupported
from .telemetry_sections import nvidia_device

INTERVAL_S = 0.2  # the section's sampler: ~25 activity samples in each 5 s window
IDLE_S = 5.0
BENCH_TIMES = ("--duration", "5", "--warmup", "2")
GEMM = ("gemm", "--dtype", "bf16", "--size", "8192")
AXPY = ("axpy", "--plugin", str(REPO / "plugins" / "axpy.py"))  # fp32, 64 Mi elements a vector
COST_READS, COST_SPACING_S = 20, 0.1
RECORD_S, RECORD_INTERVAL_S = 5.0, 0.1
OWNER = "gpu-check"
PHASE_NAMES = ("idle 5 s", "bf16 GEMM n=8192", "axpy fp32")  # the activity table's columns

Bench = Callable[[Sequence[str]], dict[str, Any]]  # workload arguments -> one bench report


def no_gpm_reason(device: Device) -> str | None:
    """None where gpuscope can sample GPM on ``device``; else the device's own line on why."""
    info = device.info
    if info.activity_counters and isinstance(device, ActivitySampling):
        return None
    said = [n for n in info.notes if "gpm" in n.lower() or "activity" in n.lower()]
    return f"{info.name}: {said[0] if said else 'gpuscope offers no activity counters (GPM)'}"


def gpm(ctx: Context, result: SectionResult, left_s: float) -> None:
    import pynvml as nv

    deadline = time.monotonic() + left_s - 5

    def bench(workload: Sequence[str]) -> dict[str, Any]:
        command = ctx.gpuscope("bench", *workload, "--device", ctx.cuda, *BENCH_TIMES, "--json")
        left = deadline - time.monotonic()
        report: dict[str, Any] = ctx.run_json(command, timeout_s=min(120.0, left))["reports"][0]
        return report

    with nvidia_device(ctx) as device:
        handle = nv.nvmlDeviceGetHandleByIndex(ctx.index)
        run_gpm(
            result,
            device,
            bench,
            wait_idle=lambda: time.sleep(IDLE_S),
            raw_cost=lambda: time_gpm_calls(nv, handle, COST_READS, COST_SPACING_S),
            energy_reads=lambda: energy_reads_while_recording(
                device.info.device_id, RECORD_S, RECORD_INTERVAL_S
            ),
        )


def run_gpm(
    result: SectionResult,
    device: Device,
    bench: Bench,
    wait_idle: Callable[[], None],
    raw_cost: Callable[[], GpmCallCost],
    energy_reads: Callable[[], int],
    interval_s: float = INTERVAL_S,
    cost_spacing_s: float = COST_SPACING_S,
) -> None:
    """The section on one opened device; the GPU's parts come in as callables (tests script
    them). Raises ``Unsupported`` with one line where GPM cannot be read."""
    why = no_gpm_reason(device)
    if why is not None:
        raise Unsupported(why)
    activity = measure_activity(result, device, bench, wait_idle, interval_s)
    off, on = time_device_reads(device, COST_READS, cost_spacing_s)
    cost = summarise_costs(result, raw_cost(), off, on, energy_reads())
    result.summary = f"{activity}; {cost}"


def measure_activity(
    result: SectionResult,
    device: Device,
    bench: Bench,
    wait_idle: Callable[[], None],
    interval_s: float,
) -> str:
    """Idle, the GEMM and axpy under one sampler that wants activity; the figures into
    ``result``; returns the summary's first part."""
    info = device.info
    sampler = Sampler([device], interval_s=interval_s, history_len=100_000)
    sampler.want_activity(OWNER)
    sampler.start()
    try:
        idle_from = time.time()
        wait_idle()
        idle = Window("idle", idle_from, time.time())
        gemm = bench(GEMM)
        axpy = bench(AXPY)
    finally:
        sampler.want_activity(OWNER, False)
        sampler.stop()
    if sampler.error is not None:
        raise RuntimeError(f"the sampler stopped: {sampler.error}")
    samples = sampler.history(info.device_id)
    if not activity_read(samples):
        raise Unsupported(f"{info.name}: GPM offered, but no activity was read: "
                          f"{activity_note(samples) or 'the device gave no reason'}")  # fmt: skip
    windows = [
        idle,
        Window("gemm", gemm["measured_from_s"], gemm["measured_to_s"]),
        Window("axpy", axpy["measured_from_s"], axpy["measured_to_s"]),
    ]
    phases = [in_window(samples, window, interval_s) for window in windows]
    result.figure("samples in each phase (idle, GEMM, axpy)",
                  ", ".join(str(len(taken)) for taken in phases), "",
                  f"sampler at {interval_s:g} s; activity wanted")  # fmt: skip
    return judge_activity(result, info, phases, gemm, axpy)


def judge_activity(
    result: SectionResult,
    info: DeviceInfo,
    phases: list[list[Sample]],
    gemm: dict[str, Any],
    axpy: dict[str, Any],
) -> str:
    """Each phase's means and verdicts, the estimate against the GEMM's measured rate."""
    gemm_samples = phases[1]
    means = [activity_means(taken) for taken in phases]
    result.tables.append(activity_table(dict(zip(PHASE_NAMES, means, strict=True))))
    idle, busy, streaming = (
        idle_verdicts(means[0]),
        gemm_verdicts(means[1]),
        axpy_verdicts(means[2]),
    )
    missed = add_verdicts(result, idle) + add_verdicts(result, busy)
    estimate = estimate_mean(gemm_samples, info)
    measured = gemm.get("tflops")
    ratio, note = estimate_verdict(estimate, measured, gemm_samples)
    result.figure("GEMM measured (gpuscope bench gemm, 5 s)", measured, "TFLOP/s",
                  f"energy {gemm.get('energy_source') or 'n/a'}")  # fmt: skip
    result.figure("GEMM achieved estimate, mean over its measured window", estimate.tflops,
                  "TFLOP/s", f"{estimate.samples} samples; {estimate.method}")  # fmt: skip
    result.figure("estimate / measured", ratio, "x", note)
    missed += add_verdicts(result, streaming)
    rate = axpy.get("throughput")
    result.figure("axpy measured (gpuscope bench axpy, 5 s)",
                  rate / 1e9 if rate is not None else None, "GB/s")  # fmt: skip
    title = f"GPM samples under the bf16 GEMM on {info.device_id} (first rows)"
    result.texts[title] = timeline(gemm_samples, info)
    return (
        f"idle max {format_value(idle[0].value, '%')}; GEMM SM active "
        f"{format_value(busy[0].value, '%')}, tensor {format_value(busy[1].value, '%')}; "
        f"estimate {format_value(estimate.tflops)} vs measured {format_value(measured)} TFLOP/s "
        f"({format_value(ratio, 'x')}, {note.split(' (')[0]}); axpy DRAM "
        f"{format_value(streaming[0].value, '%')}, tensor {format_value(streaming[1].value, '%')}"
        + (f"; MISSED: {', '.join(missed)}" if missed else "")
    )


def summarise_costs(
    result: SectionResult,
    raw: GpmCallCost,
    read_off_s: Sequence[float],
    read_on_s: Sequence[float],
    energy_reads: int,
) -> str:
    """The cost figures into ``result``; returns the summary's second part."""
    spacing = f"{len(raw.sample_get_s)} reads {COST_SPACING_S:g} s apart"
    sample_us, metrics_us = median_us(raw.sample_get_s), median_us(raw.metrics_get_s)
    both = [a + b for a, b in zip(raw.sample_get_s, raw.metrics_get_s, strict=True)]
    raw_us = median_us(both)
    result.figure("nvmlGpmSampleGet, median", sample_us, "µs", f"pynvml direct, {spacing}")
    result.figure(f"nvmlGpmMetricsGet ({len(GPM_METRIC_NAMES)} metrics), median", metrics_us,
                  "µs", f"pynvml direct, {spacing}")  # fmt: skip
    result.figure("GPM sample + metrics, median", raw_us, "µs", "the floor for one activity read")
    result.figure("GPM metrics NotSupported on this card",
                  ", ".join(raw.not_supported) or "none", "")  # fmt: skip
    off_us, on_us = median_us(read_off_s), median_us(read_on_s)
    result.figure("gpuscope NvidiaDevice.read, activity not wanted, median", off_us, "µs",
                  f"{len(read_off_s)} reads {COST_SPACING_S:g} s apart")  # fmt: skip
    result.figure("gpuscope NvidiaDevice.read, activity wanted, median", on_us, "µs")
    added = on_us - off_us if on_us is not None and off_us is not None else None
    result.figure("activity's cost per read (wanted - not wanted)", added, "µs",
                  f"raw GPM floor {format_value(raw_us, 'µs')}")  # fmt: skip
    allowed = energy_reads_allowed(RECORD_S)
    met = "met" if energy_reads <= allowed else "MISSED"
    result.figure(
        f"{ENERGY_CALL} calls, gpuscope record -i {RECORD_INTERVAL_S:g} -d {RECORD_S:g}",
        energy_reads,
        "calls",
        f"target <= {allowed} (about once a second, plus probe and window edges): {met}; "
        "issue 24 found 52",
    )
    return (
        f"GPM read {format_value(raw_us, 'µs')} raw, gpuscope's read "
        f"+{format_value(added, 'µs')} with activity; {energy_reads} energy reads in a "
        f"{RECORD_S:g} s recording at {RECORD_INTERVAL_S:g} s (target <= {allowed}: {met})"
    )
