"""Lines of styled text drawn line by line (Textual's Line API): a line repaints only if it changed.

A ``Static`` renders all of its text through ``Content`` again on every update, and the
compositor then repaints all of its lines: a device panel's figures change a figure or two a
sample, and its charts move a column a bucket, yet both were laid out whole each time (most of
the UI's CPU). Here each line is kept with the strip drawn from it; an update compares line by
line and marks dirty only the lines that differ. A line is markup (figures) or (text, style)
pieces (charts: their strips are built straight from segments, the styles resolved once).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.content import Content
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget

Pieces = tuple[tuple[str, str], ...]  # (text, style) of one line: text without markup
TextLine = str | Pieces  # markup, or pieces


class TextLines(Widget):
    """Lines that never wrap (each is cut at the widget's width), as tall as their count."""

    DEFAULT_CSS = """
    TextLines {
        height: auto;
    }
    """

    def __init__(
        self, lines: Sequence[TextLine] = (), *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._lines: list[TextLine] = list(lines)
        self._strips: dict[int, Strip] = {}  # by line: drawn at ``_drawn_for``
        self._drawn_for: object = None  # the width and style the strips were drawn at
        self._styles: dict[str, RichStyle] = {}  # a pieces' style, resolved for ``_drawn_for``

    @property
    def lines(self) -> list[TextLine]:
        return self._lines

    def set_lines(self, lines: Sequence[TextLine]) -> None:
        """Show ``lines``; repaint those that changed (all, and a relayout, when their number
        did)."""
        old, self._lines = self._lines, list(lines)
        if len(old) != len(self._lines):
            self._strips.clear()
            self.refresh(layout=True)
            return
        changed = [
            y for y, (was, now) in enumerate(zip(old, self._lines, strict=True)) if was != now
        ]
        if changed:
            width = self.size.width
            for y in changed:
                self._strips.pop(y, None)
            self.refresh(*(Region(0, y, width, 1) for y in changed))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines)

    def render_lines(self, crop: Region) -> list[Strip]:
        """Textual asks for the lines of one frame: the width and style are checked once."""
        key = (self.size.width, self.visual_style)
        if key != self._drawn_for:  # resized, or the theme changed: every line again
            self._drawn_for = key
            self._strips.clear()
            self._styles.clear()
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        strip = self._strips.get(y)
        if strip is None:
            line = self._lines[y] if y < len(self._lines) else ""
            strip = self._draw(line, self.size.width)
            self._strips[y] = strip
        return strip

    def _draw(self, line: TextLine, width: int) -> Strip:
        base = self.visual_style
        if isinstance(line, str):  # one line, never wrapped: no layout of text to do
            pieces = Content.from_markup(line).render(base, "", self._get_style)
            segments = [Segment(text, style.rich_style) for text, style in pieces]
        else:
            segments = [Segment(text, self._rich_style(name)) for text, name in line]
        return Strip(segments).crop_extend(0, width, base.rich_style)

    def _rich_style(self, name: str) -> RichStyle:
        """A pieces' style (a theme variable such as ``$success``) over the widget's own."""
        found = self._styles.get(name)
        if found is None:
            found = (self.visual_style + self._get_style(name)).rich_style
            self._styles[name] = found
        return found
