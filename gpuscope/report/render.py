"""The report as one self-contained HTML file (inline CSS, charts as inline SVG, no scripts,
nothing fetched) or as Markdown with PNG charts beside it."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gpuscope.measurement.interval_energy import ChargeBasis
from gpuscope.measurement.peaks import datasheet
from gpuscope.measurement.result_cells import SOURCES, figure_cells, shared_mark
from gpuscope.measurement.run_result import RunResult
from gpuscope.report.charts import Chart
from gpuscope.report.inputs import BenchResults, Input, SweepResults, shown_name, simulated
from gpuscope.report.processes import ProcessesFile
from gpuscope.report.recording import Recording
from gpuscope.units import si_prefix

RESULT_COLUMNS = ("workload", "device", "params", "throughput", "TFLOP/s", "avg W", "work/J",
                  "% peak", "peak mem", "energy source")  # fmt: skip


@dataclass
class Section:
    title: str
    text: list[str] = field(default_factory=list)  # paragraphs
    tables: list[tuple[tuple[str, ...], list[tuple[str, ...]]]] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    chart_note: str | None = None  # why a chart is missing


def _cell(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def result_row(report: RunResult) -> tuple[str, ...]:
    """The report's row: bench's cells (``figure_cells``), the device saying what makes the
    figure other than a fair, real one (emulated precision, shared, simulated)."""
    cells = figure_cells(report)
    cells["device"] = (
        report.device
        + (" (stopped)" if report.stopped_early else "")
        + (" (precision emulated: not a fair figure)" if report.emulated else "")
        + shared_mark(report.shared, report.shared_pct)
        + (" SIMULATED" if simulated(report) else "")
    )
    return tuple(cells[column] for column in RESULT_COLUMNS)


def device_cards(inputs: Sequence[Input]) -> list[tuple[str, ...]]:
    """One row per device seen anywhere: its name, UUID, memory, power limit and datasheet."""
    seen: dict[str, dict[str, Any]] = {}
    for item in inputs:
        if isinstance(item, Recording):
            for track in item.tracks:
                seen.setdefault(track.device, {}).update(track.card)
        elif isinstance(item, ProcessesFile):
            for device in item.devices_named():
                seen.setdefault(device, {})
        else:
            reports = item.results if isinstance(item, BenchResults) else item.results()
            for r in reports:
                card = seen.setdefault(r.telemetry_device or r.device, {})
                if r.device_name:
                    card.setdefault("device_name", r.device_name)
    rows: list[tuple[str, ...]] = []
    for device, card in seen.items():
        peaks, bandwidth = datasheet(card.get("device_name"))
        rows.append((
            device,
            str(card.get("device_name") or "n/a"),
            str(card.get("device_uuid") or "n/a"),
            str(card.get("device_driver") or "n/a"),
            _cell(card.get("mem_total_mib"), "{:,.0f} MiB"),
            _cell(card.get("power_limit_w"), "{:.0f} W"),
            ", ".join(f"{k} {v:,.0f}" for k, v in peaks.items()) or "n/a",
            _cell(bandwidth, "{:,.0f} GB/s"),
        ))  # fmt: skip
    return rows


def machine_rows(inputs: Sequence[Input]) -> list[tuple[str, ...]]:
    """Where the results were measured, one row per machine named in the inputs."""
    seen: list[dict[str, Any]] = []
    for item in inputs:
        machine = getattr(item, "machine", None)
        if machine and machine not in seen:
            seen.append(machine)
    keys = ("host", "os", "cpu", "python", "gpuscope")
    return [tuple(str(m.get(k) or "n/a") for k in keys) for m in seen]


def sweep_rows(sweep: SweepResults) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for p in sweep.ordered_points():
        status = p.status.value + (f": {p.note}" if p.note else "")
        figures = result_row(p.result)[3:] if p.result is not None else ("",) * 7
        device = p.device + (" SIMULATED" if simulated(p.result) else "")
        rows.append((str(p.value), device, status, *figures))
    return rows


PROCESS_COLUMNS = ("device", "pid", "user", "command", "first seen", "last seen", "seen for",
                   "peak GPU mem", "energy", "avg W", "energy source", "energy basis",
                   "charged samples")  # fmt: skip
PROCESS_DEVICE_COLUMNS = ("device", "processes", "charged", "of which measured (sole process)",
                          "of which estimated (SM share)", "never charged",
                          "samples not charged", "why not charged")  # fmt: skip


def energy_text(joules: float | None) -> str:
    """``1.23 MJ``; n/a where there is no figure (never 0)."""
    if joules is None:
        return "n/a"
    scale, prefix = si_prefix(joules)
    return f"{joules / scale:.3g} {prefix}J"


def duration_text(seconds: float) -> str:
    """``2 h 05 min``, ``3 min 20 s``, ``4.5 s``: how long a process was seen."""
    if seconds >= 3600:
        return f"{int(seconds // 3600):,} h {int(seconds % 3600 // 60):02d} min"
    if seconds >= 60:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{seconds:.3g} s"


def process_rows(processes: ProcessesFile) -> list[tuple[str, ...]]:
    """One row per (device, pid, command): what the job cost and how that was found."""
    rows: list[tuple[str, ...]] = []
    for job in processes.jobs:
        rows.append((
            job.device, str(job.pid), job.user or "n/a", job.command or "n/a",
            job.first_stamp, job.last_stamp,
            duration_text(job.seen_s) if job.samples > 1 else "one sample",
            _cell(job.peak_mem_mib, "{:,.0f} MiB"), energy_text(job.energy_j),
            _cell(job.avg_power_w, "{:,.1f} W"), job.energy_source or "n/a", job.basis_text(),
            f"{job.charged_samples:,} of {job.samples:,}",
        ))  # fmt: skip
    return rows


def process_device_rows(processes: ProcessesFile) -> list[tuple[str, ...]]:
    """Per device: what its processes were charged, by basis, and the samples not charged."""
    rows: list[tuple[str, ...]] = []
    for totals in processes.devices:
        jobs = processes.jobs_on(totals.device)
        charged = [j for j in jobs if j.energy_j is not None]
        sole = [j.energy_j or 0.0 for j in charged if j.bases == [ChargeBasis.SOLE.value]]
        why = [f"{reason} ({count:,})" for reason, count in totals.why.items()]
        if totals.other_why_rows:
            why.append(f"other reasons ({totals.other_why_rows:,})")
        total = sum(j.energy_j or 0.0 for j in charged)
        estimated = len(charged) - len(sole)  # by SM share, in part or whole
        rows.append((
            totals.device, f"{len(jobs):,}",
            energy_text(total) if charged else "n/a: none charged",
            energy_text(sum(sole)) if sole else "none",
            energy_text(total - sum(sole)) if estimated else "none",
            f"{len(jobs) - len(charged):,}", f"{totals.uncharged_rows:,}",
            "; ".join(why) or "none",
        ))  # fmt: skip
    return rows


LONG_CELL = 40  # characters: a note (an error message) wraps rather than widen the page


def _cell_html(text: str) -> str:
    wrap = ' class="long"' if len(text) > LONG_CELL else ""
    return f"<td{wrap}>{html.escape(text)}</td>"


def render_html(title: str, summary: Sequence[str], sections: Sequence[Section],
                inputs: Sequence[Input]) -> str:  # fmt: skip
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f"<p class=meta>made {e(dt.datetime.now().astimezone().isoformat(timespec='seconds'))}"
        f" by gpuscope report from {', '.join(e(shown_name(i.path)) for i in inputs)}</p>",
        "<h2>Summary</h2>",
        "<ul class=summary>" + "".join(f"<li>{e(line)}</li>" for line in summary) + "</ul>"
        if summary else "<p>No figure in these inputs answers a comparison.</p>",
    ]  # fmt: skip
    for section in sections:
        out.append(f"<section><h2>{e(section.title)}</h2>")
        out += [f"<p>{e(text)}</p>" for text in section.text]
        for header, rows in section.tables:  # a wide table scrolls within the page
            out.append(
                "<div class=wide><table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in header)
            )
            out.append("</tr></thead><tbody>")
            for row in rows:
                out.append("<tr>" + "".join(_cell_html(c) for c in row) + "</tr>")
            out.append("</tbody></table></div>")
        for chart in section.charts:
            out.append(
                f"<figure class=chart><figcaption>{e(chart.title)}</figcaption>{chart.svg}</figure>"
            )
        if section.chart_note:
            out.append(f"<p class=note>{e(section.chart_note)}</p>")
        out.append("</section>")
    out.append("<h2>Energy sources</h2><ul>")
    out += [f"<li><b>{e(k.value)}</b>: {e(v)}</li>" for k, v in SOURCES.items()]
    out.append("</ul></body></html>")
    return "\n".join(out) + "\n"


_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_[]|"} | {"\n": " ", "\r": " "})


def markdown_text(text: str) -> str:
    """``text`` as Markdown that shows it and does nothing else: markup (``<script>``) as
    entities, emphasis, links and table bars escaped, on one line."""
    return html.escape(text, quote=False).translate(_MARKDOWN)


def render_markdown(
    title: str,
    summary: Sequence[str],
    sections: Sequence[Section],
    inputs: Sequence[Input],
    folder: str,
) -> tuple[str, list[tuple[str, bytes]]]:
    """The Markdown (report.md) and its charts as PNG files, ``(name, bytes)`` each, that it
    links in ``folder`` (``report_files``) beside it; nothing is written here. Every text goes
    through :func:`markdown_text`: a name in a file must not become markup."""
    md = markdown_text
    images: list[tuple[str, bytes]] = []
    names = ", ".join(md(shown_name(i.path)) for i in inputs)
    lines = [f"# {md(title)}", "", f"From {names}.", "", "## Summary", ""]
    lines += [f"- {md(line)}" for line in summary] or [
        "No figure in these inputs answers a comparison."
    ]
    for section in sections:
        lines += ["", f"## {md(section.title)}", ""]
        lines += [*(f"{md(t)}\n" for t in section.text)]
        for header, rows in section.tables:
            lines.append("| " + " | ".join(md(h) for h in header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]
            lines.append("")
        for chart in section.charts:
            name = f"chart-{len(images) + 1}.png"
            images.append((name, chart.png))
            lines += [f"![{md(chart.title)}]({folder}/{name})", ""]
        if section.chart_note:
            lines += [f"_{md(section.chart_note)}_", ""]
    lines += ["", "## Energy sources", ""] + [f"- **{k.value}**: {v}" for k, v in SOURCES.items()]
    return "\n".join(lines) + "\n", images


CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
.meta,.note{color:#666;font-size:.9em}
.wide{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;margin:.8em 0;font-size:.85em}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;white-space:nowrap}
th{background:#f4f4f4}tbody tr:nth-child(even){background:#fafafa}
td:last-child{white-space:normal;min-width:14em}
td.long{white-space:normal;min-width:16em;max-width:32em}
.summary li{margin:.3em 0}
figure.chart{margin:1em 0}figure.chart svg{max-width:100%;height:auto}
figcaption{font-size:.85em;color:#555}
"""
