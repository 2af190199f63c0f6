"""Driving runs: each ``MeasuredRun`` to its end against one sampler, a sweep's points over its
devices in turn with the out-of-memory boundary (``SweepRun``), and one stop that reaches them
all. ``bench``, ``suite`` and the UI's session drive their runs here, so a run is started,
failed, cancelled and stopped the same way in each; what a run's events mean to a face (a
progress line, a notice) is the listener it gives.

``drive`` and ``walk`` block: a UI calls them on threads of its own. ``runs`` and ``sweeps``
only grow, by whole items, so another thread may read them meanwhile.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable, Sequence

from gpuscope.measurement.measured_run import MeasuredRun, RunFactory, child_process_run
from gpuscope.measurement.sweep import Sweep, SweepRun
from gpuscope.measurement.targets import RunTarget
from gpuscope.sampler import Sampler
from gpuscope.telemetry.discover import Discovery
from gpuscope.workloads.api import ParamValue
from gpuscope.workloads.events import ErrorKind, Failed, RunEvent
from gpuscope.workloads.runner import DEFAULT_GRACE_S

RunListener = Callable[[MeasuredRun, RunEvent], None]
PointRun = Callable[[RunTarget, ParamValue], MeasuredRun]  # a sweep point's run, not started


class RunDriver:
    """Runs against one sampler and one discovery. ``on_event`` hears every event of a run
    driven without a listener of its own, on the driving thread, after the run has updated
    itself. ``runs`` and ``sweeps``: where the runs and sweeps made here are kept (a session
    passes the lists its views read)."""

    def __init__(
        self,
        sampler: Sampler,
        found: Discovery,
        on_event: RunListener | None = None,
        run_factory: RunFactory = child_process_run,
        runs: list[MeasuredRun] | None = None,
        sweeps: list[SweepRun] | None = None,
    ) -> None:
        self.sampler = sampler
        self.found = found
        self.on_event = on_event
        self.run_factory = run_factory
        self.runs: list[MeasuredRun] = [] if runs is None else runs
        self.sweeps: list[SweepRun] = [] if sweeps is None else sweeps

    def add(self, runs: Sequence[MeasuredRun]) -> None:
        """Runs to be driven later (their order kept): ``stop`` reaches them meanwhile."""
        self.runs.extend(runs)

    def drive(self, run: MeasuredRun, on_event: RunListener | None = None) -> None:
        """Blocking: ``run`` to its end, each event to ``on_event`` (else the driver's). A run
        stopped before its turn ends at once, stopped, with no child; gpuscope's own failure
        while driving becomes the run's failure, and the caller goes on."""
        if not any(known is run for known in self.runs):  # by identity: runs compare by value
            self.runs.append(run)
        heard = on_event if on_event is not None else self._heard
        if run.stop_requested:
            heard(run, run.cancel())
            return
        try:
            run.drive(self.sampler, self.found, heard, self.run_factory)
        except Exception as exc:  # gpuscope's own failure: the run says so, --debug shows where
            failed = Failed(
                ErrorKind.EXCEPTION,
                f"gpuscope could not drive it: {exc!r}",
                traceback=traceback.format_exc(),
            )
            run.fail(failed)
            heard(run, failed)

    def drive_in_turn(self, runs: Sequence[MeasuredRun]) -> None:
        """Blocking: each run to its end, one after another."""
        for run in runs:
            self.drive(run)

    def new_sweep(self, workload: str, sweep: Sweep, devices: Sequence[str]) -> SweepRun:
        """A sweep to walk (``walk``), kept so that ``stop`` reaches it."""
        sweep_run = SweepRun(workload, sweep, tuple(devices))
        self.sweeps.append(sweep_run)
        return sweep_run

    def walk(
        self,
        sweep_run: SweepRun,
        targets: Sequence[RunTarget],
        make_run: PointRun,
        drive: Callable[[MeasuredRun], None] | None = None,
    ) -> None:
        """Blocking: the sweep's values on each target in turn, smallest first: each point's
        run made (``make_run``) and driven to its end (``drive``, else ``self.drive``),
        skipped beyond its device's memory boundary, or stopped once ``stop`` was called."""

        def made(target: RunTarget, value: ParamValue) -> MeasuredRun:
            run = make_run(target, value)
            self.runs.append(run)
            return run

        for target in targets:
            sweep_run.walk_device(
                target.torch_device, functools.partial(made, target), drive or self.drive
            )

    def stop(self, grace_s: float = DEFAULT_GRACE_S) -> int:
        """Every sweep starts no more points, every unfinished run is asked to stop (a partial
        result follows; its child is killed after ``grace_s``); how many runs were asked."""
        for sweep_run in self.sweeps:  # first: a point made meanwhile sees it and never starts
            sweep_run.stop()
        running = [run for run in self.runs if not run.finished]
        for run in running:
            run.stop(grace_s)
        return len(running)

    def _heard(self, run: MeasuredRun, event: RunEvent) -> None:
        if self.on_event is not None:
            self.on_event(run, event)
