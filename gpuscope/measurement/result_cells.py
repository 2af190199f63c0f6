"""A run's figures as the text of its cells, by column: bench's table, the UI's results table
and the HTML/Markdown report pick their columns from ``report_cells``, so a figure reads the
same in all three."""

from __future__ import annotations

from gpuscope.measurement.run_report import RunReport, params_text, run_precision
from gpuscope.units import format_rate


def shared_mark(shared: str | None, share_pct: float | None) -> str:
    """`` (shared 45%)``: others used the device over the run's window; empty when not."""
    if shared is None:
        return ""
    return f" (shared {share_pct:.0f}%)" if share_pct is not None else " (shared)"


def energy_source_text(report: RunReport) -> str:
    """``counter``, ``estimate``...; where there is no energy figure, n/a and why."""
    if report.energy_source is not None:
        return report.energy_source.value
    return f"n/a: {report.energy_note or 'no energy reading'}"


def _cell(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def report_cells(report: RunReport) -> dict[str, str]:
    """The cells of ``report``'s row, by column name."""
    unit = report.unit
    mem, source = report.peak_mem_mib, report.peak_mem_source or ""  # "allocator", "rss"
    return {
        "workload": report.workload,
        "device": report.device
        + (" (stopped)" if report.stopped_early else "")
        + shared_mark(report.shared, report.shared_pct),
        "params": params_text(report.params),
        "dtype": (run_precision(report) or "n/a") + (" emulated" if report.emulated else ""),
        "throughput": "n/a" if report.throughput is None else format_rate(report.throughput, unit),
        "TFLOP/s": _cell(report.tflops, "{:.3g}"),
        "avg W": _cell(report.avg_power_w, "{:.0f}"),
        "energy J": _cell(report.energy_j, "{:.1f}"),
        "work/J": "n/a"
        if report.work_per_joule is None
        else format_rate(report.work_per_joule, unit, "J"),
        "% peak": _cell(report.pct_of_peak, "{:.1f}"),
        "energy source": energy_source_text(report),
        "peak mem": "n/a" if mem is None else f"{mem:,.0f} MiB {source}".strip(),
    }
