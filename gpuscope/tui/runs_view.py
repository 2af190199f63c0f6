"""The Workloads tab: runs of this session, live throughput and work-per-joule plots, results.

Plots (textual-plotext) are rebuilt only when a run reported something new and the tab is on
screen: a plotext rebuild is the most expensive thing the UI draws.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from gpuscope.measurement.measured_run import MeasuredRun, RunState
from gpuscope.measurement.run_report import RunReport, report_cells
from gpuscope.tui import formatting as fmt
from gpuscope.units import format_rate, si_prefix

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


def group_key(run: MeasuredRun) -> tuple[str, str]:
    """Runs comparable with each other: same workload, same parameters."""
    return run.workload.name, params_text(run.params)


def params_text(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


@dataclass(frozen=True, slots=True)
class RunFigures:
    """What a run is worth so far (final once the run is done)."""

    throughput: float | None  # units per second
    work_per_joule: float | None
    avg_power_w: float | None
    energy_source: str | None
    note: str | None  # why there is no energy figure
    pct_of_peak: float | None = None  # from the final report only: live events carry no FLOPs


def run_figures(run: MeasuredRun) -> RunFigures:
    report = run.report
    if report is not None:
        return RunFigures(
            report.throughput,
            report.work_per_joule,
            report.avg_power_w,
            report.energy_source,
            report.energy_note,
            report.pct_of_peak,
        )
    throughput = run.units / run.seconds if run.seconds > 0 else None
    powers = [p.avg_power_w for p in run.live if p.avg_power_w is not None]
    power = sum(powers) / len(powers) if powers else None
    last = run.live[-1] if run.live else None
    note = None
    if power is None and run.telemetry is not None:
        note = "; ".join(n for n in run.telemetry.notes) or "no power reading"
    return RunFigures(
        throughput,
        throughput / power if throughput is not None and power else None,
        power,
        last.energy_source.value if last is not None and last.energy_source else None,
        note,
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


def plot_lines(
    plot: PlotextPlot, title: str, unit: str, series: dict[str, list[tuple[float, float]]]
) -> None:
    """One line per run over measured seconds, in a shared, readable unit prefix."""
    plt = plot.plt
    plt.clear_data()
    plt.clear_figure()
    values = [y for points in series.values() for _, y in points if y > 0]
    scale, prefix = _scale(values)
    # CPU and GPU rates can differ 100-fold: a log axis keeps both lines readable.
    log_axis = bool(values) and max(values) > 20 * min(values)
    plt.title(f"{title} ({prefix}{unit}{', log scale' if log_axis else ''})")
    plt.xlabel("measured s")
    # plotext's own log scale transforms its data in place, so a second render (any resize)
    # takes the log of a log; plot log10 values on a linear axis, with decade labels, instead.
    for label, points in series.items():
        shown = [(x, y / scale) for x, y in points if y > 0 or not log_axis]
        if shown:
            ys = [math.log10(y) if log_axis else y for _, y in shown]
            plt.plot([x for x, _ in shown], ys, label=label, marker="braille")
    if values and not log_axis:  # from zero: a flat line reads as flat, not as noise
        plt.ylim(0, 1.15 * max(values) / scale)
    if log_axis:
        low = math.floor(math.log10(min(values) / scale))
        high = math.ceil(math.log10(max(values) / scale))
        decades: list[float] = list(range(low, high + 1))
        plt.yticks(decades, [f"{10.0**d:g}" for d in decades])
    plot.refresh()


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
            yield PlotextPlot(id="throughput-plot")
            yield PlotextPlot(id="efficiency-plot")
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
        plot_lines(
            self.query_one("#throughput-plot", PlotextPlot),
            f"{name} throughput",
            f"{unit}/s",
            {r.device: [(p.elapsed_s, p.throughput) for p in r.live] for r in members},
        )
        plot_lines(
            self.query_one("#efficiency-plot", PlotextPlot),
            f"{name} work per joule",
            f"{unit}/J",
            {
                r.device: [
                    (p.elapsed_s, p.work_per_joule) for p in r.live if p.work_per_joule is not None
                ]
                for r in members
            },
        )
