"""One report from its inputs: the sections in order, written as HTML or Markdown. Shared by
``gpuscope report``, ``gpuscope suite`` and the UI's save (``s``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gpuscope.report.charts import (
    bench_chart_note,
    bench_charts,
    matplotlib_missing,
    sweep_chart_note,
    sweep_charts,
    timeline_charts,
)
from gpuscope.report.inputs import BenchResults, Input, SweepResults, shown_name
from gpuscope.report.processes import ProcessesFile
from gpuscope.report.recording import Recording
from gpuscope.report.render import (
    PROCESS_COLUMNS,
    PROCESS_DEVICE_COLUMNS,
    RESULT_COLUMNS,
    Section,
    device_cards,
    machine_rows,
    process_device_rows,
    process_rows,
    render_html,
    render_markdown,
    result_row,
    sweep_rows,
)
from gpuscope.report.summary import summary_lines

CARD_COLUMNS = ("device", "name", "UUID", "driver", "memory", "power limit",
                "datasheet TFLOP/s", "memory bandwidth")  # fmt: skip
MACHINE_COLUMNS = ("host", "OS", "CPU", "Python", "gpuscope")


@dataclass(frozen=True, slots=True)
class ReportFiles:
    """A report made, not yet written: its text, and for Markdown the PNG charts it links,
    ``(name, bytes)`` each, in ``folder`` beside it (``report_files`` for ``report.md``)."""

    text: str
    folder: Path | None = None
    images: tuple[tuple[str, bytes], ...] = ()


def images_folder(output: Path) -> Path:
    """Where a Markdown report's charts go: ``report_files/`` beside ``report.md``."""
    return output.with_name(output.stem + "_files")


def render_report(inputs: list[Input], output: Path, output_format: str = "html",
                  title: str = "gpuscope report") -> ReportFiles:  # fmt: skip
    """The report for ``output``, made in memory: nothing is written, so a caller can write it
    whole or not at all. Draws with matplotlib where it is installed (a second or two: never
    on a UI thread)."""
    image = "svg" if output_format == "html" else "png"
    sections = build_sections(inputs, matplotlib_missing(), image)
    summary = summary_lines(inputs)
    if output_format == "html":
        return ReportFiles(render_html(title, summary, sections, inputs))
    folder = images_folder(output)
    text, images = render_markdown(title, summary, sections, inputs, folder.name)
    return ReportFiles(text, folder if images else None, tuple(images))


def build_sections(
    inputs: list[Input], charts_missing: str | None, image: str = "svg"
) -> list[Section]:
    """The report's sections in order; charts drawn as ``image`` (svg or png)."""
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
    windows = [r for i in inputs if isinstance(i, BenchResults) for r in i.results] + [
        r for i in inputs if isinstance(i, SweepResults) for r in i.results()
    ]  # fmt: skip
    for item in inputs:
        if isinstance(item, BenchResults):
            missing, cut = item.unmeasured(), item.cut_short()
            sections.append(Section(
                f"Results: {shown_name(item.path)}",
                text=([f"Not measured ({len(missing)} of {len(item.items)}):", *missing]
                      if missing else [])
                + ([f"Measured for less than planned ({len(cut)}): the budget ran out first; "
                    "their figures rest on fewer steps:", *cut] if cut else [])
                + _impossible(item.notes),
                tables=[(RESULT_COLUMNS, [result_row(r) for r in item.results])],
                charts=bench_charts(item, image) if draw else [],
                chart_note=(charts_missing if len(item.results) > 1 else None) if not draw
                else bench_chart_note(item),
            ))  # fmt: skip
        elif isinstance(item, SweepResults):
            header = (item.param, "device", "status", *RESULT_COLUMNS[3:])
            sections.append(Section(
                f"Sweep: {item.workload} over {item.param} ({shown_name(item.path)})",
                text=([] if item.finished else [_unfinished(item)]) + _impossible(item.notes),
                tables=[(header, sweep_rows(item))],
                charts=sweep_charts(item, image) if draw else [],
                chart_note=sweep_chart_note(item) if draw else charts_missing,
            ))  # fmt: skip
        elif isinstance(item, Recording):
            sections.append(Section(
                f"Recording: {shown_name(item.path)}",
                text=["Shaded: the measured stretch of each bench run in these inputs that "
                      "falls within the recording. Each line is drawn from the lowest and "
                      "highest reading in each of its time slices, so no peak or dip is lost.",
                      *item.notes],
                charts=timeline_charts(item, windows, image) if draw else [],
                chart_note=charts_missing,
            ))  # fmt: skip
        elif isinstance(item, ProcessesFile):
            sections.append(processes_section(item))
    return sections


PROCESSES_TEXT = (
    "One row per process (device, pid, command): the stretch it was seen, its peak GPU memory, "
    "and the energy it was charged of its GPU's measured energy (cumulative: the last charged "
    "figure is the whole charge). Sole process: the GPU's measured energy while it alone held "
    "it. SM share: an estimate from its share of the SMs. Never charged: n/a, with the last "
    "reason the file gives."
)
PROCESSES_CANNOT_SAY = (
    "What this file cannot say: the energy no process was charged (the samples not charged, "
    "and why) is not in it, nor the device's own measured energy: that is in the device "
    "recording (gpuscope record -o), so the processes' charges are part of it, not all."
)


def processes_section(item: ProcessesFile) -> Section:
    """The "GPU processes" section of one ``record --processes`` file."""
    if not item.jobs:
        return Section(
            f"GPU processes: {shown_name(item.path)}",
            text=["No GPU process was seen while this file was recorded.", *item.notes],
        )
    return Section(
        f"GPU processes: {shown_name(item.path)}",
        text=[PROCESSES_TEXT, PROCESSES_CANNOT_SAY, *item.notes],
        tables=[(PROCESS_COLUMNS, process_rows(item)),
                (PROCESS_DEVICE_COLUMNS, process_device_rows(item))],
    )  # fmt: skip


def _impossible(notes: tuple[str, ...]) -> list[str]:
    if not notes:
        return []
    return ["Figures that cannot be real (NaN, infinite, negative or absurdly large), shown "
            "as n/a:", *notes]  # fmt: skip


def _unfinished(sweep: SweepResults) -> str:
    return (
        f"Saved while the sweep ran, with the points so far ({len(sweep.points)}) of "
        f"{len(sweep.values)} values on each device; the rest are not in this file."
    )
