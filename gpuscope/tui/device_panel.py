"""One device's panel: its figures now, and braille charts of utilization, memory and power.

The panel is handed samples; it never reads a device. It asks only for the samples it has not
seen (the whole chart window once, after a change of width or window), keeps them bucketed, and
repaints only a part whose text changed, so its cost does not grow with how long gpuscope runs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.markup import escape

from gpuscope.safe_text import one_line
from gpuscope.telemetry.model import DeviceInfo, Reading, Sample
from gpuscope.tui.charts import BRIDGE_FACTOR, BucketedHistory, time_axis
from gpuscope.tui.layout import PanelLayout
from gpuscope.tui.panel_charts import (
    CHART_KINDS,
    DEFAULT_CHARTS,
    GUTTER,
    ChartKind,
    PowerScale,
    chart_lines,
    chart_points,
)
from gpuscope.tui.panel_figures import figure_lines
from gpuscope.tui.text_lines import TextLine, TextLines

Fetch = Callable[[float], Sequence[Sample]]  # the samples taken at this time or later


@dataclass(frozen=True, slots=True)
class PanelFrame:
    """What every panel draws this time: the same for all of them on one redraw."""

    now_s: float
    window_s: float  # the charts' time span
    interval_s: float  # the sampling interval now: two samples about that far apart are one
    # line on the charts, even where a bucket is narrower (1 min over 74 cells: 148 buckets)
    layout: PanelLayout
    charts: tuple[str, ...] = DEFAULT_CHARTS


class DevicePanel(Vertical):
    """Figures and history of one device. ``show`` is cheap when nothing changed.

    Figures and charts are separate widgets: figures change every sample, charts only when a
    time bucket completes, and only a changed widget is repainted, and of it only the lines
    that changed (``TextLines``).
    """

    DEFAULT_CSS = """
    DevicePanel {
        height: auto;
        border: round $primary 60%;
        border-title-color: $foreground;
        border-title-style: bold;
        border-subtitle-color: $warning;
        padding: 0 1;
    }

    DevicePanel .figures, DevicePanel .charts {
        height: auto;
    }

    DevicePanel.-lost {
        border: round $error;
        border-subtitle-color: $error;
        color: $text-muted;
    }

    /* folded on a short terminal: the title line only, what the bottom border said is in it */
    DevicePanel.-compact {
        border: none;
        border-top: round $primary 60%;
    }

    DevicePanel.-compact.-lost {
        border: none;
        border-top: round $error;
    }
    """

    def __init__(self, info: DeviceInfo, simulated: bool = False) -> None:
        safe_id = re.sub(r"[^A-Za-z0-9_-]", "-", info.device_id)  # remote ids hold "/" and "."
        super().__init__(id=f"panel-{safe_id}", classes="device-panel")
        self.info = info
        self.simulated = simulated
        self._texts: dict[str, str | None] = {"figures": None, "charts": None}  # None: not drawn
        # a blank line each until the first sample is drawn, as an empty Static showed
        self._parts = {part: TextLines([""], id=part, classes=part) for part in self._texts}
        self._widths: dict[str, int] = {}  # the width each part's text was laid out at
        self._history: BucketedHistory | None = None
        self._latest: Sample | None = None
        self._last_good: Sample | None = None
        self._charts_key: object = None  # what the charts were last drawn from
        self._redraw: Callable[[], None] | None = None  # the last show(), to redo at a new width
        self._title = escape(one_line(f"{info.device_id} · {info.name}"))  # remote: outside text
        self.border_title = self._title
        if simulated:
            self.border_subtitle = "SIMULATED"

    def on_resize(self) -> None:
        """Drawn before it was laid out (a new layout, a resize), the text has the width it
        guessed: drawn again at its own."""
        if self._redraw is not None and self._widths.get("figures") != self.content_size.width:
            self._redraw()

    def compose(self) -> ComposeResult:
        yield self._parts["figures"]
        yield self._parts["charts"]

    @property
    def charts_text(self) -> str:
        """The charts as plain text, as last drawn ("" when hidden)."""
        return self._texts["charts"] or ""

    @property
    def text(self) -> str:
        """What the panel shows: its figures as markup, its charts as plain text (for tests and
        captures)."""
        return "\n".join(t for t in self._texts.values() if t)

    def _put(self, part: str, text: str, width: int, lines: Sequence[TextLine]) -> None:
        """Show ``lines``; ``text`` is what they say (markup, or the charts' plain text), which
        tells whether anything changed."""
        if self._texts[part] == text and self._widths.get(part) == width:
            return
        widget = self._parts[part]
        if not widget.is_attached:  # not composed yet: the next refresh draws it
            return
        self._texts[part] = text
        self._widths[part] = width
        widget.set_lines(lines)  # repaints the lines that changed; relayouts for a new count
        widget.display = bool(text)

    def show(
        self,
        fetch: Fetch,
        frame: PanelFrame,
        lost_reason: str | None = None,
        notice: str | None = None,
    ) -> None:
        """Redraw, taking in the samples not seen yet through ``fetch``. A lost device is drawn
        once more, with its last figures, and then frozen: it will not be read again."""
        if self.has_class("-lost"):
            return
        self._redraw = partial(self.show, fetch, frame, lost_reason, notice)
        width = max(20, self.content_size.width or 76)
        layout = frame.layout
        kinds = tuple(CHART_KINDS[name] for name in frame.charts)
        points = chart_points(width, len(kinds), layout.strip)
        history = self._take_samples(fetch, frame, points, kinds)
        latest = self._latest
        lines = figure_lines(self.info, self._last_good, width, layout.compact)
        if latest is not None and latest.lost:
            why = escape(one_line(lost_reason or "stopped answering"))
            lines.insert(0, f"[$error]LOST[/] {why}; the figures below are its last")
        elif notice:
            lines.insert(0, f"[$error]{escape(one_line(notice))}[/]")
        self._put("figures", "\n".join(lines), width, lines)
        if layout.chart_rows > 0:
            bridge_s = BRIDGE_FACTOR * frame.interval_s
            draw = (layout.chart_rows, layout.time_axis and not layout.strip, layout.strip)
            self._draw_charts(history, kinds, frame.now_s, draw, width, bridge_s)
        else:
            self._charts_key = None
            self._put("charts", "", width, [])
        lost = latest is not None and latest.lost
        self.set_class(lost, "-lost")
        self.set_class(layout.compact, "-compact")
        subtitle = "LOST: no longer updated" if lost else "SIMULATED" if self.simulated else ""
        # a folded panel has no bottom border: what it would say joins the title
        title = f"{self._title} · {subtitle}" if layout.compact and subtitle else self._title
        if (self.border_title, self.border_subtitle) != (title, subtitle):
            self.border_title, self.border_subtitle = title, subtitle

    @property
    def rows(self) -> int:
        """The rows the panel takes as last drawn, borders included: where it lies in its pane
        is known from what was drawn, not from a layout that may still be to come."""
        drawn = sum(text.count("\n") + 1 for text in self._texts.values() if text)
        return drawn + (1 if self.has_class("-compact") else 2)

    def _take_samples(
        self, fetch: Fetch, frame: PanelFrame, points: int, kinds: tuple[ChartKind, ...]
    ) -> BucketedHistory:
        """Take in the samples not seen yet; all of the window's, for a new width, window or
        choice of charts."""
        history = self._history
        metrics = tuple(kind.metric for kind in kinds)
        if (
            history is None
            or history.window_s != frame.window_s
            or history.points != points
            or history.metrics != metrics
        ):
            history = self._history = BucketedHistory(metrics, frame.window_s, points)
            since = frame.now_s - frame.window_s - history.bucket_s
        else:
            since = history.last_time_s if history.last_time_s is not None else -math.inf
        for sample in fetch(since):
            history.add(sample, frame.interval_s)  # it ignores samples it has taken in already
            if self._latest is not None and sample.reading.time_s <= self._latest.reading.time_s:
                continue
            self._latest = sample
            if not sample.lost:
                self._last_good = sample
        return history

    # -- charts -----------------------------------------------------------------------------

    def _draw_charts(
        self,
        history: BucketedHistory,
        kinds: tuple[ChartKind, ...],
        now_s: float,
        draw: tuple[int, bool, bool],
        width: int,
        bridge_s: float,
    ) -> None:
        """``draw``: rows per chart, a time axis under them, and side by side (a strip)."""
        rows, with_axis, strip = draw
        # Only completed buckets: the charts then move once per bucket, not on every sample.
        newest = math.floor(now_s / history.bucket_s) - 1
        limit = self._latest.reading.power_limit_w if self._latest is not None else None
        key = (id(history), newest, draw, width, bridge_s, limit)
        if key == self._charts_key:
            return
        self._charts_key = key
        # the middle of the newest complete bucket: its edge may round into the bucket before
        means = history.means((newest + 0.5) * history.bucket_s, bridge_s)
        latest = self._latest.reading if self._latest is not None else None
        power = PowerScale(
            limit,
            latest is not None and latest.power_w is None and latest.power_estimate_w is not None,
            self.info.notes[0] if self.info.notes else "",
            _activity_note(self.info, latest),
        )
        lines = chart_lines(kinds, means, rows, width, strip, power)
        muted = "$text-muted"
        if with_axis and len(lines) > len(kinds):  # at least one chart drawn
            axis = time_axis(history.window_s, width - GUTTER)
            lines.append([(f"{'':<{GUTTER}}{axis}", muted)])
        plain = "\n".join("".join(x for x, _ in line) for line in lines)  # what changed, cheaply
        self._put("charts", plain, width, [tuple(line) for line in lines])


def _activity_note(info: DeviceInfo, latest: Reading | None) -> str:
    """Why a device's activity charts are n/a: it has no GPM, or why its GPM is n/a now."""
    if not info.activity_counters:
        return "no GPM (an NVIDIA Hopper or newer GPU has it)"
    return (latest.activity_note if latest is not None else None) or ""
