"""What ``gpuscope bench`` prints: the results table (or JSON / CSV), the device comparisons, and
``--list``. JSON never holds NaN or Infinity: what is not known is ``null``.

Texts from a plugin were made printable where they entered (the registry, the runner); every
line printed here goes through ``safe_text`` once more, the last guard before a terminal."""

from __future__ import annotations

import csv
import io
import sys
from typing import Any

from gpuscope.measurement.measured_run import MeasuredRun
from gpuscope.measurement.result_cells import figure_cells, shared_mark
from gpuscope.measurement.run_errors import line_end
from gpuscope.measurement.run_result import RunResult, comparisons
from gpuscope.measurement.sweep import Sweep, SweepPoint, sweep_comparisons
from gpuscope.safe_text import ONE_LINE_MAX, one_line, printable
from gpuscope.sinks.results import (
    RESULT_COLUMNS,
    result_values,
    results_json,
    sweep_json,
    write_results_csv,
)
from gpuscope.workloads.events import ErrorKind
from gpuscope.workloads.facts import FACT_KEY_MAX, bounded_notes, value_text
from gpuscope.workloads.registry import Catalog

QUIET_KINDS = (ErrorKind.USAGE, ErrorKind.HUNG, ErrorKind.STOPPED)  # a traceback says nothing more
LAST_LINE_MAX = 200  # characters of each line a failed workload printed, as quoted

TABLE_COLUMNS = (
    "workload", "device", "params", "throughput", "TFLOP/s", "avg W", "energy J", "work/J",
    "% peak", "energy source",
)  # fmt: skip


def _table(reports: list[RunResult]) -> str:
    """The same figures as the UI's results table, one row per run."""
    rows = [
        tuple(figure_cells(r)[column].expandtabs() for column in TABLE_COLUMNS) for r in reports
    ]
    return _rows_table(TABLE_COLUMNS, rows)


def print_results(reports: list[RunResult], output_format: str) -> None:
    compared = comparisons(reports)
    if output_format == "json":
        print(results_json(reports))
    elif output_format == "csv":
        write_results_csv(reports, sys.stdout)
    elif reports:
        print(_table(reports))
        for r in reports:
            if r.facts:
                print(one_line(f"{r.workload} on {r.device}: {_facts_text(r.facts)}", 2000))
            if r.shared:
                print(one_line(f"{r.workload} on {r.device}: {r.shared}", 2000))
        for c in compared:
            print(one_line(c.line(), 2000))
    for r in reports:
        for note in bounded_notes(r.notes):
            said = f"gpuscope bench: note: {r.workload} on {r.device}: {note}"
            print(one_line(said, 2 * ONE_LINE_MAX), file=sys.stderr)


def _facts_text(facts: dict[str, Any]) -> str:
    """``batch=64, params=25557032``: each fact printable and short."""
    return ", ".join(f"{one_line(str(k), FACT_KEY_MAX)}={value_text(v)}" for k, v in facts.items())


SWEEP_COLUMNS = (
    "device", "status", "throughput", "TFLOP/s", "avg W", "work/J", "% peak", "peak mem",
    "energy source",
)  # fmt: skip


def print_sweep(workload: str, sweep: Sweep, points: list[SweepPoint], output_format: str) -> None:
    """One row per device and value; then, per value, each device against the first one."""
    if output_format == "json":
        print(sweep_json(workload, sweep, points))
        return
    if output_format == "csv":
        write_sweep_csv(sweep, points, sys.stdout)
        return
    rows = []
    no_energy: dict[str, str] = {}  # device -> why: said once under the table, not per row
    for point in points:
        cells = figure_cells(point.result) if point.result is not None else {}
        status = point.status.value + (f": {point.note}" if point.note else "")
        row = {column: cells.get(column, "") for column in SWEEP_COLUMNS}
        report = point.result  # stopped or not, the status says; shared, the device
        mark = shared_mark(report.shared, report.shared_pct) if report is not None else ""
        row.update(status=status, device=point.device + mark)
        if row["energy source"].startswith("n/a: "):  # a point with another reason keeps it
            why = row["energy source"].removeprefix("n/a: ")
            if no_energy.setdefault(point.device, why) == why:
                row["energy source"] = "n/a (below)"
        rows.append((str(point.value), row))
    print(
        one_line(f"{workload}: {sweep.param} swept over {', '.join(map(str, sweep.values))}", 2000)
    )
    print(_rows_table((sweep.param, *SWEEP_COLUMNS), [(v, *r.values()) for v, r in rows]))
    for device, why in no_energy.items():
        print(one_line(f"no energy on {device}: {why}", 2000))
    for value, c in sweep_comparisons(sweep, points):
        print(one_line(f"{sweep.param}={value}: {c.line()}", 2000))


def write_sweep_csv(sweep: Sweep, points: list[SweepPoint], stream: Any) -> None:
    """Every point, measured or not: the swept value and status first, then every report
    field (empty where the point has no report)."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(
        ("sweep_param", "sweep_value", "sweep_device", "status", "note", *RESULT_COLUMNS)
    )
    for point in points:
        values = result_values(point.result) if point.result is not None else {}
        writer.writerow(
            (sweep.param, point.value, point.device, point.status.value, point.note or "",
             *("" if values.get(n) is None else values[n] for n in RESULT_COLUMNS))
        )  # fmt: skip


def _rows_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Aligned plain text by rich (no borders, no colour, never wrapped), two spaces between
    columns; cells are plain text, never markup (a plugin's name or unit)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 1), header_style="")
    for column in header:
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(*(Text(one_line(cell, 500)) for cell in row))
    buffer = io.StringIO()
    Console(file=buffer, width=10_000, color_system=None, highlight=False).print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def describe_catalog(catalog: Catalog) -> str:
    """``gpuscope bench --list``: each workload with its devices, unit and parameters."""
    rows: list[tuple[str, ...]] = []  # a first column, then parts shown two spaces apart
    for name, workload in sorted(catalog.workloads.items()):
        ref = workload.ref
        origin = ref.origin if ref.file is None else f"{ref.origin} {ref.file}"
        rows.append((name, workload.description, f"[{origin}]"))
        rows.append(("", f"devices: {', '.join(workload.devices)}; unit: {workload.unit}"))
        for p in workload.params:
            choices = f" (one of {', '.join(str(c) for c in p.choices)})" if p.choices else ""
            if p.precision:
                choices = choices.replace(")", ", or best)")
            bounds = _bounds(p.minimum, p.maximum)
            default = f"{p.default!r}" + "".join(
                f", {value!r} on {kind}" for kind, value in p.device_defaults.items()
            )
            native = "; where the device emulates it, its fastest native one" if p.precision else ""
            rows.append(("", f"--{p.name} {default}{native}{choices}{bounds}", p.help))
    for broken in catalog.broken:
        rows.append(("broken", f"{broken.where}: {broken.reason}"))
    for shadowed in catalog.shadowed:
        rows.append(("shadowed", shadowed.describe()))
    # the first column is ours (a name is an ASCII identifier); each part is one printable line
    return "\n".join(
        f"{column:<14}" + "  ".join(filter(None, (one_line(part, 1000) for part in parts)))
        for column, *parts in rows
    )


def _bounds(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" ({minimum:g} to {maximum:g})"
    if minimum is not None:
        return f" (>= {minimum:g})"
    return f" (<= {maximum:g})" if maximum is not None else ""


def failure_details(run: MeasuredRun, debug: bool) -> list[str]:
    """The last lines the workload printed and, with --debug, its traceback (indented)."""
    assert run.error is not None
    details = []
    printed = [line for line in run.error.last_words.splitlines() if line.strip()]
    if printed and run.error.kind is not ErrorKind.USAGE:
        details.append(f"  last lines {run.workload.name} printed:")
        details.extend(f"  | {line_end(line, LAST_LINE_MAX)}" for line in printed[-5:])
    if debug and run.error.traceback:
        traceback = printable(run.error.traceback).rstrip()
        details.extend(f"  {line}" for line in traceback.splitlines())
    elif run.error.traceback and run.error.kind not in QUIET_KINDS:
        details.append("  (gpuscope --debug bench ... shows the traceback)")
    return details
