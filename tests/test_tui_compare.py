"""The Compare tab as a user sees it: the scoreboard of several configurations at 80x24 and
160x48 (snapshots), and that what does not fit says so and scrolls (pilot)."""

from __future__ import annotations

import pytest
from textual.visual import VisualType
from textual.widgets import Static

from gpuscope.tui.scoreboard import log_scale
from gpuscope.units import decade_label
from tests.test_tui_snapshots import tab_shown
from tests.tui_support import add_session_runs, make_app, ready, wait_until


async def _with_session(pilot) -> None:  # type: ignore[no-untyped-def]
    app = await ready(pilot)
    add_session_runs(app)
    await pilot.press("4")
    await tab_shown(pilot, "4")


def test_compare_scoreboard_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=_with_session)


def test_compare_scoreboard_160x48(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=_with_session)


async def test_what_does_not_fit_is_hinted_and_scrolls() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _with_session(pilot)
        hint = app.query_one("#compare-hint", Static)
        await wait_until(pilot, lambda: hint.display and "more below" in str(hint.render()))
        await pilot.press("end")  # the pane has focus on this tab
        await wait_until(
            pilot,
            lambda: "more above" in str(hint.render()) and "below" not in str(hint.render()),
        )
        text = str(app.query_one("#compare-text", Static).render())
        assert text.count("log scale") == 6  # three groups, two bars each

    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await _with_session(pilot)
        await pilot.pause()
        assert not app.query_one("#compare-hint", Static).display


async def test_a_scoreboard_that_fits_never_hints_more_below() -> None:
    """The hint was worked out when the text's height was known but not yet the pane's (still
    0): every first look at Compare flashed "more below" for a frame, and a snapshot taken
    under load caught it."""
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        hint = app.query_one("#compare-hint", Static)
        told: list[str] = []
        update = hint.update

        def keep(content: VisualType = "", *, layout: bool = True) -> None:
            told.append(str(content))
            update(content, layout=layout)

        hint.update = keep  # type: ignore[method-assign]
        await _with_session(pilot)
        for _ in range(3):  # every refresh the first look set off
            await pilot.pause()
        assert not any("more" in text for text in told)
        assert not hint.display


async def test_a_resize_relays_the_scoreboard_at_once() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await _with_session(pilot)
        text = app.query_one("#compare-text", Static)
        assert "avg W" in str(text.render())
        for size, wide in (((80, 24), False), ((160, 48), True)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            shown = str(text.render())
            assert ("avg W" in shown) is wide and "images/J" in shown
            rows = [line for line in shown.splitlines() if line.startswith(("cpu ", "cuda:"))]
            assert len(rows) == 8 and max(len(row) for row in rows) <= size[0] - 4


def test_every_decade_label_stands_where_a_bar_of_that_value_ends() -> None:
    """The issue's scale: a CPU at 8 GFLOP/s and a GPU at 41 TFLOP/s. ``100T`` was drawn 4
    columns left of its place, where the 41T bar ends, so the bar seemed to reach 100T."""
    scale = log_scale([8e9, 4.1e13], 40)
    assert scale is not None and (scale.low, scale.high) == (9, 14)
    ticks = scale.tick_line()
    assert len(ticks) == 40 and ticks.split()[-2:] == ["10T", "100T"]
    for decade in range(scale.low, scale.high + 1):
        label = decade_label(decade)
        if label in ticks.split():
            assert ticks.index(label) == scale.decade_column(decade)
            if decade > scale.low:  # (the lowest decade's bar is kept an eighth of a cell)
                assert scale.cells(10.0**decade) == pytest.approx(scale.decade_column(decade))
    top = ticks.index("100T")
    assert (
        ticks.rstrip().endswith("100T") and scale.cells(4.1e13) < top - 2
    )  # 41T: well short of 100T
    assert round(scale.cells(1e13)) == ticks.index("10T")
    # work/J: one decade only, both labels at their ticks
    joules = log_scale([6.97, 5.0], 26)
    assert joules is not None
    assert joules.tick_line().rstrip().endswith("10") and joules.tick_line().startswith("1 ")
    assert joules.tick_line().index("10") == joules.decade_column(joules.high)
