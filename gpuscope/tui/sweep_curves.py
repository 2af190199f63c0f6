"""A sweep as the Workloads tab shows it: x the swept parameter, one line per device, each
measured point and the point in progress (its figures so far), so the curve fills in as the
sweep runs; and a status line that says how far it got and where memory ran out."""

from __future__ import annotations

import math
from collections.abc import Callable

from textual.markup import escape

from gpuscope.measurement.measured_run import RunState
from gpuscope.measurement.run_figures import RunFigures, run_figures
from gpuscope.measurement.sweep import PointStatus, Sweep, SweepRun
from gpuscope.tui.line_plot import Series, XAxis
from gpuscope.workloads.api import ParamValue

MAX_TICKS = 8  # tick labels such as "16384" need room; a plot is half the terminal wide
LOG_FROM_SPAN = 8  # values spanning this factor or more are spaced by their logarithm


def sweep_axis(sweep: Sweep) -> tuple[XAxis, dict[ParamValue, float]]:
    """The x axis and each value's place on it: by its log2 where the values span a factor of
    8 or more (256..8192 would crowd its first five into a fifth of the width), by the value
    itself otherwise, and in the order given where they are not numbers (dtypes)."""
    values = sweep.values
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    label = sweep.param
    if (
        len(numbers) == len(values)
        and min(numbers) > 0
        and max(numbers) >= LOG_FROM_SPAN * min(numbers)
    ):
        places = {v: math.log2(float(v)) for v in values}
        label += " (log scale)"
    elif len(numbers) == len(values):
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


def memory_notes(walk: SweepRun) -> dict[str, str]:
    """Per device that ran out of memory, where: for the legend under the curves."""
    found = {}
    for device in walk.devices:
        oom = walk.oom_at(device)
        if oom is not None:
            found[device] = f"out of memory at {walk.sweep.param}={oom}"
    return found


def sweep_line(walk: SweepRun) -> str:
    """``● sweep gemm size=256..8192x2 on cpu, cuda:0  7/12 points: 5 measured, 1 oom ...``"""
    counts: dict[PointStatus, int] = {}
    for point in list(walk.points):
        counts[point.status] = counts.get(point.status, 0) + 1
    if walk.finished:
        marker = "[$success]✓[/]" if PointStatus.MEASURED in counts else "[$error]✗[/]"
    else:
        marker = "[$warning]■[/]" if walk.stopped else "[$accent]●[/]"
    running = next((r for r in reversed(walk.runs) if not r.finished), None)
    parts = [f"{n} {status.value}" for status, n in counts.items()]
    now = f", now {escape(running.label)}" if running is not None else ""
    stopping = " (stopping)" if walk.stopped and not walk.finished else ""
    given = walk.sweep.text or ",".join(map(str, walk.sweep.values))
    return (
        f"{marker} sweep {escape(walk.workload)} {escape(walk.sweep.param)}={escape(given)} "
        f"on {escape(', '.join(walk.devices))}: {len(walk.points)}/{walk.total} points"
        f"{': ' if parts else ''}{', '.join(parts)}{stopping}{now}"
    )
