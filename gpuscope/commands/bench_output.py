"""What ``gpuscope bench`` prints: the results table (or JSON / CSV), the device comparisons, and
``--list``. JSON never holds NaN or Infinity: what is not known is ``null``."""

from __future__ import annotations

import io
import json
import math
import sys
from dataclasses import asdict
from typing import Any

from gpuscope.measurement.run_report import Comparison, RunReport, compare, report_cells
from gpuscope.sinks.reports import write_reports_csv
from gpuscope.workloads.registry import Catalog

TABLE_COLUMNS = (
    "workload", "device", "params", "throughput", "TFLOP/s", "avg W", "energy J", "work/J",
    "% peak", "energy source",
)  # fmt: skip


def _table(reports: list[RunReport]) -> str:
    """Aligned plain text by rich (no borders, no colour, never wrapped): the same figures as
    the UI's results table, with two spaces between columns."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 1), header_style="")
    for column in TABLE_COLUMNS:
        table.add_column(column, no_wrap=True)
    for report in reports:
        cells = report_cells(report)
        table.add_row(*(Text(cells[column].expandtabs()) for column in TABLE_COLUMNS))  # plain
    buffer = io.StringIO()
    Console(file=buffer, width=10_000, color_system=None, highlight=False).print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def _comparisons(reports: list[RunReport]) -> list[Comparison]:
    if len(reports) < 2:
        return []
    baseline = reports[0]
    return [compare(baseline, other) for other in reports[1:]]


def print_reports(reports: list[RunReport], output_format: str) -> None:
    comparisons = _comparisons(reports)
    if output_format == "json":
        payload = {
            "reports": [r.as_dict() for r in reports],
            "comparisons": [asdict(c) for c in comparisons],
        }
        print(json.dumps(finite(payload), indent=2, allow_nan=False))
    elif output_format == "csv":
        write_reports_csv(reports, sys.stdout)
    elif reports:
        print(_table(reports))
        for r in reports:
            if r.facts:
                listed = ", ".join(f"{k}={v}" for k, v in r.facts.items())
                print(f"{r.workload} on {r.device}: {listed}")
        for c in comparisons:
            speed = "n/a" if c.speedup is None else f"{c.speedup:.2f}x"
            efficiency = (
                "n/a (needs energy on both)"
                if c.efficiency_ratio is None
                else f"{c.efficiency_ratio:.2f}x{c.estimated_note()}"
            )
            print(f"{c.device} vs {c.baseline}: throughput {speed}, work per joule {efficiency}")
    for r in reports:
        for note in r.notes:
            print(f"gpuscope bench: note: {r.workload} on {r.device}: {note}", file=sys.stderr)


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None: JSON has no such numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


def describe_catalog(catalog: Catalog) -> str:
    """``gpuscope bench --list``: each workload with its devices, unit and parameters."""
    lines = []
    for name, workload in sorted(catalog.workloads.items()):
        ref = workload.ref
        origin = ref.origin if ref.file is None else f"{ref.origin} {ref.file}"
        lines.append(f"{name:<14}{workload.description}  [{origin}]")
        lines.append(f"{'':<14}devices: {', '.join(workload.devices)}; unit: {workload.unit}")
        for p in workload.params:
            choices = f" (one of {', '.join(str(c) for c in p.choices)})" if p.choices else ""
            bounds = _bounds(p.minimum, p.maximum)
            lines.append(f"{'':<14}--{p.name} {p.default!r}{choices}{bounds}  {p.help}".rstrip())
    for broken in catalog.broken:
        lines.append(f"broken        {broken.where}: {broken.reason}")
    for shadowed in catalog.shadowed:
        lines.append(f"shadowed      {shadowed.describe()}")
    return "\n".join(lines)


def _bounds(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" ({minimum:g} to {maximum:g})"
    if minimum is not None:
        return f" (>= {minimum:g})"
    return f" (<= {maximum:g})" if maximum is not None else ""
