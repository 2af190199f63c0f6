"""The line under the device panels naming those out of sight: a terminal too small must not
hide a device without saying so. It follows the panels' scroll pane itself (a scroll, a new
layout), so it never names regions from before the panels were laid out."""

from __future__ import annotations

from collections.abc import Mapping

from textual.containers import VerticalScroll
from textual.markup import escape
from textual.widget import Widget
from textual.widgets import Static

from gpuscope.tui.layout import offscreen_hint


class PanelsHint(Static):
    """Shown only while some panel is out of sight; ``panels`` is the app's, by device id."""

    def __init__(self, panels: Mapping[str, Widget], scroll: str, *, id: str) -> None:
        super().__init__("", id=id)
        self._panels = panels
        self._scroll_id = scroll  # the pane the panels scroll in, a sibling
        self._text = ""

    def on_mount(self) -> None:
        scroll = self._scroll()
        for reactive in ("scroll_y", "virtual_size"):
            self.watch(scroll, reactive, self._laid_out, init=False)

    def _laid_out(self) -> None:
        self.call_after_refresh(self.update_hint)

    def _scroll(self) -> VerticalScroll:
        assert self.parent is not None
        return self.parent.query_one(f"#{self._scroll_id}", VerticalScroll)

    def update_hint(self) -> None:
        """From the regions laid out (a panel not laid out yet is not named)."""
        view = self._scroll().content_region
        regions = {d: (p.region.y, p.region.bottom) for d, p in self._panels.items() if p.region}
        text = offscreen_hint(regions, (view.y, view.bottom))
        if text != self._text:
            self._text = text
            self.update(escape(text))
            self.display = bool(text)
