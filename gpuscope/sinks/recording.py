"""Writes samples to a CSV or JSON-lines file, one row per device per sample.

Each tick's rows go to the file in a single ``os.write`` of whole lines, so Ctrl-C, SIGTERM or a
crash leaves a file that ends on a whole row. If a write fails part-way (disk full), the partial
tick is cut off again before the error is raised.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from gpuscope.sinks.columns import COLUMN_NAMES, COLUMNS
from gpuscope.telemetry.model import DeviceInfo, Sample

FORMATS = ("csv", "jsonl")


def csv_cell(value: Any) -> str:
    """Empty for None (unsupported), never "0"; floats to 3 decimals; tuples space-separated."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(round(value, 3))
    if isinstance(value, tuple):
        if not value:
            return "none"  # e.g. no clock-event reason active (supported, nothing to report)
        return " ".join(csv_cell(item) for item in value)
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, tuple):
        return [_json_value(item) for item in value]
    return value


def json_record(sample: Sample, info: DeviceInfo | None = None) -> dict[str, Any]:
    record = {column.name: _json_value(column.value(sample, info)) for column in COLUMNS}
    processes = sample.reading.processes
    record["processes"] = (
        None
        if processes is None
        else [
            {"pid": p.pid, "name": p.name, "gpu_mem_mib": _json_value(p.gpu_mem_mib)}
            for p in processes
        ]
    )
    return record


class RowTable(Protocol):
    """What one recording holds: its columns, and the rows a tick's samples make."""

    names: tuple[str, ...]

    def rows(self, samples: Sequence[Sample]) -> list[list[Any]]: ...

    def records(self, samples: Sequence[Sample]) -> list[dict[str, Any]]: ...


class DeviceRows:
    """One row per device per sample: the recording ``gpuscope record`` writes. ``info_of``
    names each row's hardware (model and UUID); without it those cells are empty."""

    names: tuple[str, ...] = COLUMN_NAMES

    def __init__(self, info_of: Callable[[str], DeviceInfo | None] | None = None) -> None:
        self._info_of = info_of or (lambda _device_id: None)

    def rows(self, samples: Sequence[Sample]) -> list[list[Any]]:
        rows = []
        for s in samples:
            info = self._info_of(s.device_id)
            rows.append([c.value(s, info) for c in COLUMNS])
        return rows

    def records(self, samples: Sequence[Sample]) -> list[dict[str, Any]]:
        return [json_record(s, self._info_of(s.device_id)) for s in samples]


class RecordingSink:
    """A sampler listener that appends rows to an open file descriptor."""

    def __init__(self, fd: int, fmt: str = "csv", table: RowTable | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
        self._fd = fd
        self._format = fmt
        self._table: RowTable = table if table is not None else DeviceRows()
        self.rows_written = 0
        self.failed: OSError | None = None  # the write that failed, so a caller names this file
        if fmt == "csv":
            self._write(self._csv_lines([self._table.names]))

    def __call__(self, samples: Sequence[Sample]) -> None:
        if not samples:
            return
        if self._format == "csv":
            rows = self._table.rows(samples)
            count = len(rows)
            text = self._csv_lines([csv_cell(value) for value in row] for row in rows)
        else:
            records = self._table.records(samples)
            count = len(records)
            text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
        if not count:
            return
        self._write(text)
        self.rows_written += count

    @staticmethod
    def _csv_lines(rows: Any) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        return buffer.getvalue()

    def _write(self, text: str) -> None:
        data = text.encode()
        start = _offset(self._fd)
        written = 0
        try:
            while written < len(data):
                written += os.write(self._fd, data[written:])
        except OSError as exc:
            self.failed = exc
            if written and start is not None:  # cut the partial tick so the file ends on a row
                os.ftruncate(self._fd, start)
                os.lseek(self._fd, start, os.SEEK_SET)
            raise


def _offset(fd: int) -> int | None:
    """Current offset of a regular file; None for pipes and terminals."""
    try:
        return os.lseek(fd, 0, os.SEEK_CUR)
    except OSError:
        return None
