"""CPU-vs-GPU, side by side: throughput and work per joule of one workload on each device it ran
on, with the ratios printed. Live while runs are going, final once they are done."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.widgets import Static
from textual_plotext import PlotextPlot

from gpuscope.commands.bench import format_rate
from gpuscope.tui.runs_view import RunFigures, _scale, group_key, run_figures
from gpuscope.workloads.measured import MeasuredRun


def latest_per_device(runs: Sequence[MeasuredRun]) -> list[MeasuredRun]:
    """The newest run of the newest group on each device, skipping failed runs."""
    if not runs:
        return []
    group = group_key(runs[-1])
    chosen: dict[str, MeasuredRun] = {}
    for run in runs:
        if group_key(run) == group and run.state != "failed":
            chosen[run.device] = run
    return sorted(chosen.values(), key=lambda r: (r.device != "cpu", r.device))


def ratio_lines(runs: Sequence[MeasuredRun], figures: Sequence[RunFigures]) -> list[str]:
    """Each device against the first one (the CPU when it ran): speed-up and efficiency ratio."""
    if len(runs) < 2:
        return ["Run the same workload on two devices (e.g. cpu and cuda:0) to compare them."]
    base, base_figures = runs[0], figures[0]
    lines = []
    for run, fig in zip(runs[1:], figures[1:], strict=True):
        if fig.throughput is not None and base_figures.throughput:
            speed = f"[b]{fig.throughput / base_figures.throughput:.2f}x[/b] throughput"
        else:
            speed = "throughput n/a"
        if fig.work_per_joule is not None and base_figures.work_per_joule:
            per_joule = f"[b]{fig.work_per_joule / base_figures.work_per_joule:.2f}x[/b] work/J"
        else:
            missing = base.device if base_figures.work_per_joule is None else run.device
            per_joule = f"work/J ratio n/a ({escape(missing)} has no energy reading)"
        lines.append(f"{escape(run.device)} vs {escape(base.device)}: {speed}, {per_joule}")
    return lines


def _bars(plot: PlotextPlot, title: str, labels: list[str], values: list[float | None]) -> None:
    plt = plot.plt
    plt.clear_data()
    plt.clear_figure()
    known = [(label, v) for label, v in zip(labels, values, strict=True) if v is not None]
    scale, prefix = _scale([v for _, v in known])
    plt.title(f"{title} ({prefix})" if prefix else title)
    if known:
        plt.bar(
            [label for label, _ in known],
            [v / scale for _, v in known],
            orientation="horizontal",
            width=0.4,
        )
    plot.refresh()


class CompareView(Vertical):
    def compose(self) -> ComposeResult:
        yield Static("", id="compare-text")
        with Horizontal(id="compare-plots"):
            yield PlotextPlot(id="compare-throughput")
            yield PlotextPlot(id="compare-efficiency")
        self._shown: object = None

    def show(self, runs: Sequence[MeasuredRun]) -> None:
        chosen = latest_per_device(runs)
        figures = [run_figures(r) for r in chosen]
        state = [(r.run_id, len(r.live), r.state) for r in chosen]
        if state == self._shown:
            return
        self._shown = state
        if not chosen:
            self.query_one("#compare-text", Static).update(
                "No runs yet. Launch a workload (w) on the CPU and a GPU together to see them "
                "side by side."
            )
            return
        unit = chosen[0].cls.unit
        head = f"[b]{escape(chosen[0].cls.name)}[/b] {escape(group_key(chosen[0])[1])}"
        rows = []
        for run, fig in zip(chosen, figures, strict=True):
            rate = "n/a" if fig.throughput is None else format_rate(fig.throughput, unit)
            per_joule = (
                f"n/a ({escape(fig.note or 'no energy reading')})"
                if fig.work_per_joule is None
                else format_rate(fig.work_per_joule, unit, "J")
            )
            live = "" if run.finished else " (live)"
            rows.append(f"  {escape(run.device):<8} {rate:<20} {per_joule}{live}")
        text = "\n".join([head, *rows, "", *ratio_lines(chosen, figures)])
        self.query_one("#compare-text", Static).update(text)
        labels = [r.device for r in chosen]
        _bars(
            self.query_one("#compare-throughput", PlotextPlot),
            f"throughput, {unit}/s",
            labels,
            [f.throughput for f in figures],
        )
        _bars(
            self.query_one("#compare-efficiency", PlotextPlot),
            f"work per joule, {unit}/J",
            labels,
            [f.work_per_joule for f in figures],
        )
