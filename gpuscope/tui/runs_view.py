"""The Workloads tab: runs of this session, live throughput and work-per-joule plots, results.

Plots (textual-plotext) are rebuilt only when a run reported something new and the tab is on
screen: a plotext rebuild is the most expensive thing the UI draws.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from gpuscope.measurement.measured_run import MeasuredRun, RunState
from gpuscope.measurement.run_figures import group_key, run_figures
from gpuscope.measurement.run_report import RunReport, report_cells
from gpuscope.telemetry.model import EnergySource
from gpuscope.tui import formatting as fmt
from gpuscope.units import decade_label, format_rate, si_prefix

RESULT_COLUMNS = (
    "workload",
    "device",
    "dtype",
    "throughput",
    "avg W",
    "work/J",
    "% peak",
    "energy source",
)


def simulated_mark(telemetry_id: str | None, simulated: frozenset[str]) -> str:
    """Figures from a simulated device must say so wherever they are shown."""
    return " [reverse $warning]SIMULATED[/]" if telemetry_id in simulated else ""


def run_line(
    run: MeasuredRun, simulated: frozenset[str] = frozenset(), now: float | None = None
) -> str:
    figures = run_figures(run)
    mark = simulated_mark(run.telemetry.device_id if run.telemetry else None, simulated)
    unit = run.workload.unit
    if run.state is RunState.FAILED and run.error is not None:
        return f"[$error]✗[/] {escape(run.label)}  failed: {escape(run.error.message)}"
    marker = {RunState.DONE: "[$success]✓[/]", RunState.MEASURING: "[$accent]●[/]"}.get(
        run.state, "○"
    )
    progress = run.state.value
    # wall time in the state, so a slow step (a CNN on a CPU) still shows the run moving
    elapsed = max(0.0, now - run.state_since) if now is not None and run.state_since else 0.0
    if run.state is RunState.MEASURING:
        seconds = min(run.duration_s, max(run.seconds, elapsed))
        progress = f"measuring {seconds:.0f}/{run.duration_s:.0f} s"
    elif run.state is RunState.WARMING_UP:
        step = "" if run.first_step_done else ", first step"
        progress = f"warming up{step} {elapsed:.0f} s"
    elif run.report is not None and run.report.stopped_early:
        progress = "stopped early"
    rate = fmt.NA if figures.throughput is None else format_rate(figures.throughput, unit)
    if figures.work_per_joule is not None:
        per_joule = format_rate(figures.work_per_joule, unit, "J")
        per_joule += f" ({figures.energy_source})" if figures.energy_source else ""
    else:
        per_joule = f"n/a ({escape(figures.note or 'waiting for energy')})"
    return f"{marker} {escape(run.label):<22} {progress:<20} {rate:<18} {per_joule}{mark}"


def result_row(report: RunReport, simulated: frozenset[str] = frozenset()) -> tuple[str, ...]:
    cells = report_cells(report)
    if report.telemetry_device in simulated:
        cells["device"] += " SIMULATED"
    return tuple(cells[column] for column in RESULT_COLUMNS)


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


def plot_lines(
    plot: PlotextPlot,
    title: str,
    unit: str,
    series: Series,
    colours: dict[str, str],
) -> None:
    """One line per run over measured seconds, in a shared, readable unit prefix. Tick labels
    sit inside the axis range (none on the frame's corner), and there is no plotext legend: it
    covers the top rows, where the fastest device's line runs; the view prints one below."""
    plt = plot.plt
    plt.clear_data()
    plt.clear_figure()
    values = [y for points in series.values() for _, y in points if y > 0]
    # CPU and GPU rates can differ 100-fold: a log axis keeps both lines readable. Its decades
    # carry their own prefixes (1, 10, 100, 1k ...), so its unit has none.
    log_axis = bool(values) and max(values) > 20 * min(values)
    scale, prefix = (1.0, "") if log_axis else _scale(values)
    plt.title(f"{title} ({prefix}{unit}{', log scale' if log_axis else ''})")
    plt.xlabel("measured s")
    # plotext's own log scale transforms its data in place, so a second render (any resize)
    # takes the log of a log; plot log10 values on a linear axis, with decade labels, instead.
    for label, points in series.items():
        shown = [(x, y / scale) for x, y in points if y > 0 or not log_axis]
        if shown:
            xs = [x for x, _ in shown]
            ys = [math.log10(y) if log_axis else y for _, y in shown]
            marker = "braille" if len(shown) > 1 else "dot"  # a stopped run's lone point
            plt.plot(xs, ys, marker=marker, color=colours.get(label, "white"))
    if not values:
        plot.refresh()
        return
    seconds = max(x for points in series.values() for x, _ in points)
    right, x_ticks = linear_ticks(seconds)
    plt.xlim(0, right)
    plt.xticks(x_ticks, [f"{tick:g}" for tick in x_ticks])
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


class RunsView(Vertical):
    """Everything the Workloads tab shows; ``show`` redraws from the runs and results given."""

    def compose(self) -> ComposeResult:
        yield Static(
            "[$text-muted]w[/] launch   [$text-muted]x[/] stop runs   "
            "[$text-muted]s[/] save results as CSV",
            id="runs-hint",
        )
        yield Static("No runs yet: press w to launch a workload.", id="runs-status")
        with Horizontal(id="runs-plots"):
            with Vertical(classes="runs-plot"):
                yield PlotextPlot(id="throughput-plot")
                yield Static("", id="throughput-legend", classes="plot-legend")
            with Vertical(classes="runs-plot"):
                yield PlotextPlot(id="efficiency-plot")
                yield Static("", id="efficiency-legend", classes="plot-legend")
        results = DataTable[str](id="results-table", zebra_stripes=True, cursor_type="row")
        results.add_columns(*RESULT_COLUMNS)
        yield results
        self._shown_results = 0
        self._plotted: object = None

    def show(
        self,
        runs: Sequence[MeasuredRun],
        reports: Sequence[RunReport],
        simulated: frozenset[str] = frozenset(),
    ) -> None:
        now = time.monotonic()  # the clock events are stamped with on arrival
        status = "\n".join(run_line(run, simulated, now) for run in runs[-8:])
        self.query_one("#runs-status", Static).update(status or "No runs yet: press w.")
        table = self.query_one("#results-table", DataTable)
        for report in reports[self._shown_results :]:
            table.add_row(*result_row(report, simulated))
        self._shown_results = len(reports)
        self._plot(runs)

    def _plot(self, runs: Sequence[MeasuredRun]) -> None:
        if not runs:
            return
        group = group_key(runs[-1])
        members = [r for r in runs if group_key(r) == group]
        state = [(r.run_id, len(r.live), r.state) for r in members]
        if state == self._plotted:
            return
        self._plotted = state
        unit = members[-1].workload.unit
        name = members[-1].workload.name
        colours = device_colours([r.device for r in members])
        throughput: Series = {r.device: throughput_points(r) for r in members}
        per_joule: Series = {r.device: work_per_joule_points(r) for r in members}
        ran = {r.device: r for r in members}
        estimated = frozenset(
            d for d, run in ran.items() if run_figures(run).energy_source == EnergySource.ESTIMATE
        )
        no_line = {d: why_no_line(ran[d]) for d, points in throughput.items() if not points}
        no_energy = {d: why_no_energy(ran[d]) for d, points in per_joule.items() if not points}
        plot_lines(
            self.query_one("#throughput-plot", PlotextPlot),
            f"{name} throughput",
            f"{unit}/s",
            throughput,
            colours,
        )
        self.query_one("#throughput-legend", Static).update(
            legend_line(throughput, colours, no_line)
        )
        plot_lines(
            self.query_one("#efficiency-plot", PlotextPlot),
            f"{name} work per joule",
            f"{unit}/J",
            per_joule,
            colours,
        )
        self.query_one("#efficiency-legend", Static).update(
            legend_line(per_joule, colours, no_energy, estimated)
        )


def throughput_points(run: MeasuredRun) -> list[tuple[float, float]]:
    """The run's live points; a run stopped before its first one still has its result."""
    points = [(p.elapsed_s, p.throughput) for p in run.live]
    report = run.report
    if not points and report is not None:
        points = [(report.seconds, report.throughput)]
    return points


def work_per_joule_points(run: MeasuredRun) -> list[tuple[float, float]]:
    points = [(p.elapsed_s, p.work_per_joule) for p in run.live if p.work_per_joule is not None]
    report = run.report
    if not points and report is not None and report.work_per_joule is not None:
        points = [(report.seconds, report.work_per_joule)]
    return points


def why_no_line(run: MeasuredRun) -> str:
    if run.state is RunState.FAILED:
        return "failed"
    return "no figure yet" if not run.finished else "stopped before its first figure"


def why_no_energy(run: MeasuredRun) -> str:
    if run.state is RunState.FAILED:
        return "failed"
    note = run_figures(run).note
    if note:
        return f"no energy reading ({note})"
    return "no energy figure yet" if not run.finished else "no energy reading"
