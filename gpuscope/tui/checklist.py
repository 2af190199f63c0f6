"""Boxes that show their state by glyph: ✓ when on, blank when off (Textual draws X for both
and leaves the state to colour)."""

from __future__ import annotations

from rich.segment import Segment
from textual.content import Content
from textual.strip import Strip
from textual.widgets import Checkbox, SelectionList
from textual.widgets.option_list import OptionDoesNotExist

CHECKED, UNCHECKED = "✓", " "  # a box's state by glyph: Textual's "X" for both leaves it to colour


class CheckList(SelectionList[str]):
    """A list of choices whose boxes show ✓ when chosen, so colour is not the only sign.

    Leans on how Textual (7.5-8.x) draws a line: the box's inside is the second segment. The
    launcher snapshot and tests/test_tui.py's glyph test fail if an upgrade changes that."""

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        segments = list(strip)
        try:
            option = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return strip
        if len(segments) < 4:  # not a line with a box
            return strip
        glyph = CHECKED if option.value in self.selected else UNCHECKED
        segments[1] = Segment(glyph, segments[1].style, segments[1].control)
        return Strip(segments, strip.cell_length)


class GlyphCheckbox(Checkbox):
    """A checkbox that shows ✓ when on and a blank box when off (through ToggleButton's
    ``_button``, a private property: the launcher's tests guard it across Textual upgrades)."""

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = CHECKED if self.value else UNCHECKED
        return super()._button
