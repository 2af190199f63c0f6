"""What the ``gpm`` section judges, from the samples it took: each phase's mean activity, the
achieved-throughput estimate against the measured rate, and the verdicts.

Pure functions of samples and bench reports, so they are tested without a GPU. The thresholds
live here, once, and every verdict's note names its own, so a reader sees what "high" meant.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from gpuscope.measurement.achieved import achieved_estimate, no_estimate_reason
from gpuscope.telemetry.model import ACTIVITY_METRICS, DeviceInfo, Sample

from .report import SectionResult, Table, format_value

PERCENT_FIELDS = tuple(name for name in ACTIVITY_METRICS if name.endswith("_pct"))
TRAFFIC_FIELDS = tuple(name for name in ACTIVITY_METRICS if name.endswith("_mib_s"))

# An idle GPU: no pipe busy; the driver's own polling moves a little over PCIe.
IDLE_MAX_PCT = 2.0
IDLE_MAX_MIB_S = 100.0
# A bf16 GEMM n=8192 keeps every SM resident and its tensor pipes busy most of the time (it runs
# at 67-68 % of the datasheet peak on the H100 and H200 at their 700 W cap).
GEMM_MIN_SM_PCT = 80.0
GEMM_MIN_TENSOR_PCT = 50.0
# axpy streams three vectors through DRAM and does no matrix math.
AXPY_MIN_DRAM_PCT = 50.0
AXPY_MAX_TENSOR_PCT = 2.0
ESTIMATE_TOLERANCE = 0.15  # the target: the estimate within 15 % of the measured GEMM


@dataclass(frozen=True, slots=True)
class Window:
    """A stretch of wall-clock time (``time.time()``, as a bench report's ``measured_from_s``)."""

    name: str
    from_s: float
    to_s: float


@dataclass(frozen=True, slots=True)
class Verdict:
    label: str
    value: float | None
    unit: str
    target: str  # e.g. ">= 80 %"
    met: bool | None  # None: nothing measured to judge

    @property
    def note(self) -> str:
        state = {True: "met", False: "MISSED", None: "not measured"}[self.met]
        return f"target {self.target}: {state}"


def in_window(samples: Sequence[Sample], window: Window, interval_s: float) -> list[Sample]:
    """The samples whose interval lies inside ``window``: a reading's activity is over the
    interval since the previous one, so the first reading inside the window is left out."""
    return [
        s for s in samples if window.from_s + interval_s <= s.reading.wall_time_s <= window.to_s
    ]


def activity_means(samples: Sequence[Sample]) -> dict[str, float | None]:
    """Each activity field's mean over the samples that carry it; None where none does."""
    means: dict[str, float | None] = {}
    for name in ACTIVITY_METRICS:
        values = [getattr(s.reading, name) for s in samples]
        present = [float(v) for v in values if v is not None]
        means[name] = statistics.fmean(present) if present else None
    return means


def activity_read(samples: Sequence[Sample]) -> bool:
    return any(getattr(s.reading, name) is not None for s in samples for name in ACTIVITY_METRICS)


def activity_note(samples: Sequence[Sample]) -> str | None:
    """The device's last word on why activity was n/a, if it said any."""
    notes = [s.reading.activity_note for s in samples if s.reading.activity_note]
    return notes[-1] if notes else None


@dataclass(frozen=True, slots=True)
class EstimateMean:
    tflops: float | None  # mean over the samples that had an estimate; None: none had
    samples: int  # how many had one
    method: str  # the estimate's method line, or why there was none


def estimate_mean(samples: Sequence[Sample], info: DeviceInfo) -> EstimateMean:
    estimates = [achieved_estimate(s.reading, info) for s in samples]
    present = [e for e in estimates if e is not None]
    if not present:
        why = no_estimate_reason(samples[-1].reading, info) if samples else "no samples"
        return EstimateMean(None, 0, why)
    mean = statistics.fmean(e.tflops for e in present)
    return EstimateMean(mean, len(present), present[-1].method)


def _largest(means: dict[str, float | None], names: Sequence[str]) -> tuple[str, float | None]:
    present = [(name, v) for name in names if (v := means.get(name)) is not None]
    if not present:
        return "none read", None
    return max(present, key=lambda item: item[1])


def _judged(label: str, value: float | None, unit: str, target: str, ok: bool) -> Verdict:
    return Verdict(label, value, unit, target, None if value is None else ok)


def idle_verdicts(means: dict[str, float | None]) -> list[Verdict]:
    pct_name, pct = _largest(means, PERCENT_FIELDS)
    mib_name, mib = _largest(means, TRAFFIC_FIELDS)
    return [
        _judged(f"idle: largest activity ({pct_name})", pct, "%", f"<= {IDLE_MAX_PCT:g} %",
                pct is not None and pct <= IDLE_MAX_PCT),
        _judged(f"idle: largest traffic ({mib_name})", mib, "MiB/s", f"<= {IDLE_MAX_MIB_S:g} MiB/s",
                mib is not None and mib <= IDLE_MAX_MIB_S),
    ]  # fmt: skip


def _tensor(means: dict[str, float | None]) -> tuple[str, float | None]:
    """HMMA where GPM gives it (what a bf16 GEMM runs on), else any tensor pipe."""
    if means.get("tensor_hmma_pct") is not None:
        return "HMMA", means["tensor_hmma_pct"]
    return "any pipe", means.get("tensor_active_pct")


def gemm_verdicts(means: dict[str, float | None]) -> list[Verdict]:
    sm = means.get("sm_active_pct")
    pipe, tensor = _tensor(means)
    return [
        _judged("GEMM: SM active", sm, "%", f">= {GEMM_MIN_SM_PCT:g} %",
                sm is not None and sm >= GEMM_MIN_SM_PCT),
        _judged(f"GEMM: tensor active ({pipe})", tensor, "%", f">= {GEMM_MIN_TENSOR_PCT:g} %",
                tensor is not None and tensor >= GEMM_MIN_TENSOR_PCT),
    ]  # fmt: skip


def axpy_verdicts(means: dict[str, float | None]) -> list[Verdict]:
    dram = means.get("dram_active_pct")
    tensor = means.get("tensor_active_pct")
    if tensor is None:
        tensor = means.get("tensor_hmma_pct")
    return [
        _judged("axpy: DRAM bandwidth active", dram, "%", f">= {AXPY_MIN_DRAM_PCT:g} %",
                dram is not None and dram >= AXPY_MIN_DRAM_PCT),
        _judged("axpy: tensor active", tensor, "%", f"<= {AXPY_MAX_TENSOR_PCT:g} %",
                tensor is not None and tensor <= AXPY_MAX_TENSOR_PCT),
    ]  # fmt: skip


def conditions(samples: Sequence[Sample]) -> str:
    """What the clocks and power were while the estimate was made: an estimate at datasheet
    peaks reads high when the SMs run below boost under the power cap."""
    readings = [s.reading for s in samples]

    def mean(name: str) -> float | None:
        values = [float(v) for r in readings if (v := getattr(r, name)) is not None]
        return statistics.fmean(values) if values else None

    reasons = sorted({reason for r in readings for reason in (r.throttle_reasons or ())})
    clock, power, limit = mean("clock_core_mhz"), mean("power_w"), mean("power_limit_w")
    return (
        f"mean SM clock {format_value(clock, 'MHz')}, power {format_value(power, 'W')} of "
        f"{format_value(limit, 'W')} limit, clock events {', '.join(reasons) or 'none'}"
    )


def estimate_verdict(
    estimate: EstimateMean, measured_tflops: float | None, samples: Sequence[Sample]
) -> tuple[float | None, str]:
    """(estimate / measured, the note): "within 15 %: met", or the figures that say why not."""
    if estimate.tflops is None:
        return None, f"not estimated: {estimate.method}"
    if not measured_tflops:
        return None, "the GEMM's measured rate is missing"
    ratio = estimate.tflops / measured_tflops
    target = f"target within {ESTIMATE_TOLERANCE:.0%}"
    if abs(ratio - 1.0) <= ESTIMATE_TOLERANCE:
        return ratio, f"{target}: met"
    return ratio, f"{target}: MISSED ({estimate.method}; {conditions(samples)})"


def activity_table(phases: dict[str, dict[str, float | None]]) -> Table:
    """One row per activity field, one column per phase: its mean there (None: n/a)."""
    table = Table(
        "GPM activity, mean over each phase (gpuscope's sampler, activity wanted)",
        ["metric", "unit", *phases],
    )
    for name in ACTIVITY_METRICS:
        unit = "%" if name.endswith("_pct") else "MiB/s"
        table.rows.append([name, unit, *(means[name] for means in phases.values())])
    return table


def add_verdicts(result: SectionResult, verdicts: Sequence[Verdict]) -> list[str]:
    """Each verdict as a figure; returns the labels of those missed."""
    for verdict in verdicts:
        result.figure(verdict.label, verdict.value, verdict.unit, verdict.note)
    return [v.label for v in verdicts if v.met is False]


def timeline(samples: Sequence[Sample], info: DeviceInfo, rows: int = 8) -> str:
    """A few samples under the GEMM as text: what the panel's activity line is drawn from."""
    lines = ["t_s  sm_active_pct  tensor_hmma_pct  dram_active_pct  estimate_tflops"]
    start_s = samples[0].reading.time_s if samples else 0.0
    for sample in samples[:rows]:
        reading = sample.reading
        estimate = achieved_estimate(reading, info)
        cells = [
            reading.sm_active_pct,
            reading.tensor_hmma_pct,
            reading.dram_active_pct,
            estimate.tflops if estimate else None,
        ]
        lines.append(
            f"{reading.time_s - start_s:.2f}  " + "  ".join(format_value(cell) for cell in cells)
        )
    return "\n".join(lines)
