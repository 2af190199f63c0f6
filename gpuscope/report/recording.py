"""A ``record`` file (CSV or JSON lines) read as a stream into what a report shows of it: per
device, how many samples over what span, its card (name, UUID, memory, power limit), the
average and peak of each charted column, and each charted column kept as min/max per time
bucket (``downsample``: a chart's pixel width). A day at 10 Hz costs the same memory
as a minute; no peak or dip is lost to the downsampling.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import math
import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from gpuscope.report.downsample import Series
from gpuscope.safe_text import ONE_LINE_MAX, field_text

# activity counters (``record --gpm``) and their achieved estimate: absent from most recordings,
# and then neither charted nor named
ACTIVITY_COLUMNS = (
    "sm_active_pct", "sm_occupancy_pct", "tensor_active_pct", "dram_active_pct",
    "achieved_tflops_estimate",
)  # fmt: skip
CHART_COLUMNS = ("power_w", "power_estimate_w", "util_gpu_pct", "util_cpu_pct", *ACTIVITY_COLUMNS)
CARD_COLUMNS = ("device_name", "device_uuid", "device_driver", "mem_total_mib", "power_limit_w")
CARD_NUMBERS = ("mem_total_mib", "power_limit_w")
WANTED = (*CHART_COLUMNS, *CARD_COLUMNS)  # what a row gives the report, in this order
LINE_MAX = 64 * 1024  # characters: a recording's row is about 200
BLOCK_CHARS = 1024 * 1024
FIGURE_MAX = 1e21  # above a zetta-anything per second no measured figure is real
TRACKS_MAX = 64  # devices kept from one recording (each costs up to about 1 MB); the rest counted
LEFT_OUT_NAMED_MAX = 10_000  # devices past TRACKS_MAX told apart to count them; beyond, "over"


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


@dataclass(slots=True)
class Track:
    """One device in a recording."""

    device: str
    samples: int = 0
    first_s: float = math.inf
    last_s: float = -math.inf
    card: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, Series] = field(default_factory=dict)
    card_cells: Sequence[Any] = ()  # the last row's, to skip repeats
    previous_s: float = math.nan  # the last row's time, in file order
    least_step_s: float = math.inf  # the shortest time forward between two rows
    longest_step_s: float = 0.0  # and the longest
    backwards: int = 0  # rows stamped before the row above them

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


Row = tuple[int, Any, Any, Sequence[Any], Sequence[Any]]  # number, stamp, device, charted, card


class _Builder:
    """The recording, row by row; every row costs the same, however long the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tracks: dict[Any, Track] = {}
        self.start: float | None = None  # the first row's time: where buckets count from
        self.impossible = 0
        self.left_out: set[str] = set()  # devices past TRACKS_MAX, at most LEFT_OUT_NAMED_MAX
        self.left_out_rows = 0

    def feed(self, rows: Iterable[Row]) -> None:
        """Rows as (number, timestamp, device, the ``CHART_COLUMNS``, the ``CARD_COLUMNS``).
        One loop with its names local: a day at 10 Hz is millions of rows."""
        tracks, new_series = self.tracks, Series
        for number, stamp, device, charted, card in rows:
            if not stamp or not device:
                raise RecordingError(f"{self.path}: row {number} has no timestamp or device")
            when = stamp_s(self.path, number, stamp)
            track = tracks.get(device) if type(device) is str else None
            if track is None:
                track = self._track(device, when)
                if track is None:  # a device past TRACKS_MAX
                    continue
            track.samples += 1
            step = when - track.previous_s  # NaN at a track's first row: neither branch
            if step < 0:
                track.backwards += 1
            elif step > track.longest_step_s:
                track.longest_step_s = step
                if step < track.least_step_s:  # the second row
                    track.least_step_s = step
            elif 0 < step < track.least_step_s:
                track.least_step_s = step
            track.previous_s = when
            if when > track.last_s:
                track.last_s = when
            elif when < track.first_s:
                track.first_s = when
            columns = track.columns
            for column, raw in zip(CHART_COLUMNS, charted, strict=True):
                if raw is None or raw == "":
                    continue
                value = figure(raw)
                if value is None:
                    self.impossible += 1
                    continue
                series = columns.get(column)
                if series is None:
                    series = columns[column] = new_series(self.start or when)
                series.add(when, value)
            if card != track.card_cells:  # a device's name and limits seldom change
                self._card(track, card)

    def _track(self, device: Any, when: float) -> Track | None:
        """The device's track, made at its first row; None for a device past ``TRACKS_MAX``
        (counted for the note)."""
        key = device if isinstance(device, str) else json.dumps(device)[:ONE_LINE_MAX]
        track = self.tracks.get(key)
        if track is not None:
            return track
        if len(self.tracks) >= TRACKS_MAX:
            self.left_out_rows += 1
            if len(self.left_out) < LEFT_OUT_NAMED_MAX:
                self.left_out.add(key[:ONE_LINE_MAX])
            return None
        track = self.tracks[key] = Track(field_text(key), first_s=when, last_s=when)
        if self.start is None:
            self.start = when
        return track

    @staticmethod
    def _card(track: Track, card: Sequence[Any]) -> None:
        track.card_cells = card
        for column, raw in zip(CARD_COLUMNS, card, strict=True):
            if raw is not None and raw != "":
                track.card[column] = figure(raw) if column in CARD_NUMBERS else field_text(str(raw))

    def done(self) -> Recording:
        if not self.tracks:
            raise RecordingError(f"{self.path}: a recording with no rows")
        notes = []
        if self.impossible:
            notes.append(
                impossible_note(
                    self.impossible, "readings", "are left out of the charts and averages"
                )
            )
        if self.left_out_rows:
            notes.append(
                left_out_note(TRACKS_MAX, "devices", len(self.left_out), self.left_out_rows,
                              "the charts and tables")
            )  # fmt: skip
        tracks = tuple(self.tracks.values())
        notes.extend(_clock_notes(tracks))
        start, end = min(t.first_s for t in tracks), max(t.last_s for t in tracks)
        return Recording(self.path, start, end, tracks, tuple(notes))


def impossible_note(count: int, what: str, fate: str) -> str:
    """What became of the figures of an input that cannot be real."""
    return (
        f"{count:,} {what} that cannot be real (NaN, infinite, negative, or not a number) {fate}."
    )


def left_out_note(kept: int, what: str, left_out: int, rows: int, where: str) -> str:
    """What a capped input left out: ``left_out`` is how many were named, up to
    ``LEFT_OUT_NAMED_MAX`` ("over N" at the cap)."""
    more = f"over {left_out:,}" if left_out >= LEFT_OUT_NAMED_MAX else f"{left_out:,}"
    return (
        f"The first {kept:,} {what} are shown; {more} more {what} ({rows:,} rows) are left "
        f"out of {where}."
    )


# One step this many times the shortest, and at least JUMP_MIN_S: a jump, not sampling. The UI's
# interval keys span 100x (0.05-5 s) and jitter far less; a suspended laptop or a row of 1970 more.
JUMP_FACTOR = 1000
JUMP_MIN_S = 60.0


def _clock_notes(tracks: Sequence[Track]) -> list[str]:
    """What makes a recording's span and interval untrue: rows stamped back in time, or a jump
    (a row of 1970 among rows of today: "over 1,891,186,396 s" with no word of why)."""
    notes = []
    backwards = sum(t.backwards for t in tracks)
    if backwards:
        notes.append(
            f"Rows stamped before the row above them: {backwards:,} (a clock change, or "
            "recordings joined): the span and interval may be wrong."
        )
    for track in tracks:
        step = track.longest_step_s
        if step >= JUMP_MIN_S and step > JUMP_FACTOR * track.least_step_s:
            notes.append(
                f"{track.device}: its {track.samples:,} samples are {track.least_step_s:.3g} s "
                f"apart at least but span {track.last_s - track.first_s:,.0f} s: the span holds "
                "a jump (a gap, a clock change, or a row of another time)."
            )
            if len(notes) >= 4:
                break
    return notes


def read_csv(path: Path, lines: Iterator[str]) -> Recording:
    """A CSV recording, its header first (``lines`` from after any byte-order mark). A line
    without quotes is split at its commas (a recording's rows are numbers and plain names, and
    this is twice as fast as the csv module); one with quotes is read by the csv module, which
    takes a quoted newline's next line from ``lines`` too."""
    header = next(csv.reader(lines))
    width = len(header)
    where = {name: i for i, name in reversed(list(enumerate(header)))}
    # a column the header lacks reads the empty cell added to a row past its end
    head = operator.itemgetter(*(where.get(c, width) for c in ("timestamp", "device")))
    charted = operator.itemgetter(*(where.get(c, width) for c in CHART_COLUMNS))
    card = operator.itemgetter(*(where.get(c, width) for c in CARD_COLUMNS))
    whole = all(c in where for c in ("timestamp", "device", *WANTED))

    def rows() -> Iterator[Row]:
        for number, line in enumerate(lines, 2):
            if '"' in line:
                ends = (f"{more}\n" for more in lines)  # lines come without their "\n"
                row = next(csv.reader(itertools.chain((line.rstrip("\n") + "\n",), ends)))
            else:
                row = line.rstrip("\r\n").split(",")
            if not whole or len(row) != width:
                if row == [""] or not row:
                    continue
                row = row[:width]  # cells past the header's are not ours to read
                row += [""] * (width + 1 - len(row))
            stamp, device = head(row)
            yield number, stamp, device, charted(row), card(row)

    builder = _Builder(path)
    try:
        builder.feed(rows())
    except csv.Error as exc:
        raise RecordingError(f"{path}: not a CSV recording ({exc})") from None
    return builder.done()


def stamp_s(path: Path, number: int, stamp: Any) -> float:
    """A row's ISO 8601 timestamp as Unix time; RecordingError naming the row otherwise."""
    try:
        return dt.datetime.fromisoformat(stamp).timestamp()
    except (TypeError, ValueError, OverflowError, OSError):
        shown = str(stamp)[:40]
        raise RecordingError(f"{path}: row {number}: bad timestamp {shown!r}") from None


def json_objects(path: Path, lines: Iterator[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank JSON line; RecordingError naming the line
    that is not a JSON object."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            raise RecordingError(f"{path}:{number}: not a JSON line") from None
        if not isinstance(record, dict):
            raise RecordingError(f"{path}:{number}: not a JSON object")
        yield number, record


def read_jsonl(path: Path, lines: Iterator[str]) -> Recording:
    def rows() -> Iterator[Row]:
        for number, record in json_objects(path, lines):
            yield (number, record.get("timestamp"), record.get("device"),
                   [record.get(c) for c in CHART_COLUMNS],
                   [record.get(c) for c in CARD_COLUMNS])  # fmt: skip

    builder = _Builder(path)
    builder.feed(rows())
    return builder.done()


def first_line_is_a_sample(line: str) -> bool:
    """A recording's JSON lines: the first line is a whole object with a timestamp and a device
    (bench's JSON is indented over many lines, so its first line is not)."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(record, dict) and "timestamp" in record and "device" in record


def bounded_lines(path: Path, first: str, rest: TextIO) -> Iterator[str]:
    """``first`` and then the lines of ``rest``, without their newlines, read in blocks and
    split (cheaper than line by line); RecordingError for a line of ``LINE_MAX`` or more."""
    too_long = f"{path}: a line longer than {LINE_MAX // 1024} KiB"
    if len(first.rstrip("\n")) >= LINE_MAX:  # readline stopped at LINE_MAX
        raise RecordingError(too_long)
    yield first
    tail = ""
    while block := rest.read(BLOCK_CHARS):
        found = (tail + block).split("\n")
        tail = found.pop()  # held to the next block: at most LINE_MAX + BLOCK_CHARS
        if len(tail) >= LINE_MAX or max(map(len, found), default=0) >= LINE_MAX:
            raise RecordingError(too_long)
        yield from found
    if tail:
        yield tail


def read_recording(path: Path, first: str, rest: TextIO, jsonl: bool) -> Recording:
    """The recording whose first line is ``first`` and the rest in ``rest``."""
    lines = bounded_lines(path, first, rest)
    return read_jsonl(path, lines) if jsonl else read_csv(path, lines)
