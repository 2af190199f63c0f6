"""A run's figures as the text of its cells, by column: bench's table, the UI's results table
and the HTML/Markdown report pick their columns from ``figure_cells``, and the Compare tab
writes its figures with the same cell functions, so a figure reads the same everywhere."""

from __future__ import annotations

from gpuscope.measurement.run_result import RunResult, params_text, run_precision
from gpuscope.telemetry.model import EnergySource
from gpuscope.units import format_rate

NA = "n/a"
SOURCES = {  # what each energy source means, as a report's legend says it
    EnergySource.COUNTER: "hardware energy counter",
    EnergySource.INTEGRATED: "power readings integrated over time",
    EnergySource.MIXED: "counter, with integrated power where the counter was not read",
    EnergySource.ESTIMATE: "an estimate (a CPU's TDP x utilization, or a GPU process's SM share "
    "of its GPU's measured energy), not a measurement",
}


def shared_mark(shared: str | None, share_pct: float | None) -> str:
    """`` (shared 45%)``: others used the device over the run's window; empty when not."""
    if shared is None:
        return ""
    return f" (shared {share_pct:.0f}%)" if share_pct is not None else " (shared)"


def rate_cell(value: float | None, unit: str, per: str = "s") -> str:
    """``1.23 TFLOP/s``, or with ``per="J"`` work per joule; n/a when unknown."""
    return NA if value is None else format_rate(value, unit, per)


def watts_cell(value: float | None) -> str:
    return NA if value is None else f"{value:.0f}"


def percent_cell(value: float | None) -> str:
    """``68.3``; below 1 % in 2 significant figures, so a launch-bound run is not ``0.0``."""
    if value is None:
        return NA
    return f"{value:.1f}" if value >= 1 else f"{value:.2g}"


def source_cell(source: EnergySource | None) -> str:
    """The energy source by name (``counter``, ``estimate``...), the one place it is written
    as text in a table; n/a without one."""
    return NA if source is None else source.value


def _cell(value: float | None, pattern: str) -> str:
    return NA if value is None else pattern.format(value)


def figure_cells(report: RunResult) -> dict[str, str]:
    """The cells of ``report``'s row, by column name."""
    unit = report.unit
    mem, source = report.peak_mem_mib, report.peak_mem_source or ""  # "allocator", "rss"
    no_energy = f"{NA}: {report.energy_note or 'no energy reading'}"
    return {
        "workload": report.workload,
        "device": report.device
        + (" (stopped)" if report.stopped_early else "")
        + shared_mark(report.shared, report.shared_pct),
        "params": params_text(report.params),
        "dtype": (run_precision(report) or NA) + (" emulated" if report.emulated else ""),
        "throughput": rate_cell(report.throughput, unit),
        "TFLOP/s": _cell(report.tflops, "{:.3g}"),
        "avg W": watts_cell(report.avg_power_w),
        "energy J": _cell(report.energy_j, "{:.1f}"),
        "work/J": rate_cell(report.work_per_joule, unit, "J"),
        "% peak": percent_cell(report.pct_of_peak),
        "energy source": source_cell(report.energy_source) if report.energy_source else no_energy,
        "peak mem": NA if mem is None else f"{mem:,.0f} MiB {source}".strip(),
    }
