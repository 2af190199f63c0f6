"""CPU-vs-GPU, side by side: throughput and work per joule of one workload on each device it ran
on, with the ratios printed. Live while runs are going, final once they are done."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.widgets import Static

from gpuscope.measurement.measured_run import MeasuredRun, RunState
from gpuscope.tui.formatting import EMPTY_CELL, bar
from gpuscope.tui.runs_view import RunFigures, group_key, run_figures, simulated_mark
from gpuscope.units import format_rate


def latest_per_device(runs: Sequence[MeasuredRun]) -> list[MeasuredRun]:
    """The newest run of the newest group on each device, skipping failed runs."""
    if not runs:
        return []
    group = group_key(runs[-1])
    chosen: dict[str, MeasuredRun] = {}
    for run in runs:
        if group_key(run) == group and run.state is not RunState.FAILED:
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
            estimated = [
                r.device
                for r, f in ((base, base_figures), (run, fig))
                if f.energy_source == "estimate"
            ]
            per_joule += f" ({escape(' and '.join(estimated))} estimated)" if estimated else ""
        else:
            missing = base.device if base_figures.work_per_joule is None else run.device
            per_joule = f"work/J ratio n/a ({escape(missing)} has no energy reading)"
        lines.append(f"{escape(run.device)} vs {escape(base.device)}: {speed}, {per_joule}")
    return lines


BAR_CELLS = 40


def bar_lines(
    title: str, labels: list[str], values: list[float | None], unit: str, per: str
) -> str:
    """Horizontal bars on one linear scale, each with its value: the ratio is there to read."""
    peak = max((v for v in values if v is not None), default=0.0)
    lines = [f"[b]{escape(title)}[/b]"]
    for label, value in zip(labels, values, strict=True):
        if value is None:
            lines.append(f"{escape(label):<8} {'':<{BAR_CELLS}} n/a")
            continue
        cells = bar(value / peak if peak else 0.0, BAR_CELLS).replace(EMPTY_CELL, " ")
        lines.append(f"{escape(label):<8} [$accent]{cells}[/] {format_rate(value, unit, per)}")
    return "\n".join(lines)


class CompareView(Vertical):
    def compose(self) -> ComposeResult:
        yield Static("", id="compare-text")
        with Horizontal(id="compare-bars"):
            yield Static("", id="compare-throughput")
            yield Static("", id="compare-efficiency")
        self._shown: object = None

    def show(self, runs: Sequence[MeasuredRun], simulated: frozenset[str] = frozenset()) -> None:
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
        unit = chosen[0].workload.unit
        head = f"[b]{escape(chosen[0].workload.name)}[/b] {escape(group_key(chosen[0])[1])}"
        rows = []
        for run, fig in zip(chosen, figures, strict=True):
            rate = "n/a" if fig.throughput is None else format_rate(fig.throughput, unit)
            per_joule = (
                f"n/a ({escape(fig.note or 'no energy reading')})"
                if fig.work_per_joule is None
                else format_rate(fig.work_per_joule, unit, "J")
            )
            live = "" if run.finished else " (live)"
            mark = simulated_mark(run.telemetry.device_id if run.telemetry else None, simulated)
            rows.append(f"  {escape(run.device):<8} {rate:<20} {per_joule}{live}{mark}")
        text = "\n".join([head, *rows, "", *ratio_lines(chosen, figures)])
        self.query_one("#compare-text", Static).update(text)
        labels = [r.device for r in chosen]
        self.query_one("#compare-throughput", Static).update(
            bar_lines(f"throughput ({unit}/s)", labels, [f.throughput for f in figures], unit, "s")
        )
        self.query_one("#compare-efficiency", Static).update(
            bar_lines(
                f"work per joule ({unit}/J)",
                labels,
                [f.work_per_joule for f in figures],
                unit,
                "J",
            )
        )
