"""The Workloads tab: runs of this session, live throughput and work-per-joule plots, results.
While a sweep is the newest thing launched, the plots are its curves instead (``sweep_curves``).

Plots (textual-plotext) are rebuilt only when a run reported something new and the tab is on
screen: a plotext rebuild is the most expensive thing the UI draws.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from gpuscope.measurement.measured_run import MeasuredRun, RunState
from gpuscope.measurement.result_cells import figure_cells
from gpuscope.measurement.run_figures import group_key, run_figures
from gpuscope.measurement.run_result import RunResult
from gpuscope.measurement.sweep import SweepRun, ran_out
from gpuscope.tui import formatting as fmt
from gpuscope.tui.layout import CHROME_ROWS
from gpuscope.tui.line_plot import Series, XAxis, device_colours, legend_line, plot_lines
from gpuscope.tui.sweep_curves import legend_notes, sweep_axis, sweep_line, sweep_series
from gpuscope.units import format_rate

RESULT_COLUMNS = (
    "workload",
    "device",
    "dtype",
    "throughput",
    "avg W",
    "work/J",
    "% peak",
    "energy source",
    "params",
)
MAX_STATUS_LINES = 8
MIN_STATUS_LINES = 2
# Rows the plots keep however short the terminal: title, frame, 6 rows of data, the x axis's
# ticks and label, and a 2-line legend. Run lines give way first; the results table, below,
# scrolls into sight.
PLOTS_MIN_ROWS = 13
LABEL_MAX = 40  # a run's label column: as wide as the longest shown, up to this


def simulated_mark(telemetry_id: str | None, simulated: frozenset[str]) -> str:
    """Figures from a simulated device must say so wherever they are shown."""
    return " [reverse $warning]SIMULATED[/]" if telemetry_id in simulated else ""


def run_line(
    run: MeasuredRun,
    simulated: frozenset[str] = frozenset(),
    now: float | None = None,
    label_width: int = 22,
) -> str:
    figures = run_figures(run)
    mark = simulated_mark(run.telemetry.device_id if run.telemetry else None, simulated)
    unit = run.workload.unit
    label = escape(status_label(run)).ljust(label_width)
    if run.state is RunState.FAILED and run.error is not None:
        if run.swept is not None and ran_out(run.error):  # a sweep's boundary: a result
            return f"[$warning]■[/] {label} oom: {escape(run.error.message)}"
        return f"[$error]✗[/] {label} failed: {escape(run.error.message)}"
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
    elif run.result is not None and run.result.stopped_early:
        progress = "stopped early"
    rate = fmt.NA if figures.throughput is None else format_rate(figures.throughput, unit)
    if figures.work_per_joule is not None:
        per_joule = format_rate(figures.work_per_joule, unit, "J")
        per_joule += f" ({figures.energy_source.value})" if figures.energy_source else ""
    else:
        per_joule = f"n/a ({escape(figures.note or 'waiting for energy')})"
    return f"{marker} {label} {progress:<28} {rate:<18} {per_joule}{mark}"


def status_label(run: MeasuredRun) -> str:
    """``gemm on cpu fp32``: the run, and the precision it runs in (``bf16!`` emulated)."""
    precision = run.precision
    if precision is None:
        return run.label
    return f"{run.label} {precision}{'!' if run.emulated is not None else ''}"


def result_row(
    report: RunResult, simulated: frozenset[str] = frozenset(), swept: str | None = None
) -> tuple[str, ...]:
    """``swept``: the parameter a sweep varied in this run, named beside the workload so the
    sweep's rows tell apart (every parameter is in the last column too)."""
    cells = figure_cells(report)
    if swept is not None:
        cells["workload"] += f" {swept}={report.params.get(swept)}"
    if report.telemetry_device in simulated:
        cells["device"] += " SIMULATED"
    return tuple(cells[column] for column in RESULT_COLUMNS)


class RunsView(VerticalScroll):
    """Everything the Workloads tab shows; ``show`` redraws from the runs and results given.
    On a short terminal the plots keep ``PLOTS_MIN_ROWS``, fewer runs are listed, and the
    results table scrolls into sight."""

    def compose(self) -> ComposeResult:
        yield Static(
            "[$text-muted]w[/] launch   [$text-muted]x[/] stop runs   "
            "[$text-muted]s[/] save results and a report",
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

    def on_mount(self) -> None:
        self.query_one("#runs-plots").styles.min_height = PLOTS_MIN_ROWS

    def status_lines(self) -> int:
        """How many run lines fit above plots of ``PLOTS_MIN_ROWS`` (the hint takes one). From
        the terminal's height: this tab's own is not laid out yet when a resize redraws it."""
        height = self.app.size.height - CHROME_ROWS
        return max(MIN_STATUS_LINES, min(MAX_STATUS_LINES, height - 1 - PLOTS_MIN_ROWS))

    def show(
        self,
        runs: Sequence[MeasuredRun],
        reports: Sequence[RunResult],
        simulated: frozenset[str] = frozenset(),
        sweeps: Sequence[SweepRun] = (),
        shown: SweepRun | None = None,
    ) -> None:
        """``shown``: the sweep to plot, while it is the newest launch; otherwise the plots
        are the newest plain run's, over its measured seconds."""
        status = self.query("#runs-status").results(Static)
        if not self.is_mounted or not (shown_status := next(status, None)):
            return  # composed after, or taken down before, a timer's redraw: the next one draws
        now = time.monotonic()  # the clock events are stamped with on arrival
        lines = [sweep_line(w) for w in sweeps if not w.finished or w is shown][-2:]
        latest = runs[-max(1, self.status_lines() - len(lines)) :]
        width = min(LABEL_MAX, max((len(status_label(run)) for run in latest), default=0))
        lines += [run_line(run, simulated, now, width) for run in latest]
        shown_status.update("\n".join(lines) or "No runs yet: press w.")
        table = self.query_one("#results-table", DataTable)
        new = reports[self._shown_results :]
        swept = {id(r.result): r.swept for r in runs if r.swept and r.result} if new else {}
        following = table.scroll_y >= table.max_scroll_y  # at the end: stay there
        for report in new:
            table.add_row(*result_row(report, simulated, swept.get(id(report))))
        if new and following:
            table.scroll_end(animate=False)
        self._shown_results = len(reports)
        if shown is not None:
            self._plot_sweep(shown)
        else:
            self._plot([run for run in runs if run.swept is None])

    def _plot(self, runs: Sequence[MeasuredRun]) -> None:
        if not runs:
            return
        group = group_key(runs[-1])
        members = [r for r in runs if group_key(r) == group]
        state = [self.size, *((r.run_id, len(r.live), r.state) for r in members)]
        if state == self._plotted:
            return
        self._plotted = state
        colours = device_colours([r.device for r in members])
        throughput: Series = {r.device: throughput_points(r) for r in members}
        per_joule: Series = {r.device: work_per_joule_points(r) for r in members}
        ran = {r.device: r for r in members}
        no_line = {d: why_no_line(ran[d]) for d, points in throughput.items() if not points}
        no_energy = {d: why_no_energy(ran[d]) for d, points in per_joule.items() if not points}
        self._draw(members, colours, (throughput, no_line), (per_joule, no_energy))

    def _plot_sweep(self, walk: SweepRun) -> None:
        """x: the swept value; a line per device of its points so far, the running one too."""
        members = list(walk.runs)
        runs = ((r.run_id, len(r.live), r.state) for r in members)
        state = [self.size, id(walk), len(walk.points), *runs]  # size: titles fit the width
        if state == self._plotted or not members:
            return
        self._plotted = state
        axis, places = sweep_axis(walk.sweep)
        colours = device_colours(list(walk.devices))
        throughput = sweep_series(walk, places, lambda f: f.throughput)
        per_joule = sweep_series(walk, places, lambda f: f.work_per_joule)
        lines = (throughput, legend_notes(walk, throughput, why_no_line))
        efficiency = (per_joule, legend_notes(walk, per_joule, why_no_energy))
        self._draw(members, colours, lines, efficiency, (axis, walk.sweep.param))

    def _draw(
        self,
        members: list[MeasuredRun],
        colours: dict[str, str],
        throughput: tuple[Series, dict[str, str]],
        per_joule: tuple[Series, dict[str, str]],
        swept: tuple[XAxis, str] | None = None,
    ) -> None:
        """Both plots and their legends: over measured seconds, or ``swept``'s axis."""
        unit = members[-1].workload.unit
        name = members[-1].workload.name
        axis, against = (swept[0], f" by {swept[1]}") if swept is not None else (None, "")
        estimated = frozenset(r.device for r in members if run_figures(r).is_estimate)
        plot_lines(
            self.query_one("#throughput-plot", PlotextPlot),
            f"{name} throughput{against}",
            f"{unit}/s",
            throughput[0],
            colours,
            axis,
            mark_points=axis is not None,
        )
        self.query_one("#throughput-legend", Static).update(
            legend_line(throughput[0], colours, throughput[1])
        )
        plot_lines(
            self.query_one("#efficiency-plot", PlotextPlot),
            f"{name} work per joule{against}",
            f"{unit}/J",
            per_joule[0],
            colours,
            axis,
            mark_points=axis is not None,
        )
        self.query_one("#efficiency-legend", Static).update(
            legend_line(per_joule[0], colours, per_joule[1], estimated)
        )


def throughput_points(run: MeasuredRun) -> list[tuple[float, float]]:
    """The run's live points; a run stopped before its first one still has its result."""
    points = [(p.elapsed_s, p.throughput) for p in run.live]
    report = run.result
    if not points and report is not None and report.throughput is not None:
        points = [(report.seconds, report.throughput)]
    return points


def work_per_joule_points(run: MeasuredRun) -> list[tuple[float, float]]:
    points = [(p.elapsed_s, p.work_per_joule) for p in run.live if p.work_per_joule is not None]
    report = run.result
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
