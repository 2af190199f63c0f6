"""The Compare tab as a user sees it: the scoreboard of several configurations at 80x24 and
160x48 (snapshots), and that what does not fit says so and scrolls (pilot)."""

from __future__ import annotations

from textual.widgets import Static

from tests.compare_runs import session_runs
from tests.tui_support import make_app, ready


async def _with_session(pilot) -> None:  # type: ignore[no-untyped-def]
    app = await ready(pilot)
    assert app.found is not None
    runs = session_runs({d.info.device_id: d.info for d in app.found.devices})
    app.runs.extend(runs)
    app.reports.extend(r.report for r in runs if r.report is not None)
    app._runs_version += 1
    await pilot.press("4")
    await pilot.pause()


def test_compare_scoreboard_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=_with_session)


def test_compare_scoreboard_160x48(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=_with_session)


async def test_what_does_not_fit_is_hinted_and_scrolls() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _with_session(pilot)
        await pilot.pause()
        hint = app.query_one("#compare-hint", Static)
        assert hint.display and "more below" in str(hint.render())
        await pilot.press("end")  # the pane has focus on this tab
        await pilot.pause()
        await pilot.pause()
        assert "more above" in str(hint.render()) and "below" not in str(hint.render())
        text = str(app.query_one("#compare-text", Static).render())
        assert text.count("log scale") == 6  # three groups, two bars each

    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await _with_session(pilot)
        await pilot.pause()
        assert not app.query_one("#compare-hint", Static).display


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
