"""A monitoring session: what the UI shows, owned by a plain object that imports no Textual.

It finds the devices and the workloads, owns the sampler, the remote hosts, the exporter, the
recording, the runs and their reports, and it is tested without a terminal. Every method that
may block (probing devices, reading plugins, closing a recording, ``close``) says so; the UI
calls those off its event loop. Runs are driven on threads of their own, and ``on_run_event``
hears each event on that thread, after the session has updated itself (a finished run's report
is in ``reports`` before anyone is told). ``runs`` and ``reports`` only grow, by whole items, so
reading them from another thread is safe.
"""

from __future__ import annotations

import functools
import math
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gpuscope.measurement.measured_run import (
    MeasuredRun,
    RunFactory,
    child_process_run,
    new_run,
)
from gpuscope.measurement.process_energy import ProcessEnergyLedger
from gpuscope.measurement.run_params import run_params
from gpuscope.measurement.run_report import RunReport
from gpuscope.measurement.sweep import Sweep, SweepRun, point_params
from gpuscope.measurement.targets import RunTarget, launch_targets
from gpuscope.report.document import render_report
from gpuscope.report.inputs import ReportInputError, load_inputs
from gpuscope.sampler import MIN_INTERVAL_S, Sampler
from gpuscope.sinks.exporter import describe_listen_error, start_exporter
from gpuscope.sinks.output_files import write_error_in, write_stamped
from gpuscope.sinks.recording_file import RecordingFile
from gpuscope.sinks.reports import reports_json, sweep_json, write_reports_csv
from gpuscope.sinks.scrape_server import ScrapeServer
from gpuscope.telemetry.cpu_estimate import CpuPowerModel, with_cpu_estimate
from gpuscope.telemetry.discover import Discovery, discover
from gpuscope.telemetry.model import Device, Sample
from gpuscope.telemetry.processes import (
    cached_usage,
    check_process,
    forget_exited,
    forget_usage,
    host_usage,
    process_details,
)
from gpuscope.telemetry.remote_hosts import RemoteHosts
from gpuscope.workloads.api import ParamValue
from gpuscope.workloads.events import ErrorKind, Failed, Result, RunEvent
from gpuscope.workloads.registry import Catalog, WorkloadInfo, find_workloads
from gpuscope.workloads.torch_probe import NOT_INSTALLED, torch_installed

QUIT_GRACE_S = 1.0  # on quit, a workload step still running after this is killed
INTERVALS_S = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
CHART_WINDOWS_S = (60.0, 120.0, 300.0, 600.0)
# History is kept for the longest chart window (and a bucket): at any interval it is full after
# ten minutes, and its size is time, not a count (1200 samples a device at 0.5 s, 6000 at 0.1 s).
HISTORY_S = 1.02 * CHART_WINDOWS_S[-1]
HISTORY_LEN = math.ceil(HISTORY_S / MIN_INTERVAL_S) + 1  # a cap: the whole span at 0.05 s

RunListener = Callable[[MeasuredRun, RunEvent], None]


@dataclass
class SessionSetup:
    """What the session monitors and how it runs workloads; tests and ``--demo`` swap parts."""

    discover: Callable[[], Discovery] = discover
    run_factory: RunFactory = child_process_run
    find_catalog: Callable[[], Catalog] | None = None  # default: bundled + plugins + entry points
    plugin_files: tuple[Path, ...] = ()
    interval_s: float = 0.5
    record_dir: Path = field(default_factory=Path.cwd)
    host: str = field(default_factory=socket.gethostname)
    clock: Callable[[], float] = time.monotonic
    autostart: bool = True  # False: the sampler is ticked by hand (tests)
    simulated_ids: frozenset[str] = frozenset()  # shown as SIMULATED
    remotes: tuple[str, ...] = ()  # exporter URLs whose devices join the local ones
    serve: tuple[str, int] | None = None  # export /metrics (devices + results) too
    cpu_model: CpuPowerModel | None = None  # estimate a CPU without RAPL (--cpu-tdp)


@dataclass(frozen=True, slots=True)
class Launch:
    """What to run: a workload with the parameters the user set on one or more devices (each
    device's defaults for the rest: ``run_params``); with a sweep, one run per value of the
    swept parameter on each device, in turn."""

    workload: WorkloadInfo
    given: dict[str, ParamValue]  # checked values; BEST for a precision
    devices: tuple[str, ...]  # torch devices, as ``launch_choices`` names them
    duration_s: float
    warmup_s: float
    one_at_a_time: bool
    sweep: Sweep | None = None  # its values checked with ``given`` (``point_params``)
    hang_timeout_s: float | None = None  # None: by the run's phase, as bench


class Session:
    def __init__(self, setup: SessionSetup, on_run_event: RunListener | None = None) -> None:
        self.setup = setup
        self.on_run_event = on_run_event
        self.found: Discovery | None = None
        self.sampler: Sampler | None = None
        self.catalog: Catalog | None = None
        self.runs: list[MeasuredRun] = []
        self.reports: list[RunReport] = []
        self.sweeps: list[SweepRun] = []
        self.newest_sweep: SweepRun | None = None  # the newest launch, when it was a sweep
        # Counts what changed runs or sweeps (a launch, a stop, a run's event, a sweep's end):
        # a view redraws them when it differs from the count it last drew.
        self.changes = 0
        self.recording: RecordingFile | None = None
        self.recordings_made: list[Path] = []  # this session's, for the report's timelines
        self.remotes = RemoteHosts(setup.remotes, max(1.0, setup.interval_s))
        self.process_energy = ProcessEnergyLedger()  # each GPU process's share of its energy
        self.show_process_details = threading.Event()  # set while the Processes tab is shown
        self._processes_looked_up = False  # whether the last sample's processes were looked up
        # The pids whose host usage the view needs: those of the rows in sight, or None for
        # all (sorted by a host column). Set by the UI thread, read here: one reference.
        self.host_usage_wanted: frozenset[int] | None = None
        self.exporter: ScrapeServer | None = None
        self.exporter_error: str | None = None
        self.quitting = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- devices and workloads (blocking: call off a UI's event loop) --------------------------

    def probe(self) -> Discovery:
        """Blocking: find the devices, build the sampler (started by ``start``), export."""
        found = self.setup.discover()
        found.devices = with_cpu_estimate(found.devices, self.setup.cpu_model)
        sampler = Sampler(
            found.devices,
            self.setup.interval_s,
            history_len=HISTORY_LEN,
            clock=self.setup.clock,
            history_s=HISTORY_S,
        )
        sampler.subscribe(self._look_up_processes)
        sampler.subscribe(self.process_energy.add)
        self.found, self.sampler = found, sampler
        if self.setup.serve is not None and not self.quitting.is_set():
            self._serve(sampler, found)
        return found

    def start(self) -> None:
        """Start sampling and polling remote hosts (tests tick by hand instead)."""
        if self.setup.autostart and self.sampler is not None:
            self.remotes.start()
            self.sampler.start()

    def find_catalog(self) -> Catalog:
        """Blocking: reads plugins (in a child process, up to 30 s); ``close`` cuts it short."""
        if self.setup.find_catalog is not None:
            catalog = self.setup.find_catalog()
        else:
            catalog = find_workloads(plugin_files=self.setup.plugin_files, cancel=self.quitting)
        self.catalog = catalog
        return catalog

    def _serve(self, sampler: Sampler, found: Discovery) -> None:
        assert self.setup.serve is not None
        address, port = self.setup.serve
        infos = [d.info for d in found.devices]
        try:
            self.exporter = start_exporter(
                address, port, sampler, infos, self.setup.host, lambda: tuple(self.reports)
            )
        except OSError as exc:
            self.exporter_error = describe_listen_error(f"{address}:{port}", exc, "serve on")

    def join_remote_devices(self, known: Sequence[str]) -> list[Device]:
        """Remote devices seen for the first time join the sampler; returned for their panels."""
        if self.sampler is None:
            return []
        added = self.remotes.new_devices(known)
        for device in added:
            self.sampler.add_device(device)
        return list(added)

    def _look_up_processes(self, samples: Sequence[Sample]) -> None:
        """On the sampler thread: fill the caches the processes view reads (user, command,
        host CPU %, RSS, start time, whether it may be signalled), so the view never touches
        /proc. Only while someone looks (``show_process_details``), and host usage only of
        the rows in sight (``host_usage_wanted``): two /proc reads a process, ~25 µs here, and
        200 processes with 40 rows in sight need not cost 200."""
        if not self.show_process_details.is_set():
            self._processes_looked_up = False
            return
        if not self._processes_looked_up:  # shown again: a CPU % over the hidden time would
            forget_usage()  # be an average of it; user and command stay (no n/a flicker)
            self._processes_looked_up = True
        alive: set[int] = set()
        wanted = self.host_usage_wanted
        for sample in samples:
            if sample.device_id in self.setup.simulated_ids:
                continue
            for process in sample.reading.processes or ():
                process_details(process.pid)
                check_process(process.pid, sample.vendor)  # may it be signalled
                # every process once (its start time, for the time column and for signals)
                if wanted is None or process.pid in wanted or cached_usage(process.pid) is None:
                    host_usage(process.pid)
                alive.add(process.pid)
        forget_exited(alive)

    def step_interval(self, step: int) -> None:
        if self.sampler is not None:
            self.sampler.interval_s = step_choice(INTERVALS_S, self.sampler.interval_s, step)

    # -- recording -----------------------------------------------------------------------------

    def start_recording(self) -> RecordingFile:
        """OSError if the file cannot be made; RuntimeError while devices are being probed."""
        if self.sampler is None:
            raise RuntimeError("still probing devices")
        self.recording = RecordingFile(self.sampler, self.setup.record_dir)
        self.recordings_made.append(self.recording.path)
        return self.recording

    def stop_recording(self) -> RecordingFile | None:
        """Stop taking rows now; the file is closed on a thread (it waits for a tick)."""
        recording, self.recording = self.recording, None
        if recording is not None:
            self._in_background(recording.stop, "gpuscope-close-recording")
        return recording

    def failed_recording(self) -> RecordingFile | None:
        """The recording, stopped, if a write failed (disk full); whole rows are kept."""
        recording = self.recording
        if recording is not None and recording.error is not None:
            return self.stop_recording()
        return None

    # -- runs ----------------------------------------------------------------------------------

    def launch_choices(self) -> tuple[list[RunTarget], list[str]]:
        """Where a workload can be launched, and a line for each device it cannot (and why)."""
        infos = [d.info for d in self.found.devices] if self.found is not None else []
        targets, unavailable = launch_targets(infos)
        if not torch_installed():  # looked up, not imported
            unavailable.insert(0, f"{NOT_INSTALLED} (the bundled workloads need it)")
        return targets, unavailable

    def launch(self, launch: Launch) -> list[MeasuredRun]:
        """Start the runs (together, or one after another) on threads of their own. A sweep's
        runs are made as its points come up: none is returned, see ``sweeps``."""
        self.changes += 1
        if launch.sweep is not None:
            self.newest_sweep = self._launch_sweep(launch, launch.sweep)
            return []
        self.newest_sweep = None
        runs = [
            new_run(
                launch.workload,
                target,
                run_params(launch.workload, launch.given, target),
                launch.duration_s,
                launch.warmup_s,
                launch.hang_timeout_s,
            )
            for target in self._targets(launch.devices)
        ]
        self.runs.extend(runs)
        groups = [runs] if launch.one_at_a_time else [[run] for run in runs]
        for group in groups:
            self._in_background(functools.partial(self._drive, group), "gpuscope-run")
        return runs

    def _targets(self, devices: Sequence[str]) -> list[RunTarget]:
        """The launch targets named (a device no longer offered: its telemetry unknown)."""
        offered = {t.torch_device: t for t in self.launch_choices()[0]}
        return [offered.get(device, RunTarget(device)) for device in devices]

    def _launch_sweep(self, launch: Launch, sweep: Sweep) -> SweepRun:
        """Each device walks the values in turn (``SweepRun``); the devices together, or one
        after another."""
        walk = SweepRun(launch.workload.name, sweep, launch.devices)
        self.sweeps.append(walk)
        targets = self._targets(launch.devices)
        each = {
            t.torch_device: point_params(launch.workload, launch.given, sweep, t) for t in targets
        }
        by_device = {t.torch_device: t for t in targets}

        def make_run(device: str, value: ParamValue) -> MeasuredRun:
            run = new_run(
                launch.workload,
                by_device[device],
                each[device][value],
                launch.duration_s,
                launch.warmup_s,
                launch.hang_timeout_s,
                swept=sweep.param,
            )
            self.runs.append(run)
            return run

        def walk_devices(devices: tuple[str, ...]) -> None:
            for device in devices:
                walk.walk(device, functools.partial(make_run, device), self._drive_one)
            self.changes += 1  # its last points, beyond the memory boundary, come with no event

        groups = [launch.devices] if launch.one_at_a_time else [(d,) for d in launch.devices]
        for group in groups:
            self._in_background(functools.partial(walk_devices, group), "gpuscope-sweep")
        return walk

    def _drive_one(self, run: MeasuredRun) -> None:
        self._drive([run])

    def _drive(self, runs: list[MeasuredRun]) -> None:
        assert self.sampler is not None and self.found is not None
        for run in runs:
            if run.stop_requested:
                self._heard(run, run.cancel())
                continue
            try:
                run.drive(self.sampler, self.found, self._heard, self.setup.run_factory)
            except Exception as exc:  # gpuscope's own failure: the run says so, the UI goes on
                failed = Failed(ErrorKind.EXCEPTION, f"gpuscope could not drive it: {exc!r}")
                run.fail(failed)
                self._heard(run, failed)

    def _heard(self, run: MeasuredRun, event: RunEvent) -> None:
        self.changes += 1
        if isinstance(event, Result) and run.report is not None:
            self.reports.append(run.report)
        if self.on_run_event is not None:
            self.on_run_event(run, event)

    def stop_runs(self) -> int:
        """Ask every unfinished run to stop (partial results follow), and every sweep to start
        no more points; how many runs were asked."""
        for sweep in self.sweeps:  # first: a point made meanwhile sees it and never starts
            sweep.stop()
        running = [run for run in self.runs if not run.finished]
        for run in running:
            run.stop()
        self.changes += 1
        return len(running)

    def save_results(self) -> Path:
        """The results table to a new CSV in the record folder; OSError if it cannot be written."""
        reports = list(self.reports)
        folder = self.setup.record_dir
        return write_stamped(
            folder, "gpuscope-results", "csv", lambda f: write_reports_csv(reports, f)
        )

    def save_report(self, done: Callable[[Path | None, str | None], None]) -> None:
        """The results as JSON (each sweep in a file of its own, as ``bench --sweep --json``)
        and a report made from them and this session's recordings, new files in the record
        folder, on a thread (matplotlib takes a second or two). ``done`` is called on that
        thread with the report's path, or None and why."""
        sweeps = []
        for walk in list(self.sweeps):
            finished = walk.finished  # first: a point recorded meanwhile is extra, not missing
            points = walk.settled()
            if points:
                sweeps.append((walk, points, finished))
        in_sweeps = {id(r.report) for s in self.sweeps for r in s.runs if r.report is not None}
        reports = [r for r in self.reports if id(r) not in in_sweeps]  # each figure once
        recordings, folder = list(self.recordings_made), self.setup.record_dir

        def work() -> None:
            try:
                inputs = []
                if reports:
                    inputs.append(_new_file(folder, "gpuscope-results", reports_json(reports)))
                for walk, points, finished in sweeps:
                    text = sweep_json(walk.workload, walk.sweep, points, finished)
                    inputs.append(_new_file(folder, "gpuscope-sweep", text))
                made = load_inputs([*inputs, *(r for r in recordings if r.exists())])
                page = render_report(made, folder / "gpuscope-report.html").text  # in memory
                report = write_stamped(folder, "gpuscope-report", "html", lambda f: f.write(page))
            except OSError as exc:
                done(None, f"cannot save the report: {write_error_in(folder, exc)}")
            except ReportInputError as exc:
                done(None, f"cannot make the report: {exc}")
            else:
                done(report, None)

        self._in_background(work, "gpuscope-save-report")

    # -- ending --------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop everything and wait for it (blocking): runs, recording, sampler, hosts, exporter."""
        self.quitting.set()  # plugin reading stops at once
        for sweep in self.sweeps:
            sweep.stop()
        for run in self.runs:
            if not run.finished:
                run.stop(grace_s=QUIT_GRACE_S)
        if self.recording is not None:
            self.recording.stop()
            self.recording = None
        if self.sampler is not None:
            self.sampler.stop()
        self.remotes.stop()
        if self.exporter is not None:
            self.exporter.shutdown()
            self.exporter.server_close()
        for thread in self._threads:
            thread.join(QUIT_GRACE_S + 6.0)
        if self.found is not None:
            self.found.close()

    def _in_background(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    @property
    def busy(self) -> bool:
        """A run or a recording's closing is still in progress on a thread."""
        return any(t.is_alive() for t in self._threads)


def _new_file(folder: Path, stem: str, text: str) -> Path:
    return write_stamped(folder, stem, "json", lambda stream: stream.write(text + "\n"))


def step_choice(choices: Sequence[float], current: float, step: int) -> float:
    """The choice ``step`` places from the one nearest ``current``, kept within the list."""
    nearest = min(range(len(choices)), key=lambda i: abs(choices[i] - current))
    return choices[min(len(choices) - 1, max(0, nearest + step))]
