"""``gpuscope record``: headless sampling of every device to CSV or JSON lines.

With ``--gpm`` the GPUs' activity counters (NVML GPM) are sampled too; without it they are not
read, as they share the hardware counters with DCGM's profiling.

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

from gpuscope.commands.selection import no_activity_counters, probe_selected
from gpuscope.commands.signals import stop_on_signals
from gpuscope.commands.stdout import check_stdout
from gpuscope.config import cpu_power_model
from gpuscope.errors import CommandFailed, UsageError
from gpuscope.intervals import DEFAULT_INTERVAL_S, check_interval
from gpuscope.measurement.process_energy import ProcessEnergyLedger
from gpuscope.sampler import Sampler, stopped_line
from gpuscope.sinks.output_files import (
    STDOUT,
    NewOutputs,
    OutputError,
    check_new,
    write_error,
)
from gpuscope.sinks.process_rows import ProcessRows
from gpuscope.sinks.recording import DeviceRows, RecordingSink, RowTable
from gpuscope.telemetry.discover import parse_selectors
from gpuscope.telemetry.gpm import FIRST_SAMPLE
from gpuscope.telemetry.model import Sample
from gpuscope.telemetry.processes import ProcessLookups
from gpuscope.units import check_seconds

_PROGRESS_PERIOD_S = 0.5


@dataclass(frozen=True, slots=True)
class RecordOptions:
    output: str = "-"
    interval_s: float = DEFAULT_INTERVAL_S
    duration_s: float | None = None
    devices: str = "all"
    fmt: str = "csv"
    force: bool = False
    cpu_tdp_w: float | None = None  # None: the config file's, if any
    processes: str | None = None  # a second file: one row per GPU process per sample
    gpm: bool = False  # sample activity counters (GPM) too


def _validate(options: RecordOptions) -> list[str]:
    try:
        check_interval(options.interval_s, "--interval")
        selectors = parse_selectors(options.devices)
        if options.duration_s is not None:
            check_seconds(options.duration_s, "--duration")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if options.output == STDOUT:
        check_stdout("the rows", "name a file with -o")
    if options.processes == "-":
        raise UsageError("--processes needs a file (standard output is the device rows)")
    outputs = [options.output]
    if options.processes is not None:
        same = os.path.realpath(options.processes) == os.path.realpath(options.output)
        if same and options.output != "-":
            raise UsageError("--processes must be another file than --output")
        outputs.append(options.processes)
    try:  # every output, before any is created: no empty file is left to block the retry
        for path in outputs:
            check_new(path, options.force)
    except OutputError as exc:
        raise CommandFailed(str(exc)) from None
    return selectors


class _LostReporter:
    """Says once on stderr when a device is lost; the others keep recording."""

    def __call__(self, samples: Sequence[Sample]) -> None:
        for sample in samples:
            if sample.lost:
                print(
                    f"\ngpuscope record: {sample.device_id} lost; recording the others",
                    file=sys.stderr,
                )


class _ActivityReporter:
    """With ``--gpm``, says on stderr when a device's activity counters turn n/a and why (held
    by another tool, stopped), and when they come back: an empty column then has its reason.
    The routine notes (the first sample's) are not news."""

    ROUTINE = frozenset({FIRST_SAMPLE})

    def __init__(self) -> None:
        self._said: dict[str, str | None] = {}

    def __call__(self, samples: Sequence[Sample]) -> None:
        for sample in samples:
            note = sample.reading.activity_note
            if note in self.ROUTINE or sample.lost:
                continue
            if note != self._said.get(sample.device_id):
                if note is not None:
                    print(f"gpuscope record: {sample.device_id}: GPM n/a: {note}", file=sys.stderr)
                elif sample.device_id in self._said:
                    print(f"gpuscope record: {sample.device_id}: GPM back", file=sys.stderr)
                self._said[sample.device_id] = note


def run_record(options: RecordOptions) -> int:
    selectors = _validate(options)
    cpu_model = cpu_power_model(options.cpu_tdp_w)
    with probe_selected(selectors, cpu_model) as (_, devices):
        if options.gpm and (why := no_activity_counters(devices)) is not None:
            raise CommandFailed(why)
        sampler = Sampler(devices, options.interval_s)
        if options.gpm:
            sampler.want_activity("record")
        outputs = NewOutputs(options.force)
        sinks = _start_sinks(outputs, sampler, options)
        try:
            sampler.subscribe(_LostReporter())
            if options.gpm:
                sampler.subscribe(_ActivityReporter())
            elapsed_s = _sample_until_stopped(sampler, sinks[0][1], options, len(devices))
        finally:
            # If a device read hung past stop()'s timeout, leave the fds to the process exit
            # rather than let a late write land on a reused descriptor.
            if not sampler.running:
                outputs.close()
    failure = sampler.error
    # `gpuscope record | head`: the reader closing the pipe is a normal way to stop.
    if failure is not None and not isinstance(failure, BrokenPipeError):
        path = next((path for path, sink in sinks if sink.failed is failure), options.output)
        raise CommandFailed(_describe_failure(path, failure)) from None
    if sys.stderr.isatty():
        where = _where(options.output)
        print(
            f"gpuscope record: {sinks[0][1].rows_written} rows in {elapsed_s:.1f} s to {where}",
            file=sys.stderr,
        )
    return 0


def _start_sinks(
    outputs: NewOutputs, sampler: Sampler, options: RecordOptions
) -> list[tuple[str, RecordingSink]]:
    """Each output made and its header written, then its sink subscribed: the device rows
    first, then the processes'. If one fails, none is left behind (one line, exit 1)."""
    ledger = ProcessEnergyLedger()
    tables: list[tuple[str, RowTable]] = [(options.output, DeviceRows(sampler.device_info))]
    if options.processes is not None:
        tables.append((options.processes, ProcessRows(ledger, ProcessLookups())))
    try:
        with outputs:
            fds = [outputs.open(path) for path, _ in tables]
            sinks = [(path, _sink(fd, options.fmt, table, path)) for fd, (path, table) in
                     zip(fds, tables, strict=True)]  # fmt: skip
    except OutputError as exc:
        raise CommandFailed(str(exc)) from None
    sampler.subscribe(sinks[0][1])
    if len(sinks) > 1:
        sampler.subscribe(ledger.add)  # before the rows that read it
        sampler.subscribe(sinks[1][1])
    return sinks


def _sink(fd: int, fmt: str, table: RowTable, path: str) -> RecordingSink:
    try:
        return RecordingSink(fd, fmt, table)  # writes the CSV header
    except OSError as exc:
        raise OutputError(write_error(_where(path), exc)) from None


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


def _where(path: str) -> str:
    return "stdout" if path == "-" else path


def _describe_failure(path: str, exc: BaseException) -> str:
    """One line for what stopped the recording: a write to ``path``, or the sampler itself."""
    if isinstance(exc, OSError):
        line = write_error(_where(path), exc)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            line += "; rows up to the last whole one are kept"
        return line
    return f"{stopped_line(exc)}; rows up to the last whole one are kept"
