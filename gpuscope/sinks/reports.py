"""Run reports as CSV: one row per run, every ``RunReport`` field, empty for unknown (never 0).

Shared by ``gpuscope bench --csv`` and the TUI's "save results", so both files read the same.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, TextIO

from gpuscope.measurement.run_report import RunReport

REPORT_COLUMNS: tuple[str, ...] = tuple(RunReport.__dataclass_fields__)


def report_values(report: RunReport) -> dict[str, Any]:
    """A report's fields as CSV cells take them: params and facts as ``k=v`` words."""
    values = report.as_dict()
    values["params"] = " ".join(f"{k}={v}" for k, v in report.params.items())
    values["facts"] = " ".join(f"{k}={v}" for k, v in report.facts.items())
    return values


def write_reports_csv(reports: Iterable[RunReport], stream: TextIO) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    for report in reports:
        values = report_values(report)
        writer.writerow(["" if values[n] is None else values[n] for n in REPORT_COLUMNS])
