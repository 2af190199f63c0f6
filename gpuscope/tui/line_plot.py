"""Line plots drawn by plotext in the terminal: one line per device, a shared unit prefix or a
log axis of decades, ticks in 1-2-5 steps, and a legend printed under the plot (plotext's own
covers the top rows, where the fastest device's line runs)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from textual.markup import escape
from textual_plotext import PlotextPlot

from gpuscope.tui.formatting import clip
from gpuscope.units import decade_label, si_prefix


def _scale(values: Sequence[float]) -> tuple[float, str]:
    return si_prefix(max((abs(v) for v in values), default=0.0))


# One colour per device, the same name for plotext (ANSI) and for the legend (rich markup),
# so the legend under a plot matches its lines without covering any of them.
SERIES_COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "red")
Series = dict[str, list[tuple[float, float]]]


def nice_step(span: float, ticks: int = 5) -> float:
    """A 1, 2 or 5 x 10^n step that cuts ``span`` into at most ``ticks`` intervals."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    return float(next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw))


def linear_ticks(high: float) -> tuple[float, list[float]]:
    """The axis top and its ticks from zero, in 1-2-5 steps (0, 200, 400 ... not 724.9)."""
    step = nice_step(high)
    top = step * math.ceil(high / step) if high > 0 else 1.0
    return top, [step * i for i in range(round(top / step) + 1)]


@dataclass(frozen=True, slots=True)
class XAxis:
    """Where a plot's x values lie and how its ticks read: measured seconds for a run, the
    swept parameter for a sweep."""

    label: str
    left: float
    right: float
    ticks: list[float]
    tick_labels: list[str]


def seconds_axis(series: Series) -> XAxis:
    seconds = max((x for points in series.values() for x, _ in points), default=0.0)
    right, ticks = linear_ticks(seconds)
    return XAxis("measured s", 0.0, right, ticks, [f"{tick:g}" for tick in ticks])


def plot_lines(
    plot: PlotextPlot,
    title: str,
    unit: str,
    series: Series,
    colours: dict[str, str],
    x_axis: XAxis | None = None,
    mark_points: bool = False,
) -> None:
    """One line per run (over measured seconds, unless ``x_axis`` says otherwise), in a shared,
    readable unit prefix. Tick labels sit inside the axis range (none on the frame's corner),
    and there is no plotext legend: it covers the top rows, where the fastest device's line
    runs; the view prints one below. ``mark_points``: a dot on each point as well (a sweep's
    few measured values, where the line between them is only a guide)."""
    plt = plot.plt
    plt.clear_data()
    plt.clear_figure()
    values = [y for points in series.values() for _, y in points if y > 0]
    # CPU and GPU rates can differ 100-fold: a log axis keeps both lines readable. Its decades
    # carry their own prefixes (1, 10, 100, 1k ...), so its unit has none.
    log_axis = bool(values) and max(values) > 20 * min(values)
    scale, prefix = (1.0, "") if log_axis else _scale(values)
    full = f"{title} ({prefix}{unit}{', log scale' if log_axis else ''})"
    room = plot.size.width - 2  # plotext drops a title wider than its plot: cut it instead
    plt.title(full if room <= 0 or len(full) <= room else clip(f"{title} ({prefix}{unit})", room))
    axis = x_axis or seconds_axis(series)
    plt.xlabel(axis.label)
    # plotext's own log scale transforms its data in place, so a second render (any resize)
    # takes the log of a log; plot log10 values on a linear axis, with decade labels, instead.
    for label, points in series.items():
        shown = [(x, y / scale) for x, y in points if y > 0 or not log_axis]
        if shown:
            xs = [x for x, _ in shown]
            ys = [math.log10(y) if log_axis else y for _, y in shown]
            marker = "braille" if len(shown) > 1 else "dot"  # a stopped run's lone point
            colour = colours.get(label, "white")
            plt.plot(xs, ys, marker=marker, color=colour)
            if mark_points:
                plt.scatter(xs, ys, marker="●", color=colour)
    if not values:
        plot.refresh()
        return
    plt.xlim(axis.left, axis.right)
    plt.xticks(axis.ticks, axis.tick_labels)
    if log_axis:
        low = math.log10(min(values) / scale)
        high = math.log10(max(values) / scale)
        if math.floor(high) - math.ceil(low) < 1:  # fewer than two decades inside: widen to
            low, high = math.floor(low), math.ceil(high)  # the decades around, so both read
        decades = [float(d) for d in range(math.ceil(low), math.floor(high) + 1)]
        margin = 0.08 * max(high - low, 1.0)  # the extreme decades inside, not on the frame
        plt.ylim(low - margin, high + margin)
        plt.yticks(decades, [decade_label(round(d)) for d in decades])
    else:  # from zero: a flat line reads as flat, not as noise
        top, ticks = linear_ticks(1.1 * max(values) / scale)
        plt.ylim(0, top)
        plt.yticks(ticks, [f"{tick:g}" for tick in ticks])
    plot.refresh()


def device_colours(devices: Sequence[str]) -> dict[str, str]:
    """A colour per device, in the order they first ran: repeat runs keep their device's colour
    and never take another device's."""
    unique = dict.fromkeys(devices)
    return {d: SERIES_COLOURS[i % len(SERIES_COLOURS)] for i, d in enumerate(unique)}


def legend_line(
    series: Series,
    colours: dict[str, str],
    missing: dict[str, str],
    estimated: frozenset[str] = frozenset(),
) -> str:
    """Each device's colour (``estimate`` after a line drawn from a model's energy), and each
    device that ran but has no line here, with the reason."""
    parts = [
        f"[{colours[label]}]━━[/] {escape(label)}"
        + (" [$warning](estimate)[/]" if label in estimated else "")
        for label in series
        if series[label]
    ]
    parts += [f"[$text-muted]{escape(label)}: {escape(why)}[/]" for label, why in missing.items()]
    return "   ".join(parts)
