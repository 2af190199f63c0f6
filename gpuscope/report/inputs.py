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


class ReportInputError(Exception):
    """A file that cannot go into a report; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class BenchResults:
    path: Path
    reports: tuple[dict[str, Any], ...]  # RunReport.as_dict() each
    machine: dict[str, Any] | None = None  # where they were measured (host, os, cpu, ...)


@dataclass(frozen=True, slots=True)
class SweepResults:
    path: Path
    workload: str
    param: str
    values: tuple[Any, ...]
    points: tuple[dict[str, Any], ...]  # SweepPoint.as_dict() each
    machine: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Recording:
    path: Path
    rows: tuple[dict[str, Any], ...]  # numbers as floats, empty cells as None, "time_s" added

    def devices(self) -> list[str]:
        return list(dict.fromkeys(str(r["device"]) for r in self.rows))


Input = BenchResults | SweepResults | Recording


def load_inputs(paths: Iterable[Path]) -> list[Input]:
    return [load_input(path) for path in paths]


def load_input(path: Path) -> Input:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ReportInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    stripped = text.lstrip()
    if stripped.startswith("{") and not _is_jsonl(stripped):
        return _json_results(path, stripped)
    if stripped.startswith("{"):
        return _recording(path, [_json_line(path, n, line) for n, line in _lines(stripped)])
    if stripped.startswith("timestamp,"):
        return _recording(path, list(csv.DictReader(stripped.splitlines())))
    raise ReportInputError(
        f"{path}: not a gpuscope file (bench --json, bench --sweep --json, or a record CSV/JSONL)"
    )


def _is_jsonl(text: str) -> bool:
    first = text.split("\n", 1)[0].strip()
    try:
        json.loads(first)
    except ValueError:
        return False
    return "\n" in text.strip()


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
        sweep = payload.get("sweep") or {}
        return SweepResults(
            path,
            str(payload.get("workload", "?")),
            str(sweep.get("param", "?")),
            tuple(sweep.get("values", ())),
            tuple(p for p in payload["points"] if isinstance(p, dict)),
            _machine(payload),
        )
    if isinstance(payload, dict) and isinstance(payload.get("reports"), list):
        reports = tuple(r for r in payload["reports"] if isinstance(r, dict))
        return BenchResults(path, reports, _machine(payload))
    raise ReportInputError(f"{path}: JSON, but neither bench --json nor bench --sweep --json")


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
