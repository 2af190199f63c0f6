"""The files a report is built from, read and told apart by their content: ``bench --json``
results, ``bench --sweep --json`` sweeps, ``record`` CSV or JSON-lines recordings and their
``--processes`` files (``report.processes``); or the
same results and sweeps already in memory (``bench_results``, ``sweep_results``: the UI's save).

Every input is bounded (``bounded_read``: size, time; ``JSON_MAX_BYTES`` for a results file, which
is read whole) and checked before the report sees it: text made printable and one line, figures
that cannot be real (NaN, infinite, negative, past ``FIGURE_MAX``) shown as n/a with a note, and
any other shape refused in one line.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gpuscope.bounded_read import InputLimit, open_input, size_text
from gpuscope.measurement.run_result import FIGURE_FIELDS, RunResult, group_results
from gpuscope.measurement.sweep import PointStatus, Sweep, SweepPoint
from gpuscope.report.processes import (
    ProcessesFile,
    header_is_processes,
    line_is_processes,
    read_processes,
)
from gpuscope.report.recording import (
    FIGURE_MAX,
    Recording,
    RecordingError,
    first_line_is_a_sample,
    read_recording,
)
from gpuscope.safe_text import field_text

INPUT_MAX_BYTES = 2 * 1024**3  # a recording is streamed: about ten days at 10 Hz of two devices
# A results file is read whole: json.loads makes an object of every value (an empty {} costs
# 64 bytes for 3 in the file), so the bytes and the values are capped (docs/benchmarks.md,
# "reports at scale": the RSS of the largest file each cap lets through). bench --json of
# 20,000 runs is 18 MB and about 700,000 values.
JSON_MAX_BYTES = 24 * 1024**2
JSON_VALUES_MAX = 1_000_000  # counted as the commas, [ and { in the text (an upper bound)
DEPTH_MAX = 32  # levels of nesting; bench's own files use four
SNIFF_CHARS = 64 * 1024  # the first line looked at to tell a file's kind
NOTES_MAX = 5  # impossible figures named one by one; the rest counted


class ReportInputError(Exception):
    """A file that cannot go into a report; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class BenchResults:
    path: Path  # the file read, or the one the results in memory were saved to
    results: tuple[RunResult, ...]
    machine: dict[str, Any] | None = None  # where they were measured (host, os, cpu, ...)
    # a suite's planned items, each measured, failed or skipped with why (``gpuscope suite``)
    items: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()  # figures that cannot be real, shown as n/a

    def unmeasured(self) -> list[str]:
        """``memory-probe (model=cnn) on cpu: skipped: GPU only``: each item without a result."""
        return [_item_line(i) for i in self.items if i.get("status") != "measured"]

    def cut_short(self) -> list[str]:
        """Each item measured for less than planned: the budget ran out first."""
        return [_item_line(i) for i in self.items if i.get("cut_short")]

    def groups(self) -> list[list[RunResult]]:
        """The runs of one workload and parameters together (a --compare's devices): the runs
        that may be held against each other, in the order they were run."""
        return group_results(self.results)


@dataclass(frozen=True, slots=True)
class SweepResults:
    path: Path
    workload: str
    param: str
    values: tuple[Any, ...]
    points: tuple[SweepPoint, ...]
    machine: dict[str, Any] | None = None
    finished: bool = True  # False: saved while the sweep ran, points still to come
    notes: tuple[str, ...] = ()

    def ordered_values(self) -> list[Any]:
        """The swept values smallest first (a sweep file lists them as asked)."""
        found = [*self.values, *(p.value for p in self.points)]
        return sorted(dict.fromkeys(found), key=value_order)

    def ordered_points(self) -> list[SweepPoint]:
        """The points by swept value, then device (the file holds them as they finished)."""
        devices = {d: n for n, d in enumerate(dict.fromkeys(p.device for p in self.points))}
        return sorted(self.points, key=lambda p: (value_order(p.value), devices[p.device]))

    def devices(self) -> list[str]:
        """The devices in the order they first appear."""
        return list(dict.fromkeys(p.device for p in self.points))

    def results(self) -> list[RunResult]:
        """The measured points' reports, in the file's order."""
        return [p.result for p in self.points if p.result is not None]


def value_order(value: Any) -> tuple[int, float, str]:
    """Numbers by size before words by spelling: a sort key for any swept value."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def shown_name(path: Path) -> str:
    """A file's name as a report shows it: printable, one line; stdin for ``-``."""
    return "stdin" if str(path) == "-" else field_text(path.name or str(path))


Input = BenchResults | SweepResults | Recording | ProcessesFile


def simulated(report: RunResult | None) -> bool:
    """A result from a simulated GPU (``--demo``): its run's facts say so, and so must every
    table row, chart and sentence made from it."""
    return bool(report is not None and report.facts.get("simulated"))


def bench_results(
    path: Path, reports: Sequence[RunResult], machine: dict[str, Any] | None = None
) -> BenchResults:
    """Results already in memory as the report reads them from ``bench --json``: ``path``
    names them (the file they were saved to); figures that cannot be real are n/a, noted."""
    notes = _Notes()
    held = tuple(_bounded(f"report {n}", r, notes) for n, r in enumerate(reports, 1))
    return BenchResults(path, held, machine, notes=notes.lines())


def sweep_results(
    path: Path,
    workload: str,
    sweep: Sweep,
    points: Sequence[SweepPoint],
    machine: dict[str, Any] | None = None,
    finished: bool = True,
) -> SweepResults:
    """A sweep already in memory as the report reads it from ``bench --sweep --json``;
    ``finished`` False: saved while it ran, points still to come."""
    notes = _Notes()
    held = tuple(
        replace(p, result=_bounded(f"point {n}", p.result, notes)) if p.result is not None else p
        for n, p in enumerate(points, 1)
    )
    return SweepResults(
        path, workload, sweep.param, sweep.values, held, machine, finished, notes.lines()
    )


def load_inputs(paths: Iterable[Path]) -> list[Input]:
    return [load_input(path) for path in paths]


def load_input(path: Path) -> Input:
    try:
        stream, size = open_input(path, INPUT_MAX_BYTES)
    except InputLimit as exc:
        raise ReportInputError(str(exc)) from None
    except OSError as exc:
        raise ReportInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    with stream:
        try:
            return _parse(path, stream, size)
        except UnicodeDecodeError:
            raise ReportInputError(f"{path}: not a gpuscope file (not text)") from None
        except (InputLimit, RecordingError) as exc:
            raise ReportInputError(str(exc)) from None
        except OSError as exc:
            raise ReportInputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _parse(path: Path, stream: Any, size: int | None) -> Input:
    # utf-8-sig: a byte-order mark (Windows editors write one) is not part of the text
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    first = text.readline(SNIFF_CHARS)
    while first and not first.strip() and len(first) < SNIFF_CHARS:  # leading blank lines
        first = text.readline(SNIFF_CHARS)
    stripped = first.lstrip()
    if stripped.startswith("{") and first_line_is_a_sample(first):
        if line_is_processes(first):
            return read_processes(path, first, text, jsonl=True)
        return read_recording(path, first, text, jsonl=True)
    if stripped.startswith("timestamp,"):
        if header_is_processes(next(csv.reader([stripped]), [])):
            return read_processes(path, stripped, text, jsonl=False)
        return read_recording(path, first.lstrip(), text, jsonl=False)
    if stripped.startswith("{"):
        if size is not None and size > JSON_MAX_BYTES:
            raise ReportInputError(_too_large(path))
        body = first + text.read(JSON_MAX_BYTES + 1 - len(first))
        if len(body) > JSON_MAX_BYTES:
            raise ReportInputError(_too_large(path))
        if body.count(",") + body.count("[") + body.count("{") > JSON_VALUES_MAX:
            raise ReportInputError(
                f"{path}: a results file of more than {JSON_VALUES_MAX:,} values (it is read whole)"
            )
        parsed = _json_parsed(path, body)
        del body  # its memory back before the values are cleaned (in place)
        return _json_results(path, parsed)
    raise ReportInputError(
        f"{path}: not a gpuscope file (bench --json, bench --sweep --json, or a record "
        "CSV/JSONL or its --processes file)"
    )


def _too_large(path: Path) -> str:
    return f"{path}: a results file larger than {size_text(JSON_MAX_BYTES)} (it is read whole)"


def _clean(value: Any, path: Path, depth: int = 0) -> Any:
    """``value`` from a JSON file with every text printable, one line and bounded, and nothing
    nested deeper than ``DEPTH_MAX`` or an integer too long to be a figure. Lists and objects
    are cleaned in place: a copy would double what the file costs."""
    if isinstance(value, str):
        return field_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        if abs(value) >= FIGURE_MAX:
            raise ReportInputError(f"{path}: a number too large to be a figure")
        return value
    if depth >= DEPTH_MAX:
        raise ReportInputError(f"{path}: nested deeper than {DEPTH_MAX} levels")
    if isinstance(value, list):
        for n, item in enumerate(value):
            value[n] = _clean(item, path, depth + 1)
        return value
    if any(field_text(key) is not key for key in value):  # a key to clean: a new object
        return {field_text(k): _clean(v, path, depth + 1) for k, v in value.items()}
    for key, item in value.items():  # the same keys: no object grows or shrinks
        value[key] = _clean(item, path, depth + 1)
    return value


def _json_parsed(path: Path, text: str) -> Any:
    """``text`` parsed; ReportInputError in one line for what is not JSON or could not be."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportInputError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except RecursionError:
        raise ReportInputError(f"{path}: nested deeper than {DEPTH_MAX} levels") from None
    except ValueError:  # an integer past Python's 4,300 digits
        raise ReportInputError(f"{path}: a number too long to be a figure") from None


def _json_results(path: Path, parsed: Any) -> BenchResults | SweepResults:
    payload = _clean(parsed, path)
    notes = _Notes()
    if isinstance(payload, dict) and isinstance(payload.get("points"), list):
        found = payload.get("sweep")
        sweep: dict[str, Any] = found if isinstance(found, dict) else {}
        param, values = sweep.get("param"), sweep.get("values")
        if not isinstance(param, str) or not isinstance(values, list):
            raise ReportInputError(f"{path}: a sweep without its parameter and values")
        if not all(_scalar(v) for v in values):
            raise ReportInputError(f"{path}: a swept value is not a number or a word")
        points = tuple(_point(path, n, p, param, notes) for n, p in enumerate(payload["points"], 1))
        workload = payload.get("workload")
        return SweepResults(
            path, workload if isinstance(workload, str) else "?", param, tuple(values), points,
            _machine(payload), payload.get("finished") is not False, notes.lines(),
        )  # fmt: skip
    if isinstance(payload, dict) and isinstance(payload.get("reports"), list):
        reports = tuple(
            _report(path, f"report {n}", r, notes) for n, r in enumerate(payload["reports"], 1)
        )
        items = payload.get("items")
        if items is not None and not (
            isinstance(items, list) and all(isinstance(i, dict) for i in items)
        ):
            raise ReportInputError(f"{path}: items is not a list of objects")
        return BenchResults(path, reports, _machine(payload), tuple(items or ()), notes.lines())
    raise ReportInputError(f"{path}: JSON, but neither bench --json nor bench --sweep --json")


class _Notes:
    """What was shown as n/a and why: the first few named, the rest counted."""

    def __init__(self) -> None:
        self.named: list[str] = []
        self.more = 0

    def add(self, line: str) -> None:
        if len(self.named) < NOTES_MAX:
            self.named.append(line)
        else:
            self.more += 1

    def lines(self) -> tuple[str, ...]:
        more = [f"and {self.more:,} more figures that cannot be real, shown as n/a."]
        return tuple(self.named + more * bool(self.more))


def _report(path: Path, where: str, report: Any, notes: _Notes) -> RunResult:
    """A result as bench writes it (``RunResult.from_dict``: names as text, figures as numbers
    or null). A figure that cannot be real becomes None (n/a), with a note."""
    if not isinstance(report, dict):
        raise ReportInputError(f"{path}: {where} is not an object")
    try:
        return _bounded(where, RunResult.from_dict(report), notes)
    except ValueError as exc:
        raise ReportInputError(f"{path}: {where}: {exc}") from None


def _bounded(where: str, report: RunResult, notes: _Notes) -> RunResult:
    """``report`` with each figure that cannot be real (NaN, infinite, negative, past
    ``FIGURE_MAX``) as None, each named in ``notes``."""
    impossible: dict[str, Any] = {}
    for key in FIGURE_FIELDS:
        value = getattr(report, key)
        if value is not None and not (math.isfinite(value) and 0 <= value < FIGURE_MAX):
            notes.add(f"{where} ({report.device}): {key} {value:.3g} cannot be real: n/a.")
            impossible[key] = None
    return replace(report, **impossible) if impossible else report


def _scalar(value: Any) -> bool:
    """A swept value: a word, or a number a chart's axis can hold."""
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) < FIGURE_MAX
    return value is None or isinstance(value, str | int)


def _point(path: Path, number: int, point: Any, param: str, notes: _Notes) -> SweepPoint:
    """A point as ``SweepPoint.as_dict`` writes it: device, swept value, status, note, report."""
    where = f"point {number}"
    if not isinstance(point, dict):
        raise ReportInputError(f"{path}: {where} is not an object")
    for key in ("device", "status", param):
        if key not in point:
            raise ReportInputError(f"{path}: {where} has no {key}")
    for key in ("device", "status"):
        if not isinstance(point[key], str):
            raise ReportInputError(f"{path}: {where}: {key} is not text")
    if not _scalar(point[param]):
        raise ReportInputError(f"{path}: {where}: {param} is not a number or a word")
    if point.get("note") is not None and not isinstance(point["note"], str):
        raise ReportInputError(f"{path}: {where}: note is not text")
    try:
        status = PointStatus(point["status"])
    except ValueError:
        known = ", ".join(s.value for s in PointStatus)
        raise ReportInputError(
            f"{path}: {where}: status is not one of {known}: {point['status']!r:.40}"
        ) from None
    report = point.get("report")
    measured = _report(path, where, report, notes) if report is not None else None
    return SweepPoint(point["device"], point[param], status, measured, point.get("note"))


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
