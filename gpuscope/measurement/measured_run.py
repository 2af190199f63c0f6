"""One workload run on one device, measured: the child's events joined with the sampler's energy.

``gpuscope bench`` and the TUI both drive runs through this, so the two give the same figures
the same way. The result's energy comes from a sampler window over the measured stretch;
the live points in between (throughput and work per joule every progress event) come from the
sampler's history, so a live view costs no extra device reads.
"""

from __future__ import annotations

import bisect
import enum
import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from gpuscope.measurement.run_errors import describe_error
from gpuscope.measurement.run_params import Emulated, RunParams
from gpuscope.measurement.run_result import RunResult, build_result
from gpuscope.measurement.sharing import Sharing, SharingWatch
from gpuscope.measurement.targets import RunTarget, device_label, telemetry_for
from gpuscope.sampler import Sampler, WindowResult
from gpuscope.telemetry.discover import Discovery
from gpuscope.telemetry.model import DeviceInfo, EnergySource, Sample
from gpuscope.workloads.child import RunSpec
from gpuscope.workloads.events import (
    ErrorKind,
    Failed,
    FirstStep,
    Phase,
    Progress,
    Result,
    RunEvent,
    Started,
    WarmupDone,
)
from gpuscope.workloads.registry import WorkloadInfo
from gpuscope.workloads.runner import DEFAULT_GRACE_S, WorkloadRun


class EventSource(Protocol):
    """What drives a run: ``WorkloadRun``, or a simulated stand-in in the demo and tests."""

    def events(self) -> Iterator[RunEvent]: ...

    def stop(self, grace_s: float = ...) -> None: ...


RunFactory = Callable[[RunSpec, float | None], EventSource]  # (spec, hang_timeout_s)


def child_process_run(spec: RunSpec, hang_timeout_s: float | None) -> EventSource:
    return WorkloadRun(spec, hang_timeout_s=hang_timeout_s)


@dataclass(frozen=True, slots=True)
class LivePoint:
    """One progress interval: throughput over it and, where the device has energy, work per J."""

    elapsed_s: float  # measured seconds at the end of the interval (warm-up excluded)
    throughput: float  # units per second over the interval
    avg_power_w: float | None
    work_per_joule: float | None
    energy_source: EnergySource | None


class RunState(enum.Enum):
    STARTING = "starting"
    WARMING_UP = "warming up"
    MEASURING = "measuring"
    DONE = "done"
    FAILED = "failed"


_run_ids = itertools.count(1)
# Before a run's warm-up: its child's start (torch import, model build) and first step, roughly,
# on a small CPU; not measured. For planning: a suite's budget, a sweep's time.
START_UP_S = 6.0


@dataclass
class MeasuredRun:
    """State of one run, updated as its events arrive. ``drive`` blocks: call it on a thread
    other than a UI's. Reading the fields from another thread is safe (each is replaced whole)."""

    workload: WorkloadInfo
    device: str  # torch device: "cpu", "cuda:0"
    params: dict[str, Any]
    duration_s: float = 10.0
    warmup_s: float = 2.0
    hang_timeout_s: float | None = None  # None: by phase (runner.HangLimits)
    swept: str | None = None  # the parameter a sweep varies: the label names its value
    chosen: dict[str, str] = field(default_factory=dict)  # params chosen for the device: why
    emulated: Emulated | None = None  # its precision is emulated on the device (run_params)
    precision_param: str | None = None  # the parameter naming its number format
    more_time: str = "a longer hang limit (--hang-timeout, the launcher's hang limit)"
    run_id: int = field(default_factory=lambda: next(_run_ids))
    state: RunState = RunState.STARTING
    state_since: float | None = None  # time.monotonic() when the state began (event arrival)
    child_pid: int | None = None  # the workload's process, once it is set up
    reached: Phase = Phase.SETUP  # the furthest phase its events told of
    device_name: str | None = None
    telemetry: DeviceInfo | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # e.g. a fact dropped for not being JSON
    live: list[LivePoint] = field(default_factory=list)
    units: float = 0.0
    seconds: float = 0.0
    result: RunResult | None = None
    error: Failed | None = None  # its message in one line, fit for a user (describe_error)
    _source: EventSource | None = field(default=None, repr=False)
    _stop_requested: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def label(self) -> str:
        point = f" {self.swept}={self.params.get(self.swept)}" if self.swept else ""
        return f"{self.workload.name}{point} on {device_label(self.device, self.telemetry)}"

    @property
    def first_step_done(self) -> bool:
        """A first step may compile or autotune: the UI says so while it runs."""
        return self.reached in (Phase.WARM_UP, Phase.MEASURING)

    @property
    def precision(self) -> str | None:
        """The number format it runs in (``dtype=bf16``: "bf16"), where it names one."""
        value = self.params.get(self.precision_param) if self.precision_param else None
        return str(value) if value is not None else None

    @property
    def finished(self) -> bool:
        return self.state in (RunState.DONE, RunState.FAILED)

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested.is_set()

    def stop(self, grace_s: float = DEFAULT_GRACE_S) -> None:
        """Ask the run to finish its current step (a partial result still arrives); the child
        is killed if it has not stopped after ``grace_s``."""
        self._stop_requested.set()
        if self._source is not None:
            self._source.stop(grace_s)

    def drive(
        self,
        sampler: Sampler,
        found: Discovery,
        on_event: Callable[[MeasuredRun, RunEvent], None] | None = None,
        run_factory: RunFactory = child_process_run,
    ) -> None:
        """Run to the end; ``on_event`` is called after each event has updated this object."""
        spec = RunSpec(
            self.workload.ref,
            self.device,
            self.params,
            self.duration_s,
            self.warmup_s,
            setup_timeout_s=self.workload.setup_timeout_s,
        )
        self._source = run_factory(spec, self.hang_timeout_s)
        if self._stop_requested.is_set():
            self._source.stop()
        window = f"run{self.run_id}:{self.label}"
        window_open = False
        last: tuple[float, float, float] | None = None  # (units, seconds, received_s)
        watch: tuple[SharingWatch, float | None] | None = None  # others on the device, since
        try:
            for event in self._source.events():
                if isinstance(event, Started):
                    self.child_pid = event.pid or None
                    self.reached = Phase.FIRST_STEP
                    self.device_name = event.device_name
                    self.facts = dict(event.facts)
                    self.notes = list(event.notes)
                    self.telemetry = telemetry_for(
                        self.device, event.device_uuid, found, known=self.telemetry
                    )
                    self.state, self.state_since = RunState.WARMING_UP, event.received_s
                elif isinstance(event, FirstStep):
                    self.reached = Phase.WARM_UP
                elif isinstance(event, WarmupDone):
                    self.reached = Phase.MEASURING
                    sharing = SharingWatch(self.telemetry, self.child_pid)  # reads /proc: first
                    sampler.begin_window(window)
                    window_open = True
                    watch = (sharing, sampler_now(sampler, self.telemetry))  # the edge sample
                    last = (0.0, 0.0, event.received_s)
                    self.state, self.state_since = RunState.MEASURING, event.received_s
                elif isinstance(event, Progress):
                    last = self._progress(event, last, sampler)
                elif isinstance(event, Result):
                    result = _close(sampler, window, self.telemetry) if window_open else None
                    window_open = False
                    others = _others(watch, sampler, self.telemetry, event.peak_mem_mib)
                    self._finish(event, result, others)
                elif isinstance(event, Failed):
                    if window_open:
                        sampler.end_window(window)
                        window_open = False
                    self.fail(event)
                if on_event is not None:
                    on_event(self, event)
        finally:
            if window_open:  # a failure of gpuscope's own mid-run must not leave it open
                sampler.end_window(window)

    def cancel(self) -> Failed:
        """End a run that was stopped before its turn came (it never started): failed, stopped."""
        stopped = Failed(ErrorKind.STOPPED, "stopped before it started")
        self.fail(stopped)
        return stopped

    def fail(self, event: Failed) -> None:
        """End the run as failed (the runner's error, or the caller's when driving it failed)."""
        self.error = replace(event, message=describe_error(event, self))
        self.state = RunState.FAILED

    def _progress(
        self, event: Progress, last: tuple[float, float, float] | None, sampler: Sampler
    ) -> tuple[float, float, float]:
        units, seconds = event.units, event.seconds
        self.units, self.seconds = units, seconds
        now = (units, seconds, event.received_s)
        if last is None or seconds <= last[1]:
            return now
        throughput = (units - last[0]) / (seconds - last[1])
        power = None
        if self.telemetry is not None:
            # the stretch since the last event and a little before: not the whole history
            history = sampler.history_since(self.telemetry.device_id, last[2] - 5.0)
            power = average_power(history, last[2], event.received_s)
        watts, source = power if power is not None else (None, None)
        self.live = [
            *self.live,
            LivePoint(seconds, throughput, watts, throughput / watts if watts else None, source),
        ]
        return now

    def _finish(
        self, event: Result, window: WindowResult | None, sharing: Sharing | None = None
    ) -> None:
        device_name = self.device_name
        if self.device == "cpu":
            device_name = self.telemetry.name if self.telemetry else None
        self.units, self.seconds = event.units, event.seconds
        self.result = build_result(
            self.workload.name,
            self.device,
            self.workload.unit,
            self.params,
            event,
            window,
            self.telemetry,
            device_name,
            self.facts,
            self.notes,
            ended_wall_s=time.time(),  # the result arrives as the measured stretch ends
            chosen=self.chosen,
            emulated=self.emulated.head() if self.emulated is not None else None,
            sharing=sharing,
            precision_param=self.precision_param,
        )
        self.state = RunState.DONE


def new_run(
    workload: WorkloadInfo,
    target: RunTarget,
    params: RunParams,
    duration_s: float,
    warmup_s: float,
    hang_timeout_s: float | None = None,
    swept: str | None = None,
    more_time: str | None = None,
) -> MeasuredRun:
    """A run of ``workload`` on ``target`` with the parameters resolved for it: bench, suite,
    the sweeps and the UI's session make their runs here. ``more_time``: how the caller gives
    a slow run more time, for the message if it hangs (bench and the UI: a hang limit)."""
    run = MeasuredRun(
        workload,
        target.torch_device,
        dict(params.values),
        duration_s=duration_s,
        warmup_s=warmup_s,
        hang_timeout_s=hang_timeout_s,
        swept=swept,
        telemetry=target.telemetry,
        chosen=dict(params.chosen),
        emulated=params.emulated,
        precision_param=params.precision_param,
    )
    if more_time is not None:
        run.more_time = more_time
    return run


def average_power(
    samples: Sequence[Sample], t0: float, t1: float
) -> tuple[float, EnergySource | None] | None:
    """Average W over [t0, t1] from the device's accounted energy, read from history.

    The stretch is clipped to the samples that exist (the newest may be up to one sampling
    interval old); if nothing of it is covered yet, the newest interval stands in. None when the
    device has no energy (no counter, no power).
    """
    points = [s for s in samples if s.energy_j is not None and not s.lost]
    if len(points) < 2:
        return None
    times = [s.reading.time_s for s in points]
    lo, hi = max(t0, times[0]), min(t1, times[-1])
    if hi - lo <= 0:
        lo, hi = times[-2], times[-1]
    energy_lo, energy_hi = _energy_at(points, times, lo), _energy_at(points, times, hi)
    if hi - lo <= 0:
        return None
    return (energy_hi - energy_lo) / (hi - lo), points[-1].energy_source


def _energy_at(points: Sequence[Sample], times: list[float], t: float) -> float:
    """Cumulative energy at ``t``, linear between samples (exact for the trapezoid rule)."""
    i = bisect.bisect_left(times, t)
    if i < len(times) and times[i] == t:
        return float(points[i].energy_j or 0.0)
    before, after = points[i - 1], points[i]
    e0, e1 = float(before.energy_j or 0.0), float(after.energy_j or 0.0)
    t_before, t_after = times[i - 1], times[i]
    return e0 + (e1 - e0) * (t - t_before) / (t_after - t_before)


def sampler_now(sampler: Sampler, info: DeviceInfo | None) -> float | None:
    """When the device's newest sample was taken, on the sampler's clock (a test's is fake)."""
    newest = sampler.latest(info.device_id) if info is not None else None
    return newest.reading.time_s if newest is not None else None


def _others(
    watch: tuple[SharingWatch, float | None] | None,
    sampler: Sampler,
    info: DeviceInfo | None,
    peak_mem_mib: float | None,
) -> Sharing | None:
    """Who else used the device over the window that just closed."""
    if watch is None or info is None:
        return None
    sharing_watch, since = watch
    samples = sampler.history_since(info.device_id, since) if since is not None else []
    window = [s for s in samples if since is None or s.reading.time_s >= since]
    return sharing_watch.close(window, peak_mem_mib)


def _close(sampler: Sampler, window: str, telemetry: DeviceInfo | None) -> WindowResult | None:
    results = sampler.end_window(window)
    return results.get(telemetry.device_id) if telemetry else None
