"""What ``gpuscope jobs`` prints: its table, ``--json`` and ``--csv`` (imported only when the
command runs, so building the command line's parser loads none of it)."""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from gpuscope.commands.job_rows import ESTIMATE, JobRow
from gpuscope.safe_text import field_text, one_line
from gpuscope.units import si_prefix

DEVICES_SHOWN = 4  # a cluster job's devices in the table; --json and --csv list them all
FIELDS = (
    "job", "user", "devices", "running_s", "energy_j", "energy_sources", "power_w",
    "gpu_seconds", "busy_pct", "sm_active_pct", "tensor_active_pct", "processes",
    "uncharged_devices",
)  # fmt: skip
UNCHARGED_WHY = (
    "shared with another job where the driver gives no SM shares, or it came or went within "
    "every interval: its energy leaves them out"
)
COLUMNS = (
    "job", "user", "devices", "running", "energy", "source", "W", "GPU time", "busy %", "SM %",
    "tensor %", "procs",
)  # fmt: skip


def show(rows: Sequence[JobRow], fmt: str, title: str, none: str) -> None:
    """The rows; with none, ``none`` in one line (on stderr beside ``[]`` or a CSV header, so
    stdout stays valid JSON or CSV)."""
    if not rows:
        print(none, file=sys.stdout if fmt == "table" else sys.stderr)
    if fmt == "json":
        print(json.dumps([row_dict(row) for row in rows], indent=2))
    elif fmt == "csv":
        write_csv(rows, sys.stdout)
    elif rows:
        legend = (
            " (estimate: by SM share)" if any(ESTIMATE in r.energy_sources for r in rows) else ""
        )
        print(title + legend)
        print(table(rows))
        for row in rows:
            if row.uncharged:
                where = one_line(_devices_text(row.uncharged), 120)
                print(
                    f"{one_line(row.job, 80)}: held {where}, charged nothing there: {UNCHARGED_WHY}"
                )


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def row_dict(row: JobRow) -> dict[str, Any]:
    """A row as ``--json`` writes it: FIELDS in order, None for n/a (never NaN)."""
    return {
        "job": row.job,
        "user": row.user,
        "devices": list(row.devices),
        "running_s": _finite(row.running_s),
        "energy_j": _finite(row.energy_j),
        "energy_sources": list(row.energy_sources),
        "power_w": _finite(row.power_w),
        "gpu_seconds": _finite(row.gpu_seconds),
        "busy_pct": _pct_figure(row.busy_pct),
        "sm_active_pct": _pct_figure(row.sm_active_pct),
        "tensor_active_pct": _pct_figure(row.tensor_active_pct),
        "processes": row.processes,
        "uncharged_devices": list(row.uncharged),
    }


def _pct_figure(value: float | None) -> float | None:
    """A percentage to 0.01 (a ratio of sums shows 80.00000000000001 otherwise)."""
    finite = _finite(value)
    return None if finite is None else round(finite, 2)


def write_csv(rows: Sequence[JobRow], stream: Any) -> None:
    """FIELDS as the header; lists space-separated; an empty cell is n/a, never 0."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(FIELDS)
    for row in rows:
        cells = row_dict(row)
        writer.writerow(
            " ".join(field_text(v) for v in value) if isinstance(value, list)
            else "" if value is None
            else field_text(value) if isinstance(value, str)
            else value
            for value in cells.values()
        )  # fmt: skip


def duration_text(seconds: float | None) -> str:
    """``4.2 s``, ``35 s``, ``12m05s``, ``3h07m``, ``2d05h``; ``n/a``."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "n/a"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    for unit_s, big, small_s, small in ((86400, "d", 3600, "h"), (3600, "h", 60, "m")):
        if whole >= unit_s:
            return f"{whole // unit_s}{big}{(whole % unit_s) // small_s:02d}{small}"
    return f"{whole // 60}m{whole % 60:02d}s"


def quantity_text(value: float | None, unit: str) -> str:
    """``1.23 MJ``, ``712 W``: three significant figures and an SI prefix; ``n/a``."""
    if value is None or not math.isfinite(value):
        return "n/a"
    scale, prefix = si_prefix(value)
    return f"{value / scale:.3g} {prefix}{unit}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.0f}"


def _devices_text(devices: Sequence[str]) -> str:
    if len(devices) <= DEVICES_SHOWN:
        return ",".join(devices) or "n/a"
    shown = ",".join(devices[: DEVICES_SHOWN - 1])
    return f"{shown} +{len(devices) - DEVICES_SHOWN + 1} more"


def table(rows: Sequence[JobRow]) -> str:
    """Aligned plain text, two spaces between columns; every outside string one printable
    line (a job or user name comes from /proc or a Prometheus label)."""
    lines = [COLUMNS] + [
        (
            one_line(row.job, 80),
            one_line(row.user, 40),
            one_line(_devices_text(row.devices), 120),
            duration_text(row.running_s),
            quantity_text(row.energy_j, "J"),
            one_line(", ".join(row.energy_sources), 60) or "n/a",
            quantity_text(row.power_w, "W"),
            duration_text(row.gpu_seconds),
            _pct(row.busy_pct),
            _pct(row.sm_active_pct),
            _pct(row.tensor_active_pct),
            "n/a" if row.processes is None else str(row.processes),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    left = 3  # job, user and devices read left to right; figures line up on the right
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in lines
    )
