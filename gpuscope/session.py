"""A monitoring session: what the UI shows, owned by a plain object that imports no Textual.

It finds the devices and the workloads, owns the sampler, the remote hosts, the exporter, the
recording, the runs and their results, and it is tested without a terminal. Every method that
may block (probing devices, reading plugins, closing a recording, ``close``) says so; the UI
calls those off its event loop. Runs are driven on threads of their own, and ``on_run_event``
hears each event on that thread, after the session has updated itself (a finished run's result
is in ``results``, and ``changes`` has moved, before anyone is told). ``runs`` and ``results``
only grow, by whole items, so reading them from another thread is safe.

The sampler feeds ``process_lookups`` (what the Processes tab reads, ``ProcessLookups``); saving
results and the report is ``results_files``'s job, run here on a thread that ``close`` awaits.
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gpuscope.intervals import MIN_INTERVAL_S
from gpuscope.measurement.measured_run import MeasuredRun, new_run
from gpuscope.measurement.process_energy import ProcessEnergyLedger
from gpuscope.measurement.run_driver import RunDriver
from gpuscope.measurement.run_params import run_params
from gpuscope.measurement.run_result import RunResult
from gpuscope.measurement.sweep import Sweep, SweepRun, point_params
from gpuscope.measurement.targets import RunTarget, launch_targets, why_not_runnable
from gpuscope.sampler import Sampler
from gpuscope.session_setup import SessionSetup as SessionSetup  # where it was, for callers
from gpuscope.sinks.recording_file import RecordingFile
from gpuscope.telemetry.cpu_estimate import apply_cpu_estimate
from gpuscope.telemetry.discover import Discovery
from gpuscope.telemetry.model import Device
from gpuscope.telemetry.remote_hosts import RemoteHosts
from gpuscope.workloads.api import ParamValue, WorkloadError
from gpuscope.workloads.events import Result, RunEvent
from gpuscope.workloads.registry import Catalog, WorkloadInfo, find_workloads
from gpuscope.workloads.torch_probe import NOT_INSTALLED, torch_installed

# The exporter (prometheus_client, http.server) is imported only to serve, the report's modules
# only to save: neither is needed before the UI's first frame.
if TYPE_CHECKING:
    from gpuscope.sinks.scrape_server import ScrapeServer

QUIT_GRACE_S = 1.0  # on quit, a workload step still running after this is killed
INTERVALS_S = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
CHART_WINDOWS_S = (60.0, 120.0, 300.0, 600.0)
# History is kept for the longest chart window (and a bucket): at any interval it is full after
# ten minutes, and its size is time, not a count (1200 samples a device at 0.5 s, 6000 at 0.1 s).
HISTORY_S = 1.02 * CHART_WINDOWS_S[-1]
HISTORY_LEN = math.ceil(HISTORY_S / MIN_INTERVAL_S) + 1  # a cap: the whole span at 0.05 s

RunListener = Callable[[MeasuredRun, RunEvent], None]


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
        self.results: list[RunResult] = []
        self.sweeps: list[SweepRun] = []
        self.newest_sweep: SweepRun | None = None  # the newest launch, when it was a sweep
        self._run_driver: RunDriver | None = None  # made at the first launch (``_driver``)
        self._launch_choices: tuple[list[RunTarget], list[str]] | None = None  # by ``probe``
        # Counts what changed runs or sweeps (a launch, a stop, a run's event, a sweep's end):
        # a view redraws them when it differs from the count it last drew (``note_change``).
        self.changes = 0
        self._change_count = itertools.count(1)
        self.recording: RecordingFile | None = None
        self.recordings_made: list[Path] = []  # this session's, for the report's timelines
        self.remotes = RemoteHosts(setup.remotes, max(1.0, setup.interval_s))
        self.process_energy = ProcessEnergyLedger()  # each GPU process's share of its energy
        # user, command, host usage of GPU processes: read while its ``shown`` is set
        self.process_lookups = setup.process_lookups(setup.simulated_ids)
        self.exporter: ScrapeServer | None = None
        self.exporter_error: str | None = None
        self.quitting = threading.Event()
        self._threads: list[threading.Thread] = []
        self._activity_owners: set[str] = set()  # asked before the sampler was made
        # activity asked on the UI's loop; the probe's devices stored, or closed if quitting
        self._lock = threading.Lock()

    # -- devices and workloads (blocking: call off a UI's event loop) --------------------------

    def probe(self) -> Discovery:
        """Blocking: find the devices, build the sampler (started by ``start``), export."""
        found = self.setup.discover()
        apply_cpu_estimate(found, self.setup.cpu_model)
        sampler = Sampler(
            found.devices,
            self.setup.interval_s,
            history_len=HISTORY_LEN,
            clock=self.setup.clock,
            history_s=HISTORY_S,
        )
        sampler.subscribe(self.process_lookups.look_up)
        sampler.subscribe(self.process_energy.add)
        with self._lock:
            if self.quitting.is_set():  # closed while probing: what it found is closed here
                found.close()
                return found
            for owner in self._activity_owners:
                sampler.want_activity(owner)
            self.found, self.sampler = found, sampler
        self.launch_choices()  # here, off the UI's loop: it reads torch's version.py
        if self.setup.serve is not None and not self.quitting.is_set():
            self._serve(sampler, found)
        return found

    def start(self) -> None:
        """Start sampling and polling remote hosts (tests tick by hand instead); not once
        closing has begun."""
        if self.setup.autostart and self.sampler is not None and not self.quitting.is_set():
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
        from gpuscope.measurement.job_energy import JobLedger
        from gpuscope.sinks.exporter import describe_listen_error, start_exporter
        from gpuscope.telemetry.job_owner import JobOwners

        assert self.setup.serve is not None
        address, port = self.setup.serve
        infos = [d.info for d in found.devices]
        jobs = JobLedger(JobOwners(), skip_devices=self.setup.simulated_ids)  # as serve does
        sampler.subscribe(jobs.add)
        try:
            self.exporter = start_exporter(
                address, port, sampler, infos, self.setup.host, lambda: tuple(self.results),
                jobs=jobs.uses,
            )  # fmt: skip
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

    def want_activity(self, owner: str, wanted: bool = True) -> None:
        """``Sampler.want_activity`` (a view asks while it shows them), kept until the sampler
        is made; a no-op with ``gpm=False``."""
        if not self.setup.gpm:
            return
        with self._lock:
            (self._activity_owners.add if wanted else self._activity_owners.discard)(owner)
            if self.sampler is not None:
                self.sampler.want_activity(owner, wanted)

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
        """Where a workload can be launched, and a line for each device it cannot (and why).
        Worked out once, by ``probe`` on its thread (torch's version.py is read from disk): the
        devices, the environment and torch do not change while the session runs."""
        if self._launch_choices is None:
            infos = [d.info for d in self.found.devices] if self.found is not None else []
            targets, unavailable = launch_targets(infos)
            if not torch_installed():  # looked up, not imported
                unavailable.insert(0, f"{NOT_INSTALLED} (the bundled workloads need it)")
            if self.found is None:
                return targets, unavailable  # nothing found yet: not kept
            self._launch_choices = (targets, unavailable)
        targets, unavailable = self._launch_choices
        return list(targets), list(unavailable)

    def launch(self, launch: Launch) -> list[MeasuredRun]:
        """Start the runs (together, or one after another) on threads of their own. A sweep's
        runs are made as its points come up: none is returned, see ``sweeps``. WorkloadError,
        one line, where the workload may not run on a device (``why_not_runnable``): nothing
        starts."""
        targets = self._targets(launch.devices)
        for target in targets:
            refused = why_not_runnable(launch.workload, target)
            if refused is not None:
                raise WorkloadError(refused)
        if launch.sweep is not None:
            self.newest_sweep = self._launch_sweep(launch, launch.sweep, targets)
            self.note_change()
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
            for target in targets
        ]
        driver = self._driver()
        driver.add(runs)
        self.note_change()
        groups = [runs] if launch.one_at_a_time else [[run] for run in runs]
        for group in groups:
            self._in_background(functools.partial(driver.drive_in_turn, group), "gpuscope-run")
        return runs

    def _targets(self, devices: Sequence[str]) -> list[RunTarget]:
        """The launch targets named (a device no longer offered: its telemetry unknown)."""
        offered = {t.torch_device: t for t in self.launch_choices()[0]}
        return [offered.get(device, RunTarget(device)) for device in devices]

    def _launch_sweep(self, launch: Launch, sweep: Sweep, targets: list[RunTarget]) -> SweepRun:
        """Each device walks the values in turn (``RunDriver.walk``); the devices together, or
        one after another."""
        driver = self._driver()
        sweep_run = driver.new_sweep(launch.workload.name, sweep, launch.devices)
        each = {t: point_params(launch.workload, launch.given, sweep, t) for t in targets}

        def make_run(target: RunTarget, value: ParamValue) -> MeasuredRun:
            return new_run(
                launch.workload,
                target,
                each[target][value],
                launch.duration_s,
                launch.warmup_s,
                launch.hang_timeout_s,
                swept=sweep.param,
            )

        def walk(group: list[RunTarget]) -> None:
            driver.walk(sweep_run, group, make_run)
            self.note_change()  # its last points, beyond the memory boundary, come with no event

        groups = [targets] if launch.one_at_a_time else [[t] for t in targets]
        for group in groups:
            self._in_background(functools.partial(walk, group), "gpuscope-sweep")
        return sweep_run

    def _driver(self) -> RunDriver:
        """The driver of this session's runs and sweeps, which ``runs`` and ``sweeps`` list."""
        if self._run_driver is None:
            assert self.sampler is not None and self.found is not None
            self._run_driver = RunDriver(
                self.sampler,
                self.found,
                self._heard,
                self.setup.run_factory,
                runs=self.runs,
                sweeps=self.sweeps,
            )
        return self._run_driver

    def note_change(self) -> None:
        """Runs or sweeps changed: ``changes`` moves on, from any thread (one ``next`` of a
        counter holds the GIL: no change is lost between two threads), after the change itself,
        so a view that sees the new count draws what changed."""
        self.changes = next(self._change_count)

    def _heard(self, run: MeasuredRun, event: RunEvent) -> None:
        if isinstance(event, Result) and run.result is not None:
            self.results.append(run.result)
        self.note_change()
        if self.on_run_event is not None:
            self.on_run_event(run, event)

    def stop_runs(self) -> int:
        """Ask every unfinished run to stop (partial results follow), and every sweep to start
        no more points; how many runs were asked."""
        asked = self._run_driver.stop() if self._run_driver is not None else 0
        self.note_change()
        return asked

    # -- saving results ------------------------------------------------------------------------

    def save_results(self) -> Path:
        """The results table to a new CSV in the record folder; OSError if it cannot be written."""
        from gpuscope.results_files import save_results_table  # the report's modules: when asked

        return save_results_table(self.results, self.setup.record_dir)

    def save_report(self, done: Callable[[Path | None, str | None], None]) -> None:
        """The results as JSON and a report made from them and this session's recordings, new
        files in the record folder, on a thread (``results_files.save_report``). ``done`` is
        called on that thread with the report's path, or None and why."""
        from gpuscope.results_files import report_contents, save_report

        contents = report_contents(self.results, self.sweeps, self.recordings_made)
        folder = self.setup.record_dir
        self._in_background(lambda: done(*save_report(contents, folder)), "gpuscope-save-report")

    # -- ending --------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop everything and wait for it (blocking): runs, recording, sampler, hosts, exporter."""
        self.quitting.set()  # plugin reading stops at once
        with self._lock:  # a probe finishing now has stored its devices, or closes them itself
            sampler, found = self.sampler, self.found
        for sweep in self.sweeps:
            sweep.stop()
        for run in self.runs:
            if not run.finished:
                run.stop(grace_s=QUIT_GRACE_S)
        if self.recording is not None:
            self.recording.stop()
            self.recording = None
        if sampler is not None:
            sampler.stop()
        self.remotes.stop()
        if self.exporter is not None:
            self.exporter.shutdown()
            self.exporter.server_close()
        for thread in self._threads:
            thread.join(QUIT_GRACE_S + 6.0)
        if found is not None:
            found.close()

    def _in_background(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    @property
    def busy(self) -> bool:
        """A run or a recording's closing is still in progress on a thread."""
        return any(t.is_alive() for t in self._threads)


def step_choice(choices: Sequence[float], current: float, step: int) -> float:
    """The choice ``step`` places from the one nearest ``current``, kept within the list."""
    nearest = min(range(len(choices)), key=lambda i: abs(choices[i] - current))
    return choices[min(len(choices) - 1, max(0, nearest + step))]
