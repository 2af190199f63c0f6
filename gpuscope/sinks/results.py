"""Run results as files: CSV (one row per run, every ``RunResult`` field, empty for unknown,
never 0) and the JSON of ``bench --json`` and ``bench --sweep --json``.

Shared by ``gpuscope bench --csv`` and the TUI's "save results", so both files read the same.
"""

from __future__ import annotations

import csv
import json
import math
import platform
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any, TextIO

from gpuscope.measurement.run_result import RunResult, comparisons, params_text
from gpuscope.measurement.sweep import Sweep, SweepPoint, sweep_comparisons

RESULT_COLUMNS: tuple[str, ...] = tuple(RunResult.__dataclass_fields__)


def result_values(report: RunResult) -> dict[str, Any]:
    """A report's fields as CSV cells take them: params and facts as ``k=v`` words, what was
    chosen per device as ``name: why`` clauses, dropped-fact notes one after another."""
    values = report.as_dict()
    values["params"] = params_text(report.params)
    values["facts"] = params_text(report.facts)
    values["chosen"] = "; ".join(f"{k}: {v}" for k, v in report.chosen.items())
    values["notes"] = "; ".join(report.notes)
    return values


def write_results_csv(reports: Iterable[RunResult], stream: TextIO) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(RESULT_COLUMNS)
    for report in reports:
        values = result_values(report)
        writer.writerow(["" if values[n] is None else values[n] for n in RESULT_COLUMNS])


def machine_facts() -> dict[str, str]:
    """Where the figures were measured: a report names the machine with them."""
    from gpuscope import __version__
    from gpuscope.telemetry.cpu import cpu_model_name

    return {
        "host": platform.node(),
        "os": platform.platform(terse=True),
        "cpu": cpu_model_name(),
        "python": platform.python_version(),
        "gpuscope": __version__,
    }


def results_json(reports: list[RunResult]) -> str:
    """What ``bench --json`` prints, and what ``gpuscope report`` reads."""
    payload = {
        "machine": machine_facts(),
        "reports": [r.as_dict() for r in reports],
        "comparisons": [asdict(c) for c in comparisons(reports)],
    }
    return json.dumps(finite(payload), indent=2, allow_nan=False)


def sweep_json(workload: str, sweep: Sweep, points: list[SweepPoint], finished: bool = True) -> str:
    """What ``bench --sweep --json`` prints, and what ``gpuscope report`` reads as a sweep.
    ``finished`` False: saved while it ran (the UI's ``s``), so points are missing, not lost."""
    payload = {
        "machine": machine_facts(),
        "workload": workload,
        "sweep": {"param": sweep.param, "values": list(sweep.values)},
        "finished": finished,
        "points": [p.as_dict(sweep.param) for p in points],
        "comparisons": [
            {sweep.param: value, **asdict(c)} for value, c in sweep_comparisons(sweep, points)
        ],
    }
    return json.dumps(finite(payload), indent=2, allow_nan=False)


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None: JSON has no such numbers. So is an
    integer too long for Python to write (past 4,300 digits): writing a report never raises."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        try:
            str(value)
        except ValueError:
            return None
        return value
    if isinstance(value, dict):
        return {str(key): finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value
