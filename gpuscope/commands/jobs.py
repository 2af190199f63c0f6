"""``gpuscope jobs``: the GPU jobs on this host now (its devices sampled for ``--seconds``), or
with ``--prometheus URL`` the whole cluster's, asked of an existing Prometheus that scrapes
``gpuscope serve`` on every node; one row per (job, user), as a table, ``--json`` or ``--csv``.

This module is what the command line imports to build its parser: it imports no sampler, no
telemetry and no output module until the command runs (``commands.job_rows`` does the work,
``commands.jobs_output`` writes it).
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gpuscope.errors import CommandFailed, UsageError
from gpuscope.safe_text import one_line
from gpuscope.units import check_seconds

if TYPE_CHECKING:
    from gpuscope.commands.job_rows import JobRow

DEFAULT_SECONDS = 2.0
MAX_SECONDS = 3600.0  # an hour of sampling is a recording: gpuscope record, or serve
MIN_SECONDS = 0.5  # two samples at least, so an interval is accounted


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
    title = f"jobs on this host: energy and W over the {found.sampled_s:.1f} s sampled"
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
        f"jobs in {where}: energy since each node's exporter first saw the job, W between "
        "the last two scrapes"
    )
    none = f"no jobs in {where} (it holds no gpuscope_job_* series)"
    return print_or_fail(lambda: _show(found.rows, fmt, title, none), "jobs")


def _show(rows: Sequence[JobRow], fmt: str, title: str, none: str) -> None:
    from gpuscope.commands.jobs_output import show

    show(rows, fmt, title, none)
