"""The Devices tab: a panel per device, the absent backends and unreachable hosts above them, and
under them a line naming the panels out of sight (a terminal too small must not hide a device
without saying so).

The app hands it the sampler and what to draw; the view lays the panels out for the terminal's
size (``layout.panel_layout``) and works out which are out of sight from the rows each panel
drew, not from where Textual has placed them so far: the line is right as soon as it is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

from textual.app import ComposeResult
from textual.containers import Grid, Vertical, VerticalScroll
from textual.geometry import Size
from textual.markup import escape
from textual.reactive import var
from textual.widgets import Static

from gpuscope.safe_text import one_line
from gpuscope.sampler import Sampler
from gpuscope.telemetry.model import DeviceInfo
from gpuscope.telemetry.remote_hosts import Unreachable
from gpuscope.tui.device_panel import DevicePanel, PanelFrame
from gpuscope.tui.layout import (
    CHROME_ROWS,
    PanelLayout,
    offscreen_hint,
    panel_layout,
    panel_spans,
)
from gpuscope.tui.panel_charts import ACTIVITY_CHARTS


class PanelsHint(Static):
    """The line naming the panels out of sight; shown only while there are some."""

    DEFAULT_CSS = """
    PanelsHint {
        display: none;
        height: 1;
        padding: 0 1;
        color: $warning;
    }
    """

    text: var[str] = var("")

    def watch_text(self, text: str) -> None:
        self.update(escape(text))
        self.display = bool(text)


class StatusLines(Static):
    """Absent backends and unreachable hosts (markup), above the panels; none: hidden."""

    DEFAULT_CSS = """
    StatusLines {
        height: auto;
        padding: 0 1;
    }
    """

    text: var[str] = var("")

    def watch_text(self, text: str) -> None:
        self.update(text)
        self.display = bool(text)

    @property
    def rows(self) -> int:
        return self.text.count("\n") + 1 if self.text else 0


class DevicesView(Vertical):
    """The panels, by device id, in the order they were added."""

    DEFAULT_CSS = """
    DevicesView #panels-scroll {
        height: 1fr;
    }

    DevicesView #panels {
        grid-size: 1;
        grid-gutter: 0 1;
        height: auto;
        grid-rows: auto;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.panels: dict[str, DevicePanel] = {}
        self.layout_now = panel_layout(80, 24, 1)  # as the last ``lay_out`` chose
        self._terminal = Size(80, 24)
        self._told_lost: set[str] = set()
        # made here, composed once: a redraw finds them without a query of the DOM
        self._status = StatusLines(id="absent")
        self._scroll = VerticalScroll(id="panels-scroll")
        self._grid = Grid(id="panels")
        self._hint = PanelsHint(id="panels-hint")

    def compose(self) -> ComposeResult:
        yield self._status
        with self._scroll:
            yield self._grid
        yield self._hint

    def on_mount(self) -> None:
        self.watch(self._scroll, "scroll_y", self._show_hint, init=False)  # the user scrolled

    def add(self, infos: Sequence[DeviceInfo], simulated_ids: frozenset[str] = frozenset()) -> None:
        """A panel for each device (``simulated_ids``: those to mark as simulated)."""
        grid = self._grid
        for info in infos:
            panel = DevicePanel(info, simulated=info.device_id in simulated_ids)
            self.panels[info.device_id] = panel
            grid.mount(panel)

    def no_devices(self) -> None:
        self._grid.mount(Static("No devices found.", id="no-devices"))

    def set_status(self, absent: Sequence[str], unreachable: Sequence[Unreachable]) -> None:
        """Absent backends, and each remote host that does not answer (it is retried)."""
        lines = [f"[$text-muted]absent: {escape(one_line(line))}[/]" for line in absent]
        for host in unreachable:  # what a remote host said: never raw
            lines.append(
                f"[$error]{escape(one_line(host.url))}: unreachable since {host.since}[/] "
                f"({escape(one_line(host.why))}); retrying every {host.retry_s:g} s"
            )
        self._status.text = "\n".join(lines)

    def lay_out(self, terminal: Size, charts: int) -> PanelLayout:
        """Choose columns, chart height and folding for a terminal of this size (the app's, as
        a resize event gives it: the app's own size is still the old one then)."""
        self._terminal = terminal
        rows_above = self._status.rows
        devices = max(1, len(self.panels))
        layout = panel_layout(terminal.width, terminal.height, devices, rows_above, charts)
        if not layout.compact:  # a GPU with activity counters has a fifth line: make room
            extra = self._activity_rows(layout.columns)
            if extra:
                layout = panel_layout(
                    terminal.width, terminal.height, devices, rows_above + extra, charts
                )
        self.layout_now = layout
        grid = self._grid
        if grid.styles.grid_size_columns != layout.columns:
            grid.styles.grid_size_columns = layout.columns
        return layout

    def _activity_rows(self, columns: int) -> int:
        """Rows of the panel grid holding a panel with an activity line (GPM): each such row
        is one line taller than ``layout`` counts on."""
        has = [panel.info.activity_counters for panel in self.panels.values()]
        step = max(1, columns)
        return sum(any(has[start : start + step]) for start in range(0, len(has), step))

    def shows_activity(self, charts: tuple[str, ...]) -> bool:
        """Whether a panel on this tab shows activity counters: the panels' activity line (not
        in the compact layout) or an activity chart. Nothing shown, nothing read."""
        if not any(panel.info.activity_counters for panel in self.panels.values()):
            return False
        return not self.layout_now.compact or not ACTIVITY_CHARTS.isdisjoint(charts)

    def show(
        self,
        sampler: Sampler,
        now_s: float,
        window_s: float,
        charts: tuple[str, ...],
        notices: Mapping[str, str],
    ) -> None:
        """Redraw every panel from the sampler's history; tell once that a device was lost."""
        layout = self.lay_out(self._terminal, len(charts))
        frame = PanelFrame(now_s, window_s, sampler.interval_s, layout, charts)
        lost = sampler.lost
        for device_id, panel in self.panels.items():
            panel.show(
                partial(sampler.history_since, device_id),
                frame,
                lost.get(device_id),
                notices.get(device_id),
            )
            if device_id in lost and device_id not in self._told_lost:
                self._told_lost.add(device_id)
                self.notify(f"{device_id} lost: {lost[device_id]}", severity="error", timeout=10)
        self._show_hint()

    @property
    def out_of_sight(self) -> str:
        """The line naming the panels out of sight ("" when all are in it)."""
        return self._hint.text

    def _show_hint(self) -> None:
        spans = panel_spans({d: p.rows for d, p in self.panels.items()}, self.layout_now.columns)
        pane_rows = self._terminal.height - CHROME_ROWS - self._status.rows
        bottom = max((end for _, end in spans.values()), default=0)
        if bottom > pane_rows:
            pane_rows -= 1  # the hint's own line
        top = max(0, min(round(self._scroll.scroll_y), bottom - pane_rows))
        self._hint.text = offscreen_hint(spans, (top, top + pane_rows))
