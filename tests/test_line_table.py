"""The line-drawn table: widths, alignment, the stretching column, a cursor that follows its key,
and header clicks that name their column."""

from __future__ import annotations

from textual.app import App, ComposeResult

from gpuscope.tui.line_table import Column, LineTable, column_widths, line_text

COLUMNS = (Column("name"), Column("n", "right"), Column("command", stretch=True))


def test_widths_fit_the_widest_cell_and_the_stretching_column_takes_the_rest() -> None:
    cells = [("alpha", "7", "python train.py --epochs 90"), ("b", "1234", "vllm")]
    assert column_widths(COLUMNS, ("name", "n", "command"), cells, room=200) == [5, 4, 27]
    narrow = column_widths(COLUMNS, ("name", "n", "command"), cells, room=30)
    assert narrow == [5, 4, 30 - 5 - 4 - 2 * 2 - 1]
    line = line_text(COLUMNS, narrow, cells[0])
    assert line == " alpha     7  python train.py…" and len(line) == 30  # numbers to the right
    assert line_text(COLUMNS, narrow, cells[1]) == " b      1234  vllm".ljust(30)
    tiny = column_widths(COLUMNS, ("name", "n", "command"), cells, room=10)
    assert tiny[2] == 12  # never below its minimum: the table scrolls sideways instead


class TableApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.clicked: list[int] = []

    def compose(self) -> ComposeResult:
        yield LineTable(COLUMNS, id="table")

    def on_line_table_header_clicked(self, event: LineTable.HeaderClicked) -> None:
        self.clicked.append(event.column)


async def test_the_cursor_follows_its_key_and_a_header_click_names_its_column() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(LineTable)
        table.set_rows(
            ["a", "b", "c"],
            [("a", "1", "x"), ("b", "2", "y"), ("c", "3", "z")],
            ("name", "n", "command"),
        )
        await pilot.pause()
        table.focus()
        await pilot.press("down", "down")
        assert table.keys[table.cursor_row] == "c"
        table.set_rows(
            ["c", "a", "b"],
            [("c", "3", "z"), ("a", "1", "x"), ("b", "2", "y")],
            ("name", "n", "command"),
        )
        assert table.keys[table.cursor_row] == "c" and table.cursor_row == 0
        assert table.render_line(1).text.startswith(" c ")  # the first row under the header
        assert table.render_line(0).text.startswith(" name")
        await pilot.click(LineTable, offset=(9, 0))  # on the "n" column's label
        await pilot.pause()
        assert app.clicked == [1]
        await pilot.click(LineTable, offset=(3, 3))  # the third row
        assert table.cursor_row == 2
        await pilot.click(LineTable, offset=(3, 6))  # below the last row: nothing is selected
        assert table.cursor_row == 2
        many = [str(i) for i in range(30)]  # rows that need a vertical scrollbar
        table.set_rows(many, [(k, k, "cmd") for k in many], ("name", "n", "command"))
        await pilot.pause()
        assert table.virtual_size.width <= table.scrollable_content_region.width  # no sideways
        await pilot.press("end")
        last_line = table.scrollable_content_region.height - 1
        assert table.cursor_row == 29 and table.render_line(last_line).text.startswith(" 29")


def test_wide_characters_take_two_cells() -> None:
    widths = column_widths(COLUMNS, ("name", "n", "command"), [("数据", "1", "训练.py")], room=40)
    assert widths[0] == 4
    assert line_text(COLUMNS, [4, 1, 5], ("数据", "1", "训练模型.py")).startswith(" 数据  1  训练…")
