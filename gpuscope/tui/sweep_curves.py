"""A sweep as the Workloads tab shows it: x the swept parameter, one line per device, each
measured point and the point in progress (its figures so far), so the curve fills in as the
sweep runs; and a status line that says how far it got and where memory ran out."""

from __future__ import annotations

import math
from collections.abc import Callable

from textual.markup import escape

from gpuscope.measurement.measured_run import MeasuredRun, RunState
from gpuscope.measurement.run_figures import RunFigures, run_figures
from gpuscope.measurement.sweep import PointStatus, Sweep, SweepPoint, SweepRun
from gpuscope.tui.line_plot import Series, XAxis
from gpuscope.workloads.api import ParamValue

MAX_TICKS = 8  # tick labels such as "16384" need room; a plot is half the terminal wide
LOG_FROM_SPAN = 8  # values spanning this factor or more are spaced by their logarithm


def sweep_axis(sweep: Sweep) -> tuple[XAxis, dict[ParamValue, float]]:
    """The x axis and each value's place on it: by its log2 where the values span a factor of
    8 or more (256..8192 would crowd its first five into a fifth of the width), by the value
    itself otherwise, and in the order given where they are not numbers (dtypes)."""
    values = sweep.values
    numbers = [float(v) for v in values] if sweep.numeric else []
    label = sweep.param
    if numbers and min(numbers) > 0 and max(numbers) >= LOG_FROM_SPAN * min(numbers):
        places = {v: math.log2(float(v)) for v in values}
        label += " (log scale)"
    elif numbers:
        places = {v: float(v) for v in values}
    else:
        places = {v: float(i) for i, v in enumerate(values)}
    ordered = sorted(values, key=lambda v: places[v])
    every = math.ceil(len(ordered) / MAX_TICKS)
    shown = ordered[::every]
    low, high = places[ordered[0]], places[ordered[-1]]
    margin = 0.06 * (high - low) if high > low else 1.0  # the end points inside the frame
    axis = XAxis(
        label,
        low - margin,
        high + margin,
        [places[v] for v in shown],
        [str(v) for v in shown],
    )
    return axis, places


def sweep_series(
    walk: SweepRun, places: dict[ParamValue, float], figure: Callable[[RunFigures], float | None]
) -> Series:
    """Per device, (place, figure) for every point run so far: a finished point's result, the
    running one's figures so far; a failed point has none."""
    series: Series = {device: [] for device in walk.devices}
    for run in list(walk.runs):
        value = run.params.get(walk.sweep.param)
        if run.state is RunState.FAILED or value not in places:
            continue
        y = figure(run_figures(run))
        if y is not None and y > 0 and math.isfinite(y):
            series.setdefault(run.device, []).append((places[value], y))
    return {device: sorted(points) for device, points in series.items()}


def legend_notes(
    walk: SweepRun, series: Series, why: Callable[[MeasuredRun], str]
) -> dict[str, str]:
    """What the legend says per device beside its line: why it drew nothing (from its latest
    run that did not fail, so a CPU without energy readings says so, not "failed"), and where
    it ran out of memory."""
    notes = {}
    runs = list(walk.runs)
    for device in walk.devices:
        oom = walk.oom_at(device)
        parts = [] if oom is None else [f"out of memory at {walk.sweep.param}={oom}"]
        if not series.get(device):
            ran = [r for r in runs if r.device == device]
            fine = [r for r in ran if r.state is not RunState.FAILED]
            if fine:
                parts.insert(0, why(fine[-1]))
            elif ran and not parts:
                parts.append(why(ran[-1]))
            elif not ran:
                parts.append("stopped before its first point" if walk.stopped else "not run yet")
        if parts:
            notes[device] = "; ".join(parts)
    return notes


def point_counts(points: list[SweepPoint]) -> str:
    """``4 measured, 1 oom, 1 skipped``: points by what they gave."""
    counts: dict[PointStatus, int] = {}
    for point in points:
        counts[point.status] = counts.get(point.status, 0) + 1
    return ", ".join(f"{n} {status.value}" for status, n in counts.items())


def sweep_line(walk: SweepRun) -> str:
    """``● sweep gemm size=256..8192x2 on cpu, cuda:0: 7/12 points: 5 measured, 1 oom ...``
    Points count as their runs end (``settled``), not when the walk moves on."""
    points = walk.settled()
    statuses = {p.status for p in points}
    if not walk.finished:
        marker = "[$warning]■[/]" if walk.stopped else "[$accent]●[/]"
    elif PointStatus.MEASURED not in statuses:
        marker = "[$error]✗[/]"
    else:
        marker = "[$warning]![/]" if PointStatus.FAILED in statuses else "[$success]✓[/]"
    running = next((r for r in reversed(walk.runs) if not r.finished), None)
    counts = point_counts(points)
    now = f", now {escape(running.label)}" if running is not None else ""
    stopping = " (stopping)" if walk.stopped and not walk.finished else ""
    given = walk.sweep.text or ",".join(map(str, walk.sweep.values))
    return (
        f"{marker} sweep {escape(walk.workload)} {escape(walk.sweep.param)}={escape(given)} "
        f"on {escape(', '.join(walk.devices))}: {len(points)}/{walk.total} points"
        f"{': ' if counts else ''}{counts}{stopping}{now}"
    )


def sweep_notice(walk: SweepRun) -> str:
    """A sweep's end in one line: what its points gave, and where memory ran out."""
    ends = [
        f"{device} out of memory at {walk.sweep.param}={value}"
        for device in walk.devices
        if (value := walk.oom_at(device)) is not None
    ]
    how = "stopped" if walk.stopped else "done"
    return f"sweep {walk.workload} {walk.sweep.param} {how}: " + "; ".join(
        [point_counts(list(walk.points)), *ends]
    )
