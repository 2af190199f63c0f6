"""The files a report is built from, read and told apart by their content: ``bench --json``
results, ``bench --sweep --json`` sweeps, and ``record`` CSV or JSON-lines recordings."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpuscope.measurement.run_report import comparable_key


class ReportInputError(Exception):
    """A file that cannot go into a report; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class BenchResults:
    path: Path
    reports: tuple[dict[str, Any], ...]  # RunReport.as_dict() each
    machine: dict[str, Any] | None = None  # where they were measured (host, os, cpu, ...)
    # a suite's planned items, each measured, failed or skipped with why (``gpuscope suite``)
    items: tuple[dict[str, Any], ...] = ()

    def unmeasured(self) -> list[str]:
        """``memory-probe (model=cnn) on cpu: skipped: GPU only``: each item without a result."""
        return [_item_line(i) for i in self.items if i.get("status") != "measured"]

    def cut_short(self) -> list[str]:
        """Each item measured for less than planned: the budget ran out first."""
        return [_item_line(i) for i in self.items if i.get("cut_short")]

    def groups(self) -> list[list[dict[str, Any]]]:
        """The runs of one workload and parameters together (a --compare's devices): the runs
        that may be held against each other, in the order they were run."""
        found: dict[str, list[dict[str, Any]]] = {}
        for report in self.reports:
            params, chosen = report.get("params") or {}, report.get("chosen") or {}
            key = comparable_key(report["workload"], params, chosen)
            found.setdefault(key, []).append(report)
        return list(found.values())


@dataclass(frozen=True, slots=True)
class SweepResults:
    path: Path
    workload: str
    param: str
    values: tuple[Any, ...]
    points: tuple[dict[str, Any], ...]  # SweepPoint.as_dict() each
    machine: dict[str, Any] | None = None
    finished: bool = True  # False: saved while the sweep ran, points still to come


@dataclass(frozen=True, slots=True)
class Recording:
    path: Path
    rows: tuple[dict[str, Any], ...]  # numbers as floats, empty cells as None, "time_s" added

    def devices(self) -> list[str]:
        return list(dict.fromkeys(str(r["device"]) for r in self.rows))


Input = BenchResults | SweepResults | Recording


def simulated(report: dict[str, Any] | None) -> bool:
    """A result from a simulated GPU (``--demo``): its run's facts say so, and so must every
    table row, chart and sentence made from it."""
    return bool(report and (report.get("facts") or {}).get("simulated"))


def load_inputs(paths: Iterable[Path]) -> list[Input]:
    return [load_input(path) for path in paths]


def load_input(path: Path) -> Input:
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ReportInputError(f"{path}: not a gpuscope file (not text)") from None
    except OSError as exc:
        raise ReportInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    stripped = text.lstrip()
    if stripped.startswith("{") and _is_jsonl(stripped):
        return _recording(path, [_json_line(path, n, line) for n, line in _lines(stripped)])
    if stripped.startswith("{"):
        return _json_results(path, stripped)
    if stripped.startswith("timestamp,"):
        return _recording(path, list(csv.DictReader(stripped.splitlines())))
    raise ReportInputError(
        f"{path}: not a gpuscope file (bench --json, bench --sweep --json, or a record CSV/JSONL)"
    )


def _is_jsonl(text: str) -> bool:
    """A recording's JSON lines: the first line is a whole object with a timestamp and a device
    (bench's JSON is indented over many lines, so its first line is not)."""
    first = text.split("\n", 1)[0].strip()
    try:
        record = json.loads(first)
    except ValueError:
        return False
    return isinstance(record, dict) and "timestamp" in record and "device" in record


def _lines(text: str) -> list[tuple[int, str]]:
    return [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _json_line(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError:
        raise ReportInputError(f"{path}:{number}: not a JSON line") from None
    if not isinstance(record, dict):
        raise ReportInputError(f"{path}:{number}: not a JSON object")
    return record


def _json_results(path: Path, text: str) -> BenchResults | SweepResults:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportInputError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if isinstance(payload, dict) and isinstance(payload.get("points"), list):
        found = payload.get("sweep")
        sweep: dict[str, Any] = found if isinstance(found, dict) else {}
        param = sweep.get("param")
        if not isinstance(param, str) or not isinstance(sweep.get("values"), list):
            raise ReportInputError(f"{path}: a sweep without its parameter and values")
        points = tuple(_point(path, n, p, param) for n, p in enumerate(payload["points"], 1))
        return SweepResults(
            path, str(payload.get("workload", "?")), param, tuple(sweep["values"]), points,
            _machine(payload), payload.get("finished") is not False,
        )  # fmt: skip
    if isinstance(payload, dict) and isinstance(payload.get("reports"), list):
        reports = tuple(_report(path, n, r) for n, r in enumerate(payload["reports"], 1))
        items = payload.get("items")
        if items is not None and not (
            isinstance(items, list) and all(isinstance(i, dict) for i in items)
        ):
            raise ReportInputError(f"{path}: items is not a list of objects")
        return BenchResults(path, reports, _machine(payload), tuple(items or ()))
    raise ReportInputError(f"{path}: JSON, but neither bench --json nor bench --sweep --json")


REPORT_TEXT = ("workload", "device", "unit")
REPORT_NUMBERS = ("throughput", "tflops", "energy_j", "avg_power_w", "work_per_joule",
                  "pct_of_peak", "peak_mem_mib", "measured_from_s", "measured_to_s",
                  "shared_pct")  # fmt: skip
REPORT_OPTIONAL_TEXT = ("emulated", "shared", "precision_param", "energy_source", "device_name")


def _report(path: Path, number: int, report: Any) -> dict[str, Any]:
    """A result as bench writes it: names as text, figures as numbers or null."""
    where = f"{path}: report {number}"
    if not isinstance(report, dict):
        raise ReportInputError(f"{where} is not an object")
    for key in REPORT_TEXT:
        if not isinstance(report.get(key), str):
            raise ReportInputError(f"{where} has no {key}")
    for key in REPORT_NUMBERS:
        value = report.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ReportInputError(f"{where}: {key} is not a number: {value!r}")
    for key in REPORT_OPTIONAL_TEXT:
        if report.get(key) is not None and not isinstance(report[key], str):
            raise ReportInputError(f"{where}: {key} is not text: {report[key]!r}")
    for key in ("params", "chosen", "facts"):
        if report.get(key) is not None and not isinstance(report[key], dict):
            raise ReportInputError(f"{where}: {key} is not an object")
    return report


def _point(path: Path, number: int, point: Any, param: str) -> dict[str, Any]:
    where = f"{path}: point {number}"
    if not isinstance(point, dict):
        raise ReportInputError(f"{where} is not an object")
    for key in ("device", "status", param):
        if key not in point:
            raise ReportInputError(f"{where} has no {key}")
    if point.get("report") is not None:
        _report(path, number, point["report"])
    return point


def _item_line(item: dict[str, Any]) -> str:
    return (
        f"{item.get('workload')} ({_words(item.get('asked'))}) on {item.get('device')}: "
        f"{item.get('status')}: {item.get('why')}"
    )


def _words(params: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) if isinstance(params, dict) else ""


def _machine(payload: dict[str, Any]) -> dict[str, Any] | None:
    machine = payload.get("machine")
    return machine if isinstance(machine, dict) else None


def _recording(path: Path, rows: list[dict[str, Any]]) -> Recording:
    parsed = []
    for number, row in enumerate(rows, 2):
        if "timestamp" not in row or "device" not in row:
            raise ReportInputError(f"{path}: row {number} has no timestamp or device")
        try:
            when = dt.datetime.fromisoformat(str(row["timestamp"])).timestamp()
        except ValueError:
            bad = row["timestamp"]
            raise ReportInputError(f"{path}: row {number}: bad timestamp {bad!r}") from None
        parsed.append({**{k: _number(v) for k, v in row.items()}, "time_s": when})
    if not parsed:
        raise ReportInputError(f"{path}: a recording with no rows")
    return Recording(path, tuple(parsed))


def _number(value: Any) -> Any:
    """CSV cells as JSON lines hold them: numbers as floats, an empty cell as None."""
    if value == "" or value is None:
        return None
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value
