"""A ``record --processes`` file (CSV or JSON lines) read as a stream into what each GPU job
cost: one ``Job`` per (device, pid, command) with the stretch it was seen, its peak GPU memory,
the last energy it was charged (``energy_j`` is cumulative since gpuscope first saw it) and on
what basis (``sole process``: its GPU's measured energy; ``sm share``: an estimate; never
charged: why not), and per device what was charged and what the file cannot say.

Bounded as a recording is: lines shorter than ``LINE_MAX``, the first ``JOBS_MAX`` jobs kept and
the rest counted, a few reasons kept per device; a huge file costs time, not memory.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from gpuscope.measurement.interval_energy import ChargeBasis
from gpuscope.report.recording import (
    LEFT_OUT_NAMED_MAX,  # jobs past JOBS_MAX told apart to count them; beyond, "over"
    RecordingError,
    bounded_lines,
    figure,
    impossible_note,
    json_objects,
    left_out_note,
    stamp_s,
)
from gpuscope.safe_text import ONE_LINE_MAX, field_text

# the columns of gpuscope.sinks.process_rows.PROCESS_COLUMN_NAMES the report reads (the report
# may not import sinks; tests/test_report_processes.py checks these are the writer's names)
READ_COLUMNS = ("timestamp", "device", "pid", "user", "command", "gpu_mem_mib", "energy_j",
                "avg_power_w", "energy_source", "energy_basis")  # fmt: skip
JOBS_MAX = 2000  # (device, pid, command) kept from one file; the rest counted
WHY_MAX = 8  # reasons for not charging kept per device; the rest counted as "other"
BASES_MAX = 4  # charge bases kept per job (a file of ours has two)
NONE_PREFIX = "none: "
RAW_KEYS_MAX = 2 * JOBS_MAX  # spellings of a job remembered to skip cleaning its key per row
PID_MAX = 2**32  # no system numbers a process past this


@dataclass(slots=True)
class Job:
    """One process on one device, as its rows tell it."""

    device: str
    pid: int
    command: str
    user: str | None = None
    first_s: float = math.inf
    last_s: float = -math.inf
    first_stamp: str = ""
    last_stamp: str = ""
    samples: int = 0
    charged_samples: int = 0
    peak_mem_mib: float | None = None
    energy_j: float | None = None  # the last charged figure: cumulative, so the whole charge
    avg_power_w: float | None = None
    energy_source: str | None = None
    bases: list[str] = field(default_factory=list)  # charge bases seen, in order
    last_why: str | None = None  # the last "none: why" while not charged

    @property
    def seen_s(self) -> float:
        return self.last_s - self.first_s

    def basis_text(self) -> str:
        """How its energy was found, in the report's words: measured, an estimate, or n/a."""
        if self.energy_j is None:
            return "n/a: never charged" + (f" ({self.last_why})" if self.last_why else "")
        said = [_BASIS_WORDS.get(b, b) for b in self.bases]
        if len(said) > 1 and ChargeBasis.SM_SHARE.value in self.bases:
            return " + ".join(said) + " (partly an estimate)"
        return " + ".join(said) or "charged (basis not named)"


_BASIS_WORDS = {
    ChargeBasis.SOLE.value: "sole process: its GPU's measured energy",
    ChargeBasis.SM_SHARE.value: "SM share: an estimate",
}


@dataclass(slots=True)
class DeviceTotals:
    """What one device's processes were charged, and the samples that were not."""

    device: str
    uncharged_rows: int = 0
    why: dict[str, int] = field(default_factory=dict)  # reason -> rows, at most WHY_MAX
    other_why_rows: int = 0


@dataclass(frozen=True, slots=True)
class ProcessesFile:
    path: Path
    jobs: tuple[Job, ...]
    devices: tuple[DeviceTotals, ...]
    rows: int
    notes: tuple[str, ...] = ()

    def devices_named(self) -> list[str]:
        return [d.device for d in self.devices]

    def jobs_on(self, device: str) -> list[Job]:
        return [j for j in self.jobs if j.device == device]


ProcessRow = tuple[int, dict[str, Any]]  # row number, the READ_COLUMNS' cells


class _Builder:
    """The file, row by row; each row costs the same however long the file. Text is made
    printable once per job (its key on first sight, its stamps and reasons at the end), not per
    row: a day of a busy node is millions of rows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.jobs: dict[tuple[str, int, str], Job] = {}
        # (device, pid, command) as the file spells them -> their job (None: left out)
        self.raw: dict[tuple[Any, Any, Any], Job | None] = {}
        self.devices: dict[str, DeviceTotals] = {}
        self.rows = 0
        self.impossible = 0
        self.left_out: set[tuple[str, int, str]] = set()
        self.left_out_rows = 0

    def feed(self, rows: Iterable[ProcessRow]) -> None:
        raw_jobs = self.raw
        for number, cells in rows:
            self.rows += 1
            stamp, device, pid, command = (cells["timestamp"], cells["device"], cells["pid"],
                                           cells["command"])  # fmt: skip
            if not stamp or not device or pid is None or pid == "":
                raise RecordingError(f"{self.path}: row {number} has no timestamp, device or pid")
            when = stamp_s(self.path, number, stamp)
            raw = (device, pid, command) if _plain(device, pid, command) else None
            if raw is not None and raw in raw_jobs:
                job = raw_jobs[raw]
            else:
                key = (_text(device), self._pid(number, pid), _text(command))
                job = self.jobs.get(key) or self._job(key)
                if raw is not None and len(raw_jobs) < RAW_KEYS_MAX:
                    raw_jobs[raw] = job
            if job is None:  # a process past JOBS_MAX
                self.left_out_rows += 1
                continue
            self._add(job, when, stamp, cells)

    def _pid(self, number: int, pid: Any) -> int:
        try:
            value = int(pid) if not isinstance(pid, bool | float) else -1
        except (TypeError, ValueError):
            value = -1
        if not 0 <= value < PID_MAX:
            raise RecordingError(
                f"{self.path}: row {number}: pid {str(pid)[:40]!r} is not a process id"
            )
        return value

    def _job(self, key: tuple[str, int, str]) -> Job | None:
        if len(self.jobs) >= JOBS_MAX:
            if len(self.left_out) < LEFT_OUT_NAMED_MAX:
                self.left_out.add(key)
            return None
        device, pid, command = key
        job = self.jobs[key] = Job(device, pid, command)
        if device not in self.devices:
            self.devices[device] = DeviceTotals(device)
        return job

    def _add(self, job: Job, when: float, stamp: str, cells: dict[str, Any]) -> None:
        job.samples += 1
        if when < job.first_s:
            job.first_s, job.first_stamp = when, stamp  # printable at the end
        if when >= job.last_s:
            job.last_s, job.last_stamp = when, stamp
        if job.user is None and cells["user"] not in (None, ""):
            job.user = _text(cells["user"])
        memory = self._figure(cells["gpu_mem_mib"])
        if memory is not None and (job.peak_mem_mib is None or memory > job.peak_mem_mib):
            job.peak_mem_mib = memory
        energy = self._figure(cells["energy_j"])
        basis = cells["energy_basis"]
        if type(basis) is not str:
            basis = _text(basis)
        if energy is not None:
            job.charged_samples += 1
            job.energy_j = energy
            job.avg_power_w = self._figure(cells["avg_power_w"])
            source = cells["energy_source"]
            job.energy_source = source if type(source) is str else _text(source)
            fresh = basis and basis not in job.bases and len(job.bases) < BASES_MAX
            if fresh and (cleaned := field_text(basis)) not in job.bases:
                job.bases.append(cleaned)
            return
        why = basis.removeprefix(NONE_PREFIX) or "not said"
        job.last_why = why  # printable at the end
        totals = self.devices[job.device]
        totals.uncharged_rows += 1
        if why not in totals.why:
            why = field_text(why)
        if why in totals.why or len(totals.why) < WHY_MAX:
            totals.why[why] = totals.why.get(why, 0) + 1
        else:
            totals.other_why_rows += 1

    def _figure(self, raw: Any) -> float | None:
        if raw is None or raw == "":
            return None
        value = figure(raw)
        if value is None:
            self.impossible += 1
        return value

    def done(self) -> ProcessesFile:
        notes = []
        if self.impossible:
            notes.append(impossible_note(self.impossible, "figures", "are shown as n/a"))
        if self.left_out_rows:
            notes.append(
                left_out_note(JOBS_MAX, "processes", len(self.left_out), self.left_out_rows,
                              "the tables")
            )  # fmt: skip
        for job in self.jobs.values():  # what was kept as the file spells it, made printable
            job.first_stamp, job.last_stamp = (
                field_text(job.first_stamp),
                field_text(job.last_stamp),
            )
            job.energy_source = field_text(job.energy_source) if job.energy_source else None
            job.last_why = field_text(job.last_why) if job.last_why else None
        jobs = sorted(self.jobs.values(), key=lambda j: j.first_s)
        order = {d: n for n, d in enumerate(self.devices)}
        jobs.sort(key=lambda j: order[j.device])  # stable: by device, then first seen
        return ProcessesFile(
            self.path, tuple(jobs), tuple(self.devices.values()), self.rows, tuple(notes)
        )


def _plain(*values: Any) -> bool:
    """Cells that can key a dict as they are (a JSON line may hold a list)."""
    return all(type(v) is str or type(v) is int or v is None for v in values)


def _text(value: Any) -> str:
    """A cell from outside as one printable line; "" for none."""
    if value is None:
        return ""
    return field_text(value if isinstance(value, str) else json.dumps(value)[:ONE_LINE_MAX])


def header_is_processes(header: list[str]) -> bool:
    """A ``record --processes`` CSV: its header names a pid (a device recording's does not)."""
    return "pid" in header


def line_is_processes(line: str) -> bool:
    """A ``record --processes`` JSON line: an object with a pid."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(record, dict) and "pid" in record


def read_processes(path: Path, first: str, rest: TextIO, jsonl: bool) -> ProcessesFile:
    """The processes file whose first line is ``first`` and the rest in ``rest``."""
    lines = bounded_lines(path, first, rest)
    builder = _Builder(path)
    try:
        builder.feed(_jsonl_rows(path, lines) if jsonl else _csv_rows(lines))
    except csv.Error as exc:
        raise RecordingError(f"{path}: not a CSV processes file ({exc})") from None
    return builder.done()


def _csv_rows(lines: Iterator[str]) -> Iterator[ProcessRow]:
    reader = csv.reader(line if line.endswith("\n") else line + "\n" for line in lines)
    header = next(reader)
    width = len(header)
    where = {name: i for i, name in reversed(list(enumerate(header)))}
    at = [(name, where.get(name, width)) for name in READ_COLUMNS]
    for row in reader:
        if not row or row == [""]:
            continue
        row = row[:width] + [""] * (width + 1 - min(len(row), width))  # a missing column: ""
        yield reader.line_num, {name: row[i] for name, i in at}


def _jsonl_rows(path: Path, lines: Iterator[str]) -> Iterator[ProcessRow]:
    for number, record in json_objects(path, lines):
        yield number, {name: record.get(name) for name in READ_COLUMNS}
