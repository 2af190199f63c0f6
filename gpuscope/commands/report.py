"""``gpuscope report INPUT... -o report.html``: bench, sweep and record files made into one
self-contained document (or Markdown with PNG charts), its summary drawn from the figures."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from gpuscope.errors import CommandFailed, UsageError
from gpuscope.report.charts import (
    bench_charts,
    matplotlib_missing,
    sweep_charts,
    timeline_charts,
)
from gpuscope.report.inputs import (
    BenchResults,
    Input,
    Recording,
    ReportInputError,
    SweepResults,
    load_inputs,
)
from gpuscope.report.render import (
    RESULT_COLUMNS,
    Section,
    device_cards,
    machine_rows,
    render_html,
    render_markdown,
    result_row,
    sweep_rows,
)
from gpuscope.report.summary import summary_lines

FORMATS = ("html", "md")
CARD_COLUMNS = ("device", "name", "UUID", "driver", "memory", "power limit",
                "datasheet TFLOP/s", "memory bandwidth")  # fmt: skip
MACHINE_COLUMNS = ("host", "OS", "CPU", "Python", "gpuscope")


@dataclass(frozen=True, slots=True)
class ReportOptions:
    inputs: tuple[Path, ...]
    output: Path
    output_format: str = "html"
    force: bool = False
    title: str = "gpuscope report"


def run_report(options: ReportOptions) -> int:
    if options.output_format not in FORMATS:
        raise UsageError(f"--format {options.output_format!r}: choose from {', '.join(FORMATS)}")
    if not options.inputs:
        raise UsageError("name at least one input: a bench --json, sweep --json or record file")
    if any(options.output.resolve() == i.resolve() for i in options.inputs):
        raise UsageError(f"{options.output} is one of the inputs: name another output")
    if options.output.exists() and not options.force:  # the machine said no: exit 1, as record
        raise CommandFailed(f"{options.output} exists (--force overwrites it)")
    unique = tuple(dict.fromkeys(path.resolve() for path in options.inputs))
    try:
        inputs = load_inputs(unique)  # a file named twice is read once
    except ReportInputError as exc:
        raise UsageError(str(exc)) from None
    missing = matplotlib_missing()
    if missing is not None:
        print(f"gpuscope report: note: {missing}; the report has tables only", file=sys.stderr)
    sections = build_sections(inputs, missing)
    summary = summary_lines(inputs)
    try:
        if options.output_format == "html":
            options.output.write_text(render_html(options.title, summary, sections, inputs))
        else:
            render_markdown(options.title, summary, sections, inputs, options.output)
    except OSError as exc:
        raise CommandFailed(f"cannot write {options.output}: {exc.strerror or exc}") from None
    return 0


def build_sections(inputs: list[Input], charts_missing: str | None) -> list[Section]:
    draw = charts_missing is None
    machines = machine_rows(inputs)
    sections = [
        Section(
            "Machine and devices",
            text=[] if machines else ["The inputs do not name their machine (older files)."],
            tables=[(MACHINE_COLUMNS, machines)] * bool(machines)
            + [(CARD_COLUMNS, device_cards(inputs))],
        )
    ]
    windows = [r for i in inputs if isinstance(i, BenchResults) for r in i.reports] + [
        p["report"] for i in inputs if isinstance(i, SweepResults) for p in i.points
        if p.get("report")
    ]  # fmt: skip
    for item in inputs:
        if isinstance(item, BenchResults):
            sections.append(Section(
                f"Results: {item.path.name}",
                tables=[(RESULT_COLUMNS, [result_row(r) for r in item.reports])],
                charts=bench_charts(item) if draw else [],
                chart_note=charts_missing if len(item.reports) > 1 else None,
            ))  # fmt: skip
        elif isinstance(item, SweepResults):
            header = (item.param, "device", "status", *RESULT_COLUMNS[3:])
            sections.append(Section(
                f"Sweep: {item.workload} over {item.param} ({item.path.name})",
                tables=[(header, sweep_rows(item))],
                charts=sweep_charts(item) if draw else [],
                chart_note=charts_missing,
            ))  # fmt: skip
        elif isinstance(item, Recording):
            sections.append(Section(
                f"Recording: {item.path.name}",
                text=["Shaded: the measured stretch of each bench run in these inputs that "
                      "falls within the recording."],
                charts=timeline_charts(item, windows) if draw else [],
                chart_note=charts_missing,
            ))  # fmt: skip
    return sections
