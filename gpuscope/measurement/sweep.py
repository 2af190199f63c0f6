"""A sweep: one workload parameter over a list of values, on each device, and the points it
gave. Where memory runs out is a result, not an error: the point is recorded as OOM and the
larger values are skipped on that device, as they would only run out again. ``SweepRun`` walks
a sweep's points for ``bench --sweep`` and for the UI alike.

``size=256,512,1024`` lists the values; ``size=256..8192x2`` multiplies from 256 by 2 while the
value stays within 8192; ``batch=8..64+8`` adds 8 each time.
"""

from __future__ import annotations

import enum
import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gpuscope.measurement.measured_run import START_UP_S, MeasuredRun
from gpuscope.measurement.run_params import RunParams, run_params
from gpuscope.measurement.run_result import Comparison, RunResult, compare
from gpuscope.measurement.targets import RunTarget
from gpuscope.workloads.api import Param, ParamValue, WorkloadError
from gpuscope.workloads.events import ErrorKind, Failed
from gpuscope.workloads.registry import WorkloadInfo

MAX_POINTS = 64  # a range that makes more is a typo more often than a plan
_RANGE = re.compile(r"^(?P<start>.+?)\.\.(?P<stop>.+?)(?P<op>[x+])(?P<step>[^x+]+)$")


@dataclass(frozen=True, slots=True)
class Sweep:
    param: str
    values: tuple[ParamValue, ...]
    text: str = ""  # the values as the user gave them ("256..8192x2"), to show and to offer again

    @property
    def numeric(self) -> bool:
        """Numbers (sizes, batches), not choices: ordered, with a memory boundary to find."""
        return all(_orderable(v) for v in self.values)


def parse_sweep(spec: str, params: tuple[Param, ...]) -> Sweep:
    """``NAME=V1,V2`` or ``NAME=START..STOPxFACTOR`` / ``NAME=START..STOP+STEP``, each value
    checked as the parameter checks a command-line value; WorkloadError, one line, if not."""
    name, sep, text = spec.partition("=")
    name = name.strip().removeprefix("--").replace("-", "_")
    if not sep or not name or not text.strip():
        raise WorkloadError(
            "--sweep wants NAME=V1,V2,... or NAME=START..STOPxFACTOR or NAME=START..STOP+STEP, "
            f"got {spec!r}"
        )
    declared = {p.name: p for p in params}
    if name not in declared:
        known = ", ".join(declared) or "none"
        raise WorkloadError(f"--sweep: no parameter {name!r} (parameters: {known})")
    param = declared[name]
    ranged = _RANGE.match(text.strip())
    if ranged is not None:
        values = _range(param, ranged)
    else:
        values = tuple(param.parse(item.strip()) for item in text.split(",") if item.strip())
    if not values:
        raise WorkloadError(f"--sweep {name}: no values in {text!r}")
    if len(values) > MAX_POINTS:
        raise WorkloadError(f"--sweep {name}: {len(values)} values; at most {MAX_POINTS}")
    if len(set(values)) != len(values):
        raise WorkloadError(f"--sweep {name}: a value is listed twice in {text!r}")
    if all(_orderable(v) for v in values):  # smallest first: the memory boundary is found once
        values = tuple(sorted(values, key=float))
    return Sweep(name, values, text.strip())


def point_params(
    workload: WorkloadInfo, given: Mapping[str, ParamValue], sweep: Sweep, target: RunTarget
) -> dict[ParamValue, RunParams]:
    """Each value's whole parameters on ``target``, every one checked before the first run (a
    value may be fine alone and wrong with the others); WorkloadError names the value."""
    found = {}
    for value in sweep.values:
        try:
            found[value] = run_params(workload, {**given, sweep.param: value}, target)
        except WorkloadError as exc:
            raise WorkloadError(f"{sweep.param}={value}: {exc}") from None
    return found


def values_hint(params: tuple[Param, ...], name: str) -> str:
    """Example values for the parameter ``name``, from its own default or choices."""
    param = next((p for p in params if p.name == name), None)
    if param is None:
        return "V1,V2,..."
    if param.choices:
        return ",".join(map(str, param.choices))
    if type(param.default) is bool:
        return "false,true"
    if type(param.default) is int and param.default > 0:
        low = max(param.default // 4, int(param.minimum or 1))
        return f"{low}..{param.default * 4}x2 or {low},{param.default}"
    if type(param.default) in (int, float):
        return "1..64x2, 16..128+16 or 1,2,4"
    return "V1,V2,..."


def sweep_seconds(sweep: Sweep, devices: int, one_at_a_time: bool, run_s: float) -> float:
    """Roughly how long a sweep takes, each run ``run_s`` (warm-up and measure) after its
    start-up; all of it, as if no value ran out of memory."""
    in_turn = devices if one_at_a_time else 1
    return len(sweep.values) * in_turn * (START_UP_S + run_s)


def _range(param: Param, match: re.Match[str]) -> tuple[ParamValue, ...]:
    """The values from START to STOP. Bounded by steps, not by distinct values: a range that
    does not grow (0 times a factor, a factor or step too small to change the value) is an
    error at once, and one that takes more than ``MAX_POINTS`` steps to reach STOP is too."""
    if type(param.default) not in (int, float):
        raise WorkloadError(f"--sweep {param.name}: a range needs a number parameter")
    start, stop = param.parse(match["start"].strip()), param.parse(match["stop"].strip())
    try:
        step = float(match["step"])
    except ValueError:
        raise WorkloadError(f"--sweep {param.name}: {match['step']!r} is not a number") from None
    factor = match["op"] == "x"
    grows = step > 1 if factor else step > 0
    if not grows or not math.isfinite(step) or float(start) > float(stop):
        raise WorkloadError(
            f"--sweep {param.name}: the range must grow from START to STOP "
            "(a factor above 1 after x, a step above 0 after +)"
        )
    if factor and float(start) <= 0:
        raise WorkloadError(
            f"--sweep {param.name}: a range with x must start above 0 ({start} times "
            f"{match['step']} never grows); start at 1, or list the values"
        )
    values: dict[ParamValue, None] = {}  # ordered; an int range with a small factor repeats
    value = float(start)
    for _ in range(MAX_POINTS + 1):
        if value > float(stop) * (1 + 1e-9):
            return tuple(values)
        # 0.1 + 0.1 + 0.1 is 0.30000000000000004: a value as a person would write it
        exact = round(value) if type(param.default) is int else float(f"{value:.12g}")
        values[param.check(exact)] = None
        following = value * step if factor else value + step
        if following <= value:  # below the float's precision at this value
            raise WorkloadError(
                f"--sweep {param.name}: {match['op']}{match['step']} is too small to change "
                f"{exact}: the range would never reach {stop}"
            )
        value = following
    raise WorkloadError(
        f"--sweep {param.name}: the range takes more than {MAX_POINTS} steps to reach {stop} "
        f"(at most {MAX_POINTS} values)"
    )


class PointStatus(enum.Enum):
    MEASURED = "measured"
    OOM = "oom"  # ran out of memory: the boundary, a result
    SKIPPED = "skipped"  # larger than a value that ran out of memory on this device
    FAILED = "failed"  # anything else: the message says what
    STOPPED = "stopped"  # the user stopped the sweep before this point ran


@dataclass(frozen=True, slots=True)
class SweepPoint:
    device: str
    value: ParamValue
    status: PointStatus
    result: RunResult | None = None
    note: str | None = None  # why it is not measured

    def as_dict(self, param: str) -> dict[str, Any]:
        return {
            "device": self.device,
            param: self.value,
            "status": self.status.value,
            "note": self.note,
            "report": self.result.as_dict() if self.result is not None else None,
        }


@dataclass
class SweepBoundary:
    """Per device, the smallest value that ran out of memory: larger ones are not run."""

    oom_at: dict[str, ParamValue] = field(default_factory=dict)

    def mark_oom(self, device: str, value: ParamValue) -> None:
        """``value`` ran out of memory on ``device``: the boundary moves down to it."""
        known = self.oom_at.get(device)
        if known is None or _less(value, known):
            self.oom_at[device] = value

    def skip_reason(self, device: str, value: ParamValue) -> str | None:
        known = self.oom_at.get(device)
        if known is None or not _orderable(value) or not _less(known, value):
            return None
        return f"larger than {known}, which ran out of memory on {device}"


def _orderable(value: ParamValue) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _less(a: ParamValue, b: ParamValue) -> bool:
    return _orderable(a) and _orderable(b) and float(a) < float(b)


OOM_KINDS = (ErrorKind.OOM, ErrorKind.DEVICE_OOM)


def ran_out(error: Failed | None) -> bool:
    """Out of host or device memory, or killed by SIGKILL, which on Linux is the kernel's OOM
    killer far more often than anything else (it leaves no message to tell). None (no error):
    False."""
    if error is None:
        return False
    killed = error.kind is ErrorKind.CRASHED and "killed by SIGKILL" in error.message
    return error.kind in OOM_KINDS or killed


class SweepRun:
    """A sweep under way: one walk per device (``walk_device``, blocking, on a thread of its own
    or one after another), the runs it made and the points they gave. ``points`` and ``runs`` only
    grow, by whole items, so another thread may read them while it goes on."""

    def __init__(self, workload: str, sweep: Sweep, devices: tuple[str, ...]) -> None:
        self.workload = workload
        self.sweep = sweep
        self.devices = devices
        self.points: list[SweepPoint] = []
        self.runs: list[MeasuredRun] = []  # each point's run, in the order they started
        self._boundary = SweepBoundary()
        self._stop = threading.Event()

    @property
    def total(self) -> int:
        return len(self.devices) * len(self.sweep.values)

    @property
    def finished(self) -> bool:
        return len(self.points) >= self.total

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """No point starts after this; the one running is the caller's to stop."""
        self._stop.set()

    def oom_at(self, device: str) -> ParamValue | None:
        """The smallest value that ran out of memory on ``device``, if one did."""
        return self._boundary.oom_at.get(device)

    def walk_device(
        self,
        device: str,
        make_run: Callable[[ParamValue], MeasuredRun],
        drive: Callable[[MeasuredRun], None],
    ) -> None:
        """The sweep's values in order on ``device``: each one run (``drive`` runs it to its
        end), skipped beyond the memory boundary, or stopped once ``stop`` was called."""
        for value in self.sweep.values:
            skip = self._boundary.skip_reason(device, value)
            if self.stopped:
                self.record(SweepPoint(device, value, PointStatus.STOPPED))
            elif skip is not None:
                self.record(SweepPoint(device, value, PointStatus.SKIPPED, note=skip))
            else:
                run = make_run(value)
                self.runs.append(run)
                if self.stopped:  # stopped as it was made: it ends before it starts
                    run.stop()
                drive(run)
                self.record(point_of(device, value, run))

    def settled(self) -> list[SweepPoint]:
        """The points so far, and those of runs that ended whose points are not recorded yet
        (a run's result arrives before its child has exited and ``drive`` returns)."""
        points = list(self.points)
        recorded = {(p.device, p.value) for p in points}
        for run in list(self.runs):
            value = run.params[self.sweep.param]
            if run.finished and (run.device, value) not in recorded:
                points.append(point_of(run.device, value, run))
        return points

    def record(self, point: SweepPoint) -> None:
        """A point's outcome; one out of memory moves its device's boundary."""
        if point.status is PointStatus.OOM:
            self._boundary.mark_oom(point.device, point.value)
        self.points.append(point)


def point_of(device: str, value: ParamValue, run: MeasuredRun) -> SweepPoint:
    """What a finished run makes of its point: measured (or stopped, partial), out of memory
    (the boundary), stopped before a result, or failed with its message."""
    if run.result is not None:
        status = PointStatus.STOPPED if run.result.stopped_early else PointStatus.MEASURED
        return SweepPoint(device, value, status, run.result)
    error = run.error or Failed(ErrorKind.EXCEPTION, "ended with no result")
    if ran_out(error):
        note = error.message
        if error.kind is ErrorKind.CRASHED:
            note += " (most likely the kernel's OOM killer)"
        return SweepPoint(device, value, PointStatus.OOM, note=note)
    if error.kind is ErrorKind.STOPPED:
        return SweepPoint(device, value, PointStatus.STOPPED, note=error.message)
    return SweepPoint(device, value, PointStatus.FAILED, note=error.message)


def sweep_comparisons(
    sweep: Sweep, points: list[SweepPoint]
) -> list[tuple[ParamValue, Comparison]]:
    """Per value, each measured device against the first device measured at that value: where
    the ratio crosses 1 is where the GPU starts to win."""
    found: list[tuple[ParamValue, Comparison]] = []
    for value in sweep.values:
        measured = [p.result for p in points if p.value == value and p.result is not None]
        found.extend((value, compare(measured[0], other)) for other in measured[1:])
    return found
