"""What a GPU check found, and its two renderings: ``gpu-check.json`` and ``gpu-check.md``.

Every number is a ``Figure`` with its unit, so the JSON can be read without this code and the
Markdown never shows a bare number. A section that failed or was skipped carries no figure it did
not measure: only its status and the reason.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Status(enum.Enum):
    OK = "ok"  # ran; its figures are measured
    FAILED = "failed"  # raised, timed out, or a command it ran failed
    UNSUPPORTED = "unsupported"  # this machine cannot do it (no nvitop wheel, no fp8, ...)
    SKIPPED = "skipped"  # not run: the time budget would not fit it, or not asked for


@dataclass(frozen=True, slots=True)
class Figure:
    value: float | int | str | None  # None: not measured (said why in ``note``)
    unit: str = ""
    note: str = ""  # e.g. the reference it is compared with, or "target >= 97 %: met"


@dataclass
class SectionResult:
    name: str
    title: str
    status: Status = Status.OK
    seconds: float = 0.0
    summary: str = ""  # one line: the verdict a reader looks for first
    figures: dict[str, Figure] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)  # captures, command output excerpts
    error: str = ""  # why it failed / is unsupported / was skipped

    def figure(
        self, key: str, value: float | int | str | None, unit: str = "", note: str = ""
    ) -> None:
        self.figures[key] = Figure(value, unit, note)


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


@dataclass
class CheckReport:
    date: str
    machine: dict[str, Any]  # GPU name, driver, CUDA, torch, NVML, host CPU, command line
    budget_s: float
    sections: list[SectionResult] = field(default_factory=list)
    elapsed_s: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "date": self.date,
            "machine": self.machine,
            "budget_s": self.budget_s,
            "elapsed_s": round(self.elapsed_s, 1),
            "sections": [_section_json(s) for s in self.sections],
        }


def _section_json(section: SectionResult) -> dict[str, Any]:
    return {
        "name": section.name,
        "title": section.title,
        "status": section.status.value,
        "seconds": round(section.seconds, 2),
        "summary": section.summary,
        "error": section.error,
        "figures": {
            key: {"value": _finite(f.value), "unit": f.unit, "note": f.note}
            for key, f in section.figures.items()
        },
        "tables": [
            {
                "title": t.title,
                "columns": t.columns,
                "rows": [[_finite(v) for v in r] for r in t.rows],
            }
            for t in section.tables
        ],
        "texts": section.texts,
    }


def _finite(value: Any) -> Any:
    """NaN and infinities are not JSON: they become None (and say so nowhere else)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(report: CheckReport, path: Path) -> None:
    path.write_text(json.dumps(report.as_json(), indent=1, allow_nan=False) + "\n")


def format_value(value: float | int | str | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        text = f"{value:.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    else:
        text = str(value)
    return f"{text} {unit}".rstrip() if unit else text


def render_markdown(report: CheckReport) -> str:
    machine = report.machine
    lines = [
        f"# gpuscope GPU check, {report.date}",
        "",
        "| | |",
        "|---|---|",
        *(f"| {key} | {_cell(value)} |" for key, value in machine.items()),
        f"| time | {report.elapsed_s:.0f} s of a {report.budget_s:.0f} s budget |",
        "",
        "| section | status | s | summary |",
        "|---|---|---|---|",
        *(
            f"| {s.title} | {s.status.value} | {s.seconds:.0f} | {_cell(s.summary or s.error)} |"
            for s in report.sections
        ),
    ]
    for section in report.sections:
        lines += ["", f"## {section.title}: {section.status.value}", ""]
        if section.summary:
            lines += [section.summary, ""]
        if section.error:
            lines += [f"**{section.status.value}**: {section.error}", ""]
        if section.figures:
            lines += ["| figure | value | note |", "|---|---|---|"]
            lines += [
                f"| {key} | {format_value(f.value, f.unit)} | {_cell(f.note)} |"
                for key, f in section.figures.items()
            ]
            lines.append("")
        for table in section.tables:
            lines += [f"**{table.title}**", ""]
            lines += ["| " + " | ".join(table.columns) + " |"]
            lines += ["|" + "---|" * len(table.columns)]
            lines += [
                "| " + " | ".join(_cell(format_value(v)) for v in row) + " |" for row in table.rows
            ]
            lines.append("")
        for name, text in section.texts.items():
            lines += [f"**{name}**", "", "```text", text.rstrip("\n"), "```", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def write_markdown(report: CheckReport, path: Path) -> None:
    path.write_text(render_markdown(report))
