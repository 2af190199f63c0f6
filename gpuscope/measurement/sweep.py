"""A sweep: one workload parameter over a list of values, on each device, and the points it
gave. Where memory runs out is a result, not an error: the point is recorded as OOM and the
larger values are skipped on that device, as they would only run out again.

``size=256,512,1024`` lists the values; ``size=256..8192x2`` multiplies from 256 by 2 while the
value stays within 8192; ``batch=8..64+8`` adds 8 each time.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, field
from typing import Any

from gpuscope.measurement.run_report import RunReport
from gpuscope.workloads.api import Param, ParamValue, WorkloadError

MAX_POINTS = 64  # a range that makes more is a typo more often than a plan
_RANGE = re.compile(r"^(?P<start>.+?)\.\.(?P<stop>.+?)(?P<op>[x+])(?P<step>[^x+]+)$")


@dataclass(frozen=True, slots=True)
class Sweep:
    param: str
    values: tuple[ParamValue, ...]


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
    return Sweep(name, values)


def _range(param: Param, match: re.Match[str]) -> tuple[ParamValue, ...]:
    if type(param.default) not in (int, float):
        raise WorkloadError(f"--sweep {param.name}: a range needs a number parameter")
    start, stop = param.parse(match["start"].strip()), param.parse(match["stop"].strip())
    try:
        step = float(match["step"])
    except ValueError:
        raise WorkloadError(f"--sweep {param.name}: {match['step']!r} is not a number") from None
    grows = step > 1 if match["op"] == "x" else step > 0
    if not grows or not math.isfinite(step) or float(start) > float(stop):
        raise WorkloadError(
            f"--sweep {param.name}: the range must grow from START to STOP "
            "(a factor above 1 after x, a step above 0 after +)"
        )
    values: dict[ParamValue, None] = {}  # ordered; an int range with a small factor repeats
    value = float(start)
    while value <= float(stop) * (1 + 1e-9):
        if len(values) > MAX_POINTS:
            raise WorkloadError(
                f"--sweep {param.name}: the range makes more than {MAX_POINTS} values"
            )
        values[param.check(round(value) if type(param.default) is int else value)] = None
        value = value * step if match["op"] == "x" else value + step
    return tuple(values)


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
    report: RunReport | None = None
    note: str | None = None  # why it is not measured

    def as_dict(self, param: str) -> dict[str, Any]:
        return {
            "device": self.device,
            param: self.value,
            "status": self.status.value,
            "note": self.note,
            "report": self.report.as_dict() if self.report is not None else None,
        }


@dataclass
class SweepBoundary:
    """Per device, the smallest value that ran out of memory: larger ones are not run."""

    oom_at: dict[str, ParamValue] = field(default_factory=dict)

    def ran_out(self, device: str, value: ParamValue) -> None:
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
