"""The Compare tab: a scoreboard of every workload configuration run in this session, newest
first, each device's throughput and work per joule against the CPU's, with log-scale bars.

The groups, rows and ratios come from ``scoreboard`` (plain Python); this module lays them out
as text for the width at hand and redraws only when a run has moved on or the width changed.
Below ``WIDE_FROM`` columns the layout is compact: figures without units (the unit heads the
column), ratios and bars; average W, % of peak, energy source and why a figure is n/a are left
out (the Workloads tab has them), what is estimated is still said.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.markup import escape
from textual.widgets import Static

from gpuscope.measurement.measured_run import MeasuredRun
from gpuscope.measurement.result_cells import (
    percent_cell,
    rate_cell,
    shared_mark,
    source_cell,
    watts_cell,
)
from gpuscope.tui import formatting as fmt
from gpuscope.tui.scoreboard import (
    Group,
    Row,
    RowStatus,
    format_compact,
    log_scale,
    scoreboard,
)
from gpuscope.units import format_ratio

WIDE_FROM = 128  # columns: the wide row holds each device with its precision
MIN_BAR, MAX_BAR = 6, 36  # cells per bar
EST = "est."
UNFAIR = "!"  # a precision its device only emulates: the ratios do not compare like with like

NO_RUNS = (
    "No runs yet. Launch a workload (w) on the CPU and a GPU together: each configuration you "
    "run gets a row per device here, with throughput and work per joule against the CPU."
)


@dataclass(frozen=True, slots=True)
class _Column:
    title: str
    right: bool = True  # numbers right-aligned, names left
    is_bar: bool = False  # filled once the width left for bars is known


def _marks(row: Row) -> str:
    """Status (unless done) and SIMULATED: what makes a row's figures other than final and real."""
    words = [] if row.status is RowStatus.DONE else [row.status.value]
    if row.shared:
        words.append(shared_mark(row.shared, row.shared_pct).strip(" ()"))
    if row.simulated:
        words.append("SIMULATED")
    return " ".join(words)


def _ratio(value: float | None, estimated: bool) -> str:
    if value is None:
        return "n/a"
    return format_ratio(value) + (f" {EST}" if estimated else "")


def _cells(group: Group, row: Row, wide: bool) -> list[str]:
    """A row's text cells, bars left empty (filled once their width is known)."""
    base = group.baseline
    unit = group.unit
    if row.throughput is None:
        figure = "…" if row.status is not RowStatus.FAILED else "n/a"
        thr, wpj = figure, figure
    elif wide:
        thr, wpj = rate_cell(row.throughput, unit), rate_cell(row.work_per_joule, unit, "J")
    else:
        thr = format_compact(row.throughput)
        wpj = "n/a" if row.work_per_joule is None else format_compact(row.work_per_joule)
    if row.is_estimate and row.work_per_joule is not None:
        wpj += f" {EST}"
    estimated_ratio = row.is_estimate or (base is not None and base.is_estimate)
    unfair = UNFAIR if wide and not group.fair else ""  # compact: said by device and note
    cells = [_device(row), thr]
    if base is not None:
        cells.append(_ratio(row.speedup, False) + unfair)
    cells += ["", wpj]
    if base is not None:
        cells.append(_ratio(row.efficiency_ratio, estimated_ratio) + unfair)
    cells.append("")
    if wide:
        watts = watts_cell(row.avg_power_w)
        if row.is_estimate and row.avg_power_w is not None:
            watts += f" {EST}"
        cells += [watts, percent_cell(row.pct_of_peak), source_cell(row.energy_source)]
    return cells


def _device(row: Row) -> str:
    """``cpu fp32``: every ratio names the precision on each side; ``bf16!`` one emulated."""
    if row.precision is None:
        return row.device
    return f"{row.device} {row.precision}{UNFAIR if row.emulated else ''}"


def _columns(group: Group, wide: bool) -> list[_Column]:
    unit = group.unit
    versus = [_Column("vs cpu")] if group.baseline is not None else []
    throughput = _Column("throughput" if wide else f"{unit}/s")
    per_joule = _Column("work/J" if wide else f"{unit}/J")
    bar = _Column("log scale", right=False, is_bar=True)
    columns = [_Column("device", right=False), throughput, *versus, bar, per_joule, *versus, bar]
    if wide:
        columns += [_Column("avg W"), _Column("% peak"), _Column("energy", right=False)]
    return columns


def group_lines(group: Group, width: int) -> list[str]:
    """The group as markup lines no wider than ``width`` (the header may wrap)."""
    wide = width >= WIDE_FROM
    gap = "  " if wide else " "
    columns = _columns(group, wide)
    cells = [_cells(group, row, wide) for row in group.rows]
    widths = [max(len(c.title), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    bars = [i for i, c in enumerate(columns) if c.is_bar]
    marks = [_marks(row) for row in group.rows]
    marks_width = max((len(m) for m in marks), default=0)
    fixed = sum(w for i, w in enumerate(widths) if i not in bars) + len(gap) * (len(columns) - 1)
    fixed += len(gap) + marks_width if marks_width else 0
    bar_width = max(MIN_BAR, min(MAX_BAR, (width - fixed) // len(bars)))
    scales = [
        log_scale([r.throughput for r in group.rows], bar_width),
        log_scale([r.work_per_joule for r in group.rows], bar_width),
    ]
    for i in bars:
        widths[i] = bar_width

    def line(texts: list[str], accent_bars: bool = False) -> str:
        parts = []
        for i, (text, column) in enumerate(zip(texts, columns, strict=True)):
            padded = escape(text.rjust(widths[i]) if column.right else text.ljust(widths[i]))
            parts.append(f"[$accent]{padded}[/]" if accent_bars and i in bars else padded)
        return gap.join(parts).rstrip()

    lines = [_header(group), f"[$text-muted]{line([c.title for c in columns])}[/]"]
    for row, texts, mark in zip(group.rows, cells, marks, strict=True):
        if row.status is RowStatus.FAILED:
            room = max(10, width - widths[0] - len(gap))
            failure = escape(fmt.clip(f"failed: {row.failure or ''}", room))
            lines.append(f"{escape(row.device.ljust(widths[0]))}{gap}[$error]{failure}[/]")
            continue
        for i, scale, value in zip(bars, scales, (row.throughput, row.work_per_joule), strict=True):
            texts[i] = scale.bar(value) if scale else ""
        text = line(texts, accent_bars=True)
        lines.append(f"{text}{gap}{_styled_marks(mark)}" if mark else text)
    ticks = [""] * len(columns)
    for i, scale in zip(bars, scales, strict=True):
        ticks[i] = scale.tick_line() if scale else ""
    lines.append(f"[$text-muted]{line(ticks)}[/]")
    lines += [f"[$text-muted]{escape(fmt.clip(n, width))}[/]" for n in _notes(group, wide)]
    return lines


def _styled_marks(marks: str) -> str:
    text = escape(marks)
    return text.replace("SIMULATED", "[reverse $warning]SIMULATED[/]")


def _header(group: Group) -> str:
    params = " ".join(f"{name}={value}" for name, value in group.params_used)
    return f"[b $accent]{escape(group.workload)}[/]  {escape(params)}"


def _notes(group: Group, wide: bool) -> list[str]:
    """What to do to get a comparison, and which energy is estimated (always); why a figure
    is missing (wide only)."""
    notes = []
    if len(group.rows) == 1:
        notes.append("run this configuration on another device too (w) to compare the two")
    notes += [f"{row.device}: {row.shared}" for row in group.rows if row.shared]
    emulated = [row.emulated for row in group.rows if row.emulated]
    notes += [f"{UNFAIR} not a fair ratio: {why}" for why in emulated]
    if emulated:
        named = group.precision_param or "precision"
        notes.append(f"{UNFAIR} a fair one: launch with {named} 'best' (each device's fastest)")
    estimated = [r.device for r in group.rows if r.is_estimate]
    if estimated:
        base = group.baseline
        rests = "; the work/J ratios rest on it" if base is not None and base.is_estimate else ""
        notes.append(f"{EST} = {' '.join(estimated)} energy from a model, not measured{rests}")
    if wide:
        for row in group.rows:
            if row.throughput is not None and row.work_per_joule is None:
                notes.append(f"{row.device}: no work/J: {row.energy_note or 'no energy reading'}")
    return notes


def scoreboard_lines(groups: Sequence[Group], width: int) -> list[str]:
    """Every group, newest first, a blank line between two."""
    lines: list[str] = []
    for group in groups:
        if lines:
            lines.append("")
        lines += group_lines(group, width)
    return lines


class CompareView(Vertical):
    """The scoreboard in a scrolling pane; a hint line says when there is more above or below."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="compare-scroll"):
            yield Static(NO_RUNS, id="compare-text")
        yield Static("", id="compare-hint")
        self._shown: object = None
        self._groups = 0
        self._hint = ""
        self._runs: Sequence[MeasuredRun] | None = None
        self._simulated: frozenset[str] = frozenset()

    def on_mount(self) -> None:
        scroll = self.query_one("#compare-scroll", VerticalScroll)
        self.watch(scroll, "scroll_y", self._update_hint, init=False)
        # and once the text is laid out (its height is known only then)
        self.watch(scroll, "virtual_size", self._text_laid_out, init=False)

    def show(
        self,
        runs: Sequence[MeasuredRun],
        simulated: frozenset[str] = frozenset(),
        width: int | None = None,
    ) -> None:
        """Lay the runs out for ``width`` cells (default: this view's), unless nothing changed."""
        self._runs, self._simulated = runs, simulated
        scroll = self.query_one("#compare-scroll", VerticalScroll)
        # less the text's padding (1 a side) and the scrollbar's gutter (kept, so no reflow)
        outer = width or self.size.width or self.app.size.width
        text_width = outer - 2 - scroll.styles.scrollbar_size_vertical
        state = (
            [
                (r.run_id, len(r.live), r.state, r.result is not None, r.stop_requested)
                for r in runs
            ],
            text_width,
        )
        if state == self._shown:
            self._update_hint()  # cheap; heals a hint computed before the layout settled
            return
        self._shown = state
        groups = scoreboard(runs, simulated)
        self._groups = len(groups)
        self.query_one("#compare-text", Static).update(
            "\n".join(scoreboard_lines(groups, text_width)) or NO_RUNS
        )
        self.call_after_refresh(self._update_hint)

    def on_resize(self, event: events.Resize) -> None:
        """Relaid at once for the new width (the app's redraw may still see the old size)."""
        if self._runs is not None:
            self.show(self._runs, self._simulated, event.size.width)

    def _text_laid_out(self) -> None:
        """After the layout pass: it sets the text's height before the pane's (0 at first),
        and between the two everything seemed to overflow."""
        self.call_after_refresh(self._update_hint)

    def _update_hint(self) -> None:
        """Once laid out: whether the scoreboard overflows, and on which side."""
        scroll = self.query_one("#compare-scroll", VerticalScroll)
        above, below = scroll.scroll_y > 0, scroll.scroll_y < scroll.max_scroll_y
        text = ""
        if above or below:
            where = " and ".join(w for w, more in (("above", above), ("below", below)) if more)
            text = (
                f"{'▲' if above else ''}{'▼' if below else ''} more {where} "
                f"({self._groups} configurations, newest first): wheel, ↑ ↓, PgUp PgDn"
            )
        if text != self._hint:
            self._hint = text
            hint = self.query_one("#compare-hint", Static)
            hint.update(text)
            hint.display = bool(text)
