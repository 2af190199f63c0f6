"""``gpuscope serve``: a Prometheus exporter on the same sampler as ``record`` and the UI.

Listens on 127.0.0.1:9400 unless told otherwise: exposing device telemetry to a network is a
choice the user makes with ``--listen``. GPU activity counters (GPM) are read only with
``--gpm``: they share the hardware counters with DCGM's profiling. Each GPU process's job
(Slurm job, pod, container, else user) is read from /proc and its use exported per job, kept
``--job-retention`` seconds after the job's last process left. Stops on Ctrl-C, SIGTERM or SIGHUP.
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
from dataclasses import dataclass

from gpuscope.commands.selection import no_activity_counters, probe_selected
from gpuscope.commands.signals import stop_on_signals
from gpuscope.config import cpu_power_model
from gpuscope.errors import CommandFailed, UsageError
from gpuscope.intervals import SERVE_INTERVAL_S, check_interval
from gpuscope.measurement.job_energy import JOB_KEEP_MIN_S, JOB_KEEP_S, JobLedger
from gpuscope.sampler import Sampler, stopped_line
from gpuscope.sinks.exporter import describe_listen_error, parse_listen, start_exporter
from gpuscope.sinks.scrape_server import raise_descriptor_limit
from gpuscope.telemetry.discover import parse_selectors
from gpuscope.telemetry.job_owner import JobOwners
from gpuscope.units import check_seconds

DEFAULT_LISTEN = "127.0.0.1:9400"


@dataclass(frozen=True, slots=True)
class ServeOptions:
    listen: str = DEFAULT_LISTEN
    interval_s: float = SERVE_INTERVAL_S
    devices: str = "all"
    host_label: str | None = None  # default: this machine's host name
    cpu_tdp_w: float | None = None  # None: the config file's, if any
    gpm: bool = False  # export activity counters (GPM) too
    job_retention_s: float = JOB_KEEP_S  # a job's series stay this long after it ended


def serve_options(args: argparse.Namespace) -> ServeOptions:
    """The options from ``gpuscope serve``'s command line (``cli``)."""
    return ServeOptions(
        listen=args.listen,
        interval_s=args.interval,
        devices=args.devices,
        host_label=args.host_label,
        cpu_tdp_w=args.cpu_tdp,
        gpm=args.gpm,
        job_retention_s=JOB_KEEP_S if args.job_retention is None else args.job_retention,
    )


def run_serve(options: ServeOptions) -> int:
    try:
        host, port = parse_listen(options.listen)
        check_interval(options.interval_s)
        check_seconds(options.job_retention_s, "--job-retention", JOB_KEEP_MIN_S, inclusive=True)
        selectors = parse_selectors(options.devices)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    cpu_model = cpu_power_model(options.cpu_tdp_w)
    with probe_selected(selectors, cpu_model) as (_, devices):
        sampler = Sampler(devices, options.interval_s)
        if options.gpm:
            # an exporter on a fleet may run where no GPU has GPM: said, not refused
            why = no_activity_counters(devices)
            if why is not None:
                print(f"gpuscope serve: {why}; serving without them", file=sys.stderr)
            sampler.want_activity("exporter")
        # serve probes real devices only: no simulated ones for the ledger to skip
        ledger = JobLedger(JobOwners(), keep_s=options.job_retention_s)
        sampler.subscribe(ledger.add)
        label = options.host_label or socket.gethostname()
        raise_descriptor_limit()  # more idle connections held before the oldest are shed
        try:
            server = start_exporter(
                host, port, sampler, [d.info for d in devices], label, jobs=ledger.uses
            )
        except OSError as exc:
            raise CommandFailed(describe_listen_error(options.listen, exc)) from None
        sampler.start()
        print(
            f"gpuscope serve: {len(devices)} device(s) at http://{options.listen}/metrics "
            "(Ctrl-C stops)",
            file=sys.stderr,
            flush=True,
        )
        stop = threading.Event()
        with stop_on_signals(stop.set):
            while not stop.is_set() and sampler.error is None:
                stop.wait(0.5)
        server.shutdown()
        server.server_close()
        sampler.stop()
    if sampler.error is not None:
        raise CommandFailed(stopped_line(sampler.error))
    return 0
