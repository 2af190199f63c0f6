"""A table drawn line by line (Textual's Line API): a row whose cells changed repaints alone.

DataTable renders every visible cell through Rich again when any one cell changes: about 90 ms
for 40 rows of 13 columns on our 2-core VM, so a process list whose figures move every two
seconds cost over 4 % of a core. Here a row is one padded string, and the compositor asks only
for the lines marked dirty. The fixed header is line 0; rows scroll under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from gpuscope.tui import formatting as fmt

GAP = "  "  # between columns
MIN_STRETCH = 12  # the stretching column never shrinks below this; the table scrolls instead


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    align: Literal["left", "right"] = "left"
    stretch: bool = False  # takes the width the others leave, its text cut with an ellipsis


def column_widths(columns: Sequence[Column], labels: Sequence[str], cells: Sequence[Sequence[str]],
                  room: int) -> list[int]:  # fmt: skip
    """Each column as wide as its widest cell or label; the stretching one gets what is left of
    ``room`` (at least ``MIN_STRETCH``, at most what its widest cell needs)."""
    widths = [max([len(label), *(len(row[i]) for row in cells)]) for i, label in enumerate(labels)]
    for i, column in enumerate(columns):
        if column.stretch:
            others = sum(w for j, w in enumerate(widths) if j != i)
            left = room - others - len(GAP) * (len(columns) - 1) - 1  # the leading space
            widths[i] = max(min(widths[i], left), MIN_STRETCH, len(labels[i]))
    return widths


def cells_of(text: str) -> int:
    """Terminal cells ``text`` takes: its length, unless it holds wide characters (CJK)."""
    return len(text) if text.isascii() else cell_len(text)


def fit(text: str, width: int, align: str) -> str:
    """``text`` in exactly ``width`` cells: cut with an ellipsis, or padded on the side
    opposite its alignment."""
    if text.isascii():
        text = fmt.clip(text, width)
        return text.rjust(width) if align == "right" else text.ljust(width)
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…"
    pad = " " * (width - cell_len(text))
    return pad + text if align == "right" else text + pad


def line_text(columns: Sequence[Column], widths: Sequence[int], cells: Sequence[str]) -> str:
    parts = [
        fit(cell, width, column.align)
        for column, width, cell in zip(columns, widths, cells, strict=True)
    ]
    return " " + GAP.join(parts)


class LineTable(ScrollView, can_focus=True):
    """Rows of strings under a fixed header, a cursor row that follows its key across updates,
    and a click on a header label that says which column was chosen."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "line-table--row",
        "line-table--header",
        "line-table--even-row",
        "line-table--cursor",
    }
    DEFAULT_CSS = """
    LineTable {
        background: $surface;
        color: $foreground;
        &:focus {
            background-tint: $foreground 5%;
            & > .line-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
        & > .line-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .line-table--even-row {
            background: $surface-lighten-1 50%;
        }
        &:dark > .line-table--even-row {
            background: $surface-darken-1 40%;
        }
        & > .line-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "cursor(-1_000_000)", "First row", show=False),
        Binding("end", "cursor(1_000_000)", "Last row", show=False),
    ]

    class Highlighted(Message):
        """The cursor is on another row (or the rows under it changed)."""

        def __init__(self, table: LineTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> LineTable:
            return self.table

    class HeaderClicked(Message):
        def __init__(self, table: LineTable, column: int) -> None:
            super().__init__()
            self.table, self.column = table, column

        @property
        def control(self) -> LineTable:
            return self.table

    def __init__(self, columns: Sequence[Column], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns = tuple(columns)
        self.labels: tuple[str, ...] = tuple(c.label for c in columns)
        self.keys: list[str] = []
        self.cells: list[tuple[str, ...]] = []
        self.cursor_row = 0
        self._widths: list[int] = [len(label) for label in self.labels]
        self._room = 0  # the width the widths were fitted to

    @property
    def row_count(self) -> int:
        return len(self.keys)

    def set_rows(
        self, keys: Sequence[str], cells: Sequence[tuple[str, ...]], labels: Sequence[str]
    ) -> None:
        """Show these rows. The cursor stays on its key if that is still listed; only the lines
        whose text changed are repainted, unless the order, the labels or a width changed."""
        followed = self.keys[self.cursor_row] if 0 <= self.cursor_row < len(self.keys) else None
        same_order = list(keys) == self.keys and tuple(labels) == self.labels
        before = self.cells
        self.keys, self.cells, self.labels = list(keys), list(cells), tuple(labels)
        widths = column_widths(self.columns, self.labels, self.cells, self._fit_room())
        if same_order and widths == self._widths:
            shown = self.rows_in_sight()
            changed = [i for i in shown if self.cells[i] != before[i]]  # rows out of sight wait
            if len(changed) > len(shown) // 2:
                self.refresh()  # one region, not one per line
            else:
                for i in changed:
                    self.refresh_line(i + 1)
            return
        self._widths = widths
        self.virtual_size = Size(
            cells_of(line_text(self.columns, widths, self.labels)), len(keys) + 1
        )
        self.refresh()
        row = self.keys.index(followed) if followed in self.keys else self.cursor_row
        self.move_cursor(row, announce=True)

    def rows_in_sight(self) -> range:
        top = round(self.scroll_y)
        return range(top, min(len(self.keys), top + self.scrollable_content_region.height - 1))

    def move_cursor(self, row: int, announce: bool = False) -> None:
        row = max(0, min(row, len(self.keys) - 1))
        if row != self.cursor_row or announce:
            self.refresh_line(self.cursor_row + 1)
            self.cursor_row = row
            self.refresh_line(row + 1)
            self.post_message(self.Highlighted(self))
        self._keep_cursor_in_sight()

    def _keep_cursor_in_sight(self) -> None:
        visible = max(1, self.scrollable_content_region.height - 1)  # rows under the header
        top = round(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False, immediate=True)

    def _room_now(self) -> int:
        """The width rows may take: the vertical scrollbar's room is left out whenever the rows
        need one, so a fit made before layout does not make a horizontal scrollbar appear."""
        bar = self.styles.scrollbar_size_vertical
        region = self.scrollable_content_region
        full = region.width + (bar if self.show_vertical_scrollbar else 0)
        return full - (bar if len(self.keys) + 1 > region.height else 0)

    def _fit_room(self) -> int:
        self._room = self._room_now()
        return self._room

    def on_resize(self, event: events.Resize) -> None:
        if self._room_now() != self._room:
            self._widths = []  # fitted again to the new width
            self.set_rows(self.keys, self.cells, self.labels)
        self._keep_cursor_in_sight()

    def action_cursor(self, step: int) -> None:
        self.move_cursor(self.cursor_row + step)

    def action_page(self, step: int) -> None:
        rows = max(1, self.scrollable_content_region.height - 2)
        self.move_cursor(self.cursor_row + step * rows)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            column = self._column_at(offset.x + round(self.scroll_x))
            if column is not None:
                self.post_message(self.HeaderClicked(self, column))
            return
        row = offset.y - 1 + round(self.scroll_y)
        if row < len(self.keys):  # a click below the last row selects nothing
            self.move_cursor(row)

    def _column_at(self, x: int) -> int | None:
        edge = 1  # the leading space
        for i, width in enumerate(self._widths):
            if edge <= x < edge + width + len(GAP):
                return i
            edge += width + len(GAP)
        return None

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:
            text, style = line_text(self.columns, self._widths, self.labels), "header"
        else:
            row = y - 1 + round(self.scroll_y)
            if row >= len(self.cells):
                return Strip.blank(width, self.get_component_rich_style("line-table--row"))
            text = line_text(self.columns, self._widths, self.cells[row])
            style = "cursor" if row == self.cursor_row else "even-row" if row % 2 else "row"
        rich_style: Style = self.get_component_rich_style(f"line-table--{style}")  # cached
        scroll_x = round(self.scroll_x)
        if text.isascii():  # one character, one cell
            shown = text[scroll_x : scroll_x + width].ljust(width)
            return Strip([Segment(shown, rich_style)], width)
        wide = Strip([Segment(text, rich_style)])  # a command line may hold wide characters
        return wide.crop(scroll_x, scroll_x + width).extend_cell_length(width, rich_style)
