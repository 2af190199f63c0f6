"""``gpuscope record``: headless sampling of every device to CSV or JSON lines.

Stops after ``--duration``, on Ctrl-C, SIGTERM or SIGHUP, or when stdout's reader goes away; in
every case the rows already taken are on disk and the file ends on a whole row.
"""

from __future__ import annotations

import errno
import math
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from gpuscope.commands.selection import probe_selected
from gpuscope.commands.signals import stop_on_signals
from gpuscope.config import cpu_power_model
from gpuscope.errors import CommandFailed, UsageError
from gpuscope.measurement.process_energy import ProcessEnergyLedger
from gpuscope.sampler import Sampler, check_interval
from gpuscope.sinks.process_rows import ProcessRows
from gpuscope.sinks.recording import DeviceRows, RecordingSink, RowTable
from gpuscope.telemetry.discover import parse_selectors
from gpuscope.telemetry.model import Sample
from gpuscope.units import check_seconds

_PROGRESS_PERIOD_S = 0.5


@dataclass(frozen=True, slots=True)
class RecordOptions:
    output: str = "-"
    interval_s: float = 0.5
    duration_s: float | None = None
    devices: str = "all"
    fmt: str = "csv"
    force: bool = False
    cpu_tdp_w: float | None = None  # None: the config file's, if any
    processes: str | None = None  # a second file: one row per GPU process per sample


def _validate(options: RecordOptions) -> list[str]:
    try:
        check_interval(options.interval_s)
        selectors = parse_selectors(options.devices)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if options.duration_s is not None:
        try:
            check_seconds(options.duration_s, "--duration")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if options.processes == "-":
        raise UsageError("--processes needs a file (standard output is the device rows)")
    if options.processes is not None:
        same = os.path.realpath(options.processes) == os.path.realpath(options.output)
        if same and options.output != "-":
            raise UsageError("--processes must be another file than --output")
        if not options.force:  # refuse before creating either, so no empty file is left
            for path in (options.output, options.processes):
                if path != "-" and os.path.exists(path):
                    raise CommandFailed(f"{path} exists; pass --force to overwrite it")
    return selectors


def _open_output(path: str, force: bool) -> int:
    if path == "-":
        return sys.stdout.fileno()
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        return os.open(path, flags, 0o644)
    except FileExistsError:
        raise CommandFailed(f"{path} exists; pass --force to overwrite it") from None
    except OSError as exc:
        raise CommandFailed(f"cannot write {path}: {exc.strerror}") from None


class _LostReporter:
    """Says once on stderr when a device is lost; the others keep recording."""

    def __call__(self, samples: Sequence[Sample]) -> None:
        for sample in samples:
            if sample.lost:
                print(
                    f"\ngpuscope record: {sample.device_id} lost; recording the others",
                    file=sys.stderr,
                )


def run_record(options: RecordOptions) -> int:
    selectors = _validate(options)
    cpu_model = cpu_power_model(options.cpu_tdp_w)
    with probe_selected(selectors, cpu_model) as (_, devices):
        sampler = Sampler(devices, options.interval_s)
        fd = _open_output(options.output, options.force)
        process_fd = None
        try:
            if options.processes is not None:
                process_fd = _open_output(options.processes, options.force)
            sink = _start_sink(fd, options, DeviceRows(sampler.device_info))
            sampler.subscribe(sink)
            if process_fd is not None:
                ledger = ProcessEnergyLedger()
                sampler.subscribe(ledger.add)  # before the rows that read it
                sampler.subscribe(
                    _start_sink(process_fd, options, ProcessRows(ledger), options.processes)
                )
            sampler.subscribe(_LostReporter())
            elapsed_s = _sample_until_stopped(sampler, sink, options, len(devices))
        finally:
            # If a device read hung past stop()'s timeout, leave the fd to the process exit
            # rather than let a late write land on a reused descriptor.
            if not sampler.running:
                if options.output != "-":
                    os.close(fd)
                if process_fd is not None:
                    os.close(process_fd)
    failure = sampler.error
    # `gpuscope record | head`: the reader closing the pipe is a normal way to stop.
    if failure is not None and not isinstance(failure, BrokenPipeError):
        raise CommandFailed(_describe_write_error(options.output, failure)) from None
    if sys.stderr.isatty():
        where = "stdout" if options.output == "-" else options.output
        print(
            f"gpuscope record: {sink.rows_written} rows in {elapsed_s:.1f} s to {where}",
            file=sys.stderr,
        )
    return 0


def _start_sink(
    fd: int, options: RecordOptions, table: RowTable | None = None, path: str | None = None
) -> RecordingSink:
    try:
        return RecordingSink(fd, options.fmt, table)
    except OSError as exc:
        raise CommandFailed(_describe_write_error(path or options.output, exc)) from None


def _sample_until_stopped(
    sampler: Sampler, sink: RecordingSink, options: RecordOptions, device_count: int
) -> float:
    stop = threading.Event()
    show_progress = sys.stderr.isatty() and not (options.output == "-" and sys.stdout.isatty())
    start = time.monotonic()
    deadline = start + options.duration_s if options.duration_s is not None else math.inf
    with stop_on_signals(stop.set):
        sampler.start()
        try:
            while not stop.is_set() and sampler.error is None:
                now = time.monotonic()
                if now >= deadline:
                    break
                stop.wait(min(_PROGRESS_PERIOD_S, deadline - now))
                if show_progress:
                    elapsed = time.monotonic() - start
                    sys.stderr.write(
                        f"\rrecording {device_count} device(s) to {options.output}: "
                        f"{sink.rows_written} rows, {elapsed:.0f} s (Ctrl-C stops)"
                    )
                    sys.stderr.flush()
        finally:
            sampler.stop()
            if show_progress:
                sys.stderr.write("\n")
    return time.monotonic() - start


def _describe_write_error(path: str, exc: BaseException) -> str:
    where = "stdout" if path == "-" else path
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"disk full while writing {where}; rows up to the last whole one are kept"
    if isinstance(exc, OSError):
        return f"cannot write {where}: {exc.strerror or exc}"
    return f"recording stopped: {type(exc).__name__}: {exc}"
