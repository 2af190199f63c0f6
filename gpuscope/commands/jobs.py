"""``gpuscope jobs``: the GPU jobs on this host now (its devices sampled for ``--seconds``), or
with ``--prometheus URL`` the whole cluster's, asked of an existing Prometheus that scrapes
``gpuscope serve`` on every node; one row per (job, user), as a table, ``--json`` or ``--csv``.

This module is what the command line imports to build its parser: it imports no sampler and
no telemetry until the command runs (``commands.job_rows`` does the work).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gpuscope.errors import CommandFailed, UsageError
from gpuscope.safe_text import field_text, one_line
from gpuscope.units import check_seconds, si_prefix

if TYPE_CHECKING:
    from gpuscope.commands.job_rows import JobRow

DEFAULT_SECONDS = 2.0
MAX_SECONDS = 3600.0  # an hour of sampling is a recording: gpuscope record, or serve
MIN_SECONDS = 0.5  # two samples at least, so an interval is accounted
DEVICES_SHOWN = 4  # a cluster job's devices in the table; --json and --csv list them all

FIELDS = (
    "job", "user", "devices", "running_s", "energy_j", "energy_sources", "power_w",
    "gpu_seconds", "busy_pct", "sm_active_pct", "tensor_active_pct", "processes",
)  # fmt: skip
COLUMNS = (
    "job", "user", "devices", "running", "energy", "source", "W", "GPU time", "busy %", "SM %",
    "tensor %", "procs",
)  # fmt: skip


def add_jobs_parser(commands: argparse._SubParsersAction[Any]) -> None:
    """The ``jobs`` subcommand, its options and what runs it."""
    jobs = commands.add_parser(
        "jobs",
        help="GPU jobs (Slurm, pod, container, user) on this host, or a cluster's via Prometheus",
        description="One row per job and user: devices, running time, energy and W, GPU busy, "
        "SM and tensor activity (GPM), processes. Without --prometheus this host's GPUs are "
        "sampled for --seconds; with it, the per-job series of gpuscope serve on every node.",
    )
    jobs.add_argument(
        "--prometheus", metavar="URL",
        help="the whole cluster's jobs from this Prometheus (e.g. http://prom:9090), which "
        "scrapes gpuscope serve on every node",
    )  # fmt: skip
    jobs.add_argument(
        "--seconds", type=float, default=None, metavar="S",
        help=f"seconds to sample this host (default {DEFAULT_SECONDS:g}): energy and W cover them",
    )  # fmt: skip
    jobs.add_argument("--devices", default=None, help="this host's devices, as for record")
    output = jobs.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="a list of objects (null: n/a)")
    output.add_argument("--csv", action="store_true", help="CSV, units in the column names")
    jobs.set_defaults(run=run_jobs)


def run_jobs(args: argparse.Namespace) -> int:
    fmt = "json" if args.json else "csv" if args.csv else "table"
    if args.prometheus is not None:
        if args.seconds is not None or args.devices is not None:
            raise UsageError("--seconds and --devices sample this host: not with --prometheus")
        return _cluster(args.prometheus, fmt)
    seconds = DEFAULT_SECONDS if args.seconds is None else args.seconds
    return _host(args.devices or "all", seconds, fmt)


def _host(devices: str, seconds: float, fmt: str) -> int:
    from gpuscope.commands.job_rows import sample_host
    from gpuscope.commands.signals import stop_on_signals
    from gpuscope.commands.stdout import check_stdout, print_or_fail
    from gpuscope.telemetry.discover import parse_selectors

    try:
        check_seconds(seconds, "--seconds", MIN_SECONDS, True, MAX_SECONDS)
        selectors = parse_selectors(devices)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    check_stdout("the jobs")
    stop = threading.Event()
    with stop_on_signals(stop.set):  # Ctrl-C: show what was measured so far
        found = sample_host(selectors, seconds, stop)
    if found.stopped:
        print(f"gpuscope jobs: stopped after {found.sampled_s:.1f} s", file=sys.stderr)
    title = (
        f"jobs on this host: energy and W over the {found.sampled_s:.1f} s sampled "
        "(estimate: by SM share)"
    )
    none = (
        f"no jobs on this host ({found.devices} device(s) sampled for {found.sampled_s:.1f} s, "
        f"{found.listing} of them list their processes)"
    )
    return print_or_fail(lambda: _show(found.rows, fmt, title, none), "jobs")


def _cluster(url: str, fmt: str) -> int:
    from gpuscope.commands.job_rows import rows_from_prometheus
    from gpuscope.commands.stdout import check_stdout, print_or_fail
    from gpuscope.telemetry.prometheus_api import PrometheusApi, PrometheusError, check_base_url

    try:
        base_url = check_base_url(url)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    check_stdout("the jobs")
    try:
        found = rows_from_prometheus(PrometheusApi(base_url))
    except PrometheusError as exc:
        raise CommandFailed(str(exc)) from None
    if found.renamed:
        print(
            "gpuscope jobs: the job label arrived as exported_job (Prometheus scraped gpuscope "
            "without honor_labels: true); read from there",
            file=sys.stderr,
        )
    where = one_line(base_url, 200)
    title = (
        f"jobs in {where}: energy since each node's exporter first saw the job, W over the "
        "last minute (estimate: by SM share)"
    )
    none = f"no jobs in {where} (it holds no gpuscope_job_* series)"
    return print_or_fail(lambda: _show(found.rows, fmt, title, none), "jobs")


def _show(rows: Sequence[JobRow], fmt: str, title: str, none: str) -> None:
    """The rows; with none, ``none`` in one line (on stderr beside ``[]`` or a CSV header, so
    stdout stays valid JSON or CSV)."""
    if not rows:
        print(none, file=sys.stdout if fmt == "table" else sys.stderr)
    if fmt == "json":
        print(json.dumps([row_dict(row) for row in rows], indent=2))
    elif fmt == "csv":
        write_csv(rows, sys.stdout)
    elif rows:
        print(title)
        print(table(rows))


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
        "busy_pct": _finite(row.busy_pct),
        "sm_active_pct": _finite(row.sm_active_pct),
        "tensor_active_pct": _finite(row.tensor_active_pct),
        "processes": row.processes,
    }


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
