"""A ``record`` file (CSV or JSON lines) read as a stream into what a report shows of it: per
device, how many samples over what span, its card (name, UUID, memory, power limit), the
average and peak of each charted column, and each charted column kept as min/max per time
bucket, at most ``BUCKETS`` buckets: a chart's pixel width. A day at 10 Hz costs the same memory
as a minute; no peak or dip is lost to the downsampling.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from gpuscope.safe_text import one_line

CHART_COLUMNS = ("power_w", "power_estimate_w", "util_gpu_pct", "util_cpu_pct")
CARD_COLUMNS = ("device_name", "device_uuid", "device_driver", "mem_total_mib", "power_limit_w")
CARD_NUMBERS = ("mem_total_mib", "power_limit_w")
WANTED = (*CHART_COLUMNS, *CARD_COLUMNS)  # what a row gives the report, in this order
BUCKETS = 1000  # about the width in pixels of a 9-inch chart at 110 dpi
LINE_MAX = 64 * 1024  # characters: a recording's row is about 200
FIGURE_MAX = 1e21  # above a zetta-anything per second no measured figure is real


TEXT_MAX = 200  # characters of a device name or UUID from a file


def _text(raw: str) -> str:
    """Text from the file as the report may show it: printable, one line, bounded."""
    return raw if len(raw) < 80 and raw.isprintable() else one_line(raw, TEXT_MAX)


class RecordingError(Exception):
    """A recording that cannot go into a report; the message is one line for the user."""


def figure(value: Any) -> float | None:
    """A measured figure as a float, or None where it is missing or impossible (not a number,
    NaN, infinite, negative, or beyond ``FIGURE_MAX``)."""
    if value is None or value is True or value is False:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0.0 <= number < FIGURE_MAX else None  # NaN fails both comparisons


class Series:
    """One column of one device, downsampled as it arrives: its count, total and peak, and
    its lowest and highest sample per time bucket. Buckets are one width from ``origin``;
    when a sample falls past the last of ``BUCKETS``, neighbours merge and the width doubles.
    Samples come in time order, so most land in the bucket of the one before: that case costs
    two comparisons."""

    __slots__ = ("buckets", "count", "hi", "hi_t", "index", "lo", "lo_t", "origin", "peak",
                 "total", "width")  # fmt: skip

    def __init__(self, origin: float) -> None:
        self.origin, self.width = origin, 0.001
        self.buckets: dict[int, tuple[float, float, float, float]] = {}  # lo, its t, hi, its t
        self.index = -1  # the open bucket, held in lo/lo_t/hi/hi_t
        self.lo = self.lo_t = self.hi = self.hi_t = 0.0
        self.count, self.total, self.peak = 0, 0.0, 0.0

    @property
    def mean(self) -> float:
        return self.total / self.count

    def add(self, when: float, value: float) -> None:
        self.count += 1
        self.total += value
        if value > self.peak:
            self.peak = value
        if int((when - self.origin) / self.width) == self.index:
            if value < self.lo:
                self.lo, self.lo_t = value, when
            elif value > self.hi:
                self.hi, self.hi_t = value, when
            return
        self._open(when, value)

    def _open(self, when: float, value: float) -> None:
        self._close()
        index = max(0, int((when - self.origin) / self.width))  # a clock set back: the first
        while index >= BUCKETS:
            self._halve()
            index = max(0, int((when - self.origin) / self.width))
        self.index, self.lo, self.lo_t, self.hi, self.hi_t = index, value, when, value, when
        held = self.buckets.pop(index, None)
        if held is not None:
            self._merge(held)

    def _merge(self, held: tuple[float, float, float, float]) -> None:
        if held[0] < self.lo:
            self.lo, self.lo_t = held[0], held[1]
        if held[2] > self.hi:
            self.hi, self.hi_t = held[2], held[3]

    def _close(self) -> None:
        if self.index >= 0:
            self.buckets[self.index] = (self.lo, self.lo_t, self.hi, self.hi_t)

    def _halve(self) -> None:
        self._close()
        self.index = -1
        merged: dict[int, tuple[float, float, float, float]] = {}
        for index, (lo, lo_t, hi, hi_t) in self.buckets.items():
            other = merged.get(index // 2)
            if other is not None:
                lo, lo_t = (lo, lo_t) if lo <= other[0] else other[:2]
                hi, hi_t = (hi, hi_t) if hi >= other[2] else other[2:]
            merged[index // 2] = (lo, lo_t, hi, hi_t)
        self.buckets = merged
        self.width *= 2

    def points(self) -> list[tuple[float, float]]:
        """(time, value) in time order: each bucket's lowest and highest sample."""
        self._close()
        found: list[tuple[float, float]] = []
        for index in sorted(self.buckets):
            lo, lo_t, hi, hi_t = self.buckets[index]
            found += sorted({(lo_t, lo), (hi_t, hi)})
        return found


@dataclass
class Track:
    """One device in a recording."""

    device: str
    samples: int = 0
    first_s: float = math.inf
    last_s: float = -math.inf
    card: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, Series] = field(default_factory=dict)
    card_cells: list[Any] = field(default_factory=list)  # the last row's, to skip repeats

    @property
    def interval_s(self) -> float | None:
        """The mean time between samples, None with one sample."""
        return (self.last_s - self.first_s) / (self.samples - 1) if self.samples > 1 else None


@dataclass(frozen=True, slots=True)
class Recording:
    path: Path
    start_s: float
    end_s: float  # the last sample's time
    tracks: tuple[Track, ...]
    notes: tuple[str, ...] = ()  # impossible figures left out, say

    def devices(self) -> list[str]:
        return [t.device for t in self.tracks]

    @property
    def interval_s(self) -> float | None:
        """The sampling interval: the shortest device's mean (a device that came late or left
        early has the same interval over fewer samples)."""
        found = [t.interval_s for t in self.tracks if t.interval_s is not None]
        return min(found) if found else None

    @property
    def duration_s(self) -> float:
        """The span the samples stand for: first to last, plus the last one's interval (3
        samples 1 s apart cover 3 s, ``record -d 3``)."""
        return self.end_s - self.start_s + (self.interval_s or 0.0)


class _Builder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.tracks: dict[str, Track] = {}
        self.start: float | None = None
        self.end = -math.inf
        self.impossible = 0

    def add(self, number: int, stamp: Any, device: Any, values: Sequence[Any]) -> None:
        """One row: ``values`` are the row's ``WANTED`` columns, in that order."""
        if not stamp or not device:
            raise RecordingError(f"{self.path}: row {number} has no timestamp or device")
        try:
            when = dt.datetime.fromisoformat(stamp).timestamp()
        except (TypeError, ValueError, OverflowError, OSError):
            shown = str(stamp)[:40]
            raise RecordingError(f"{self.path}: row {number}: bad timestamp {shown!r}") from None
        key = device if isinstance(device, str) else json.dumps(device)[:TEXT_MAX]
        track = self.tracks.get(key)
        if track is None:
            track = self.tracks[key] = Track(_text(key))
        if self.start is None:
            self.start = when
        track.samples += 1
        if when < track.first_s:
            track.first_s = when
        if when > track.last_s:
            track.last_s = when
        if when > self.end:
            self.end = when
        columns = track.columns
        for column, raw in zip(CHART_COLUMNS, values, strict=False):
            if raw is None or raw == "":
                continue
            value = figure(raw)
            if value is None:
                self.impossible += 1
                continue
            series = columns.get(column)
            if series is None:
                series = columns[column] = Series(self.start)
            series.add(when, value)
        cells = values[len(CHART_COLUMNS) :]
        if cells != track.card_cells:  # a device's name and limits seldom change
            track.card_cells = list(cells)
            for column, raw in zip(CARD_COLUMNS, cells, strict=True):
                if raw is not None and raw != "":
                    track.card[column] = figure(raw) if column in CARD_NUMBERS else _text(str(raw))

    def done(self) -> Recording:
        if self.start is None:
            raise RecordingError(f"{self.path}: a recording with no rows")
        notes = []
        if self.impossible:
            notes.append(
                f"{self.impossible:,} readings that cannot be real (NaN, infinite, negative, "
                "or not a number) are left out of the charts and averages."
            )
        start = min(t.first_s for t in self.tracks.values())
        return Recording(self.path, start, self.end, tuple(self.tracks.values()), tuple(notes))


def read_csv(path: Path, lines: Iterator[str]) -> Recording:
    """A CSV recording, its header first (``lines`` from after any byte-order mark)."""
    reader = csv.reader(lines)
    header = next(reader)
    width = len(header)
    where = {name: i for i, name in reversed(list(enumerate(header)))}
    # a column the header lacks reads the empty cell appended to each row
    pick = operator.itemgetter(*(where.get(c, width) for c in ("timestamp", "device", *WANTED)))
    builder = _Builder(path)
    try:
        for number, row in enumerate(reader, 2):
            if not row:
                continue
            if len(row) != width:
                row = row[:width] + [""] * (width - len(row))
            row.append("")
            stamp, device, *values = pick(row)
            builder.add(number, stamp, device, values)
    except csv.Error as exc:
        raise RecordingError(f"{path}: not a CSV recording ({exc})") from None
    return builder.done()


def read_jsonl(path: Path, lines: Iterator[str]) -> Recording:
    builder = _Builder(path)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            raise RecordingError(f"{path}:{number}: not a JSON line") from None
        if not isinstance(record, dict):
            raise RecordingError(f"{path}:{number}: not a JSON object")
        builder.add(
            number, record.get("timestamp"), record.get("device"), [record.get(c) for c in WANTED]
        )
    return builder.done()


def first_line_is_a_sample(line: str) -> bool:
    """A recording's JSON lines: the first line is a whole object with a timestamp and a device
    (bench's JSON is indented over many lines, so its first line is not)."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(record, dict) and "timestamp" in record and "device" in record


def read_recording(path: Path, first: str, rest: TextIO, jsonl: bool) -> Recording:
    """The recording whose first line is ``first`` and the rest in ``rest``."""

    def lines() -> Iterator[str]:
        yield first
        for line in iter(lambda: rest.readline(LINE_MAX), ""):
            if len(line) >= LINE_MAX:
                raise RecordingError(f"{path}: a line longer than {LINE_MAX // 1024} KiB")
            yield line

    return read_jsonl(path, lines()) if jsonl else read_csv(path, lines())
