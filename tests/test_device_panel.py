"""The device panel alone: what it asks the sampler for, and how it lays out its text."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import App, ComposeResult
from textual.containers import Vertical

from gpuscope.telemetry.model import DeviceInfo, Reading, Sample, Vendor
from gpuscope.tui.device_panel import DevicePanel, PanelFrame
from gpuscope.tui.layout import PanelLayout
from gpuscope.tui.text_lines import TextLines

INFO = DeviceInfo("nvidia:0", Vendor.NVIDIA, 0, "Test GPU")


def frame(now_s: float, window_s: float) -> PanelFrame:
    """Three charts of three rows each, a time axis under them."""
    return PanelFrame(now_s, window_s, 0.0, PanelLayout(1, 3, compact=False, time_axis=True))


def samples(start_s: float, end_s: float, step_s: float = 0.5) -> list[Sample]:
    out, t = [], start_s
    while t < end_s:
        reading = Reading(t, t, util_gpu_pct=60.0, mem_used_mib=10.0, mem_total_mib=80.0,
                          power_w=300.0, power_limit_w=700.0)  # fmt: skip
        out.append(Sample("nvidia:0", Vendor.NVIDIA, reading))
        t += step_s
    return out


class Store:
    """Stands in for ``Sampler.history_since``, and counts what the panel asked for."""

    def __init__(self, history: list[Sample]) -> None:
        self.history = history
        self.handed: list[int] = []

    def since(self, since_s: float) -> Sequence[Sample]:
        chosen = [s for s in self.history if s.reading.time_s >= since_s] or self.history[-2:]
        self.handed.append(len(chosen))
        return chosen


class PanelApp(App[None]):
    def compose(self) -> ComposeResult:
        with Vertical(id="box"):
            yield DevicePanel(INFO)


async def test_a_narrower_panel_is_laid_out_again_even_with_as_many_lines() -> None:
    """160x48 after 100x30 left a panel ten rows too tall: text built for the old width wrapped
    at the new one, and the next text, as many lines at the right width, skipped the relayout."""
    store = Store(samples(0.0, 400.0))
    app = PanelApp()
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.query_one(DevicePanel)
        box = app.query_one("#box")
        box.styles.width = 110
        await pilot.pause()
        panel.show(store.since, frame(400.0, 300.0))
        await pilot.pause()
        box.styles.width = 80  # the old text wraps here until the panel redraws
        await pilot.pause()
        panel.show(store.since, frame(400.5, 300.0))
        await pilot.pause()
        parts = list(panel.query(".figures, .charts").results(TextLines))
        assert len(parts) == 2
        for part in parts:
            assert part.size.height == len(part.lines), part.id


async def test_the_panel_takes_in_only_samples_it_has_not_seen() -> None:
    store = Store(samples(0.0, 400.0))
    app = PanelApp()
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.query_one(DevicePanel)
        panel.show(store.since, frame(400.0, 300.0))
        first = store.handed[-1]
        assert 600 <= first <= 610  # the chart's window once: 300 s at 0.5 s
        for step in range(1, 6):
            store.history.extend(samples(399.5 + 0.5 * step, 400.0 + 0.5 * step))
            panel.show(store.since, frame(400.0 + 0.5 * step, 300.0))
            assert store.handed[-1] <= 2  # the newest sample, and the one it had
        panel.show(store.since, frame(403.0, 600.0))  # a longer window: all of it, once
        assert store.handed[-1] == len(store.history)
        await pilot.pause()


class LinesApp(App[None]):
    def compose(self) -> ComposeResult:
        yield TextLines(id="lines")


async def test_only_the_lines_that_changed_are_drawn_again_and_none_wraps() -> None:
    """The figures and charts are drawn line by line: a redraw in which one figure moved must
    not lay out the others again (a Static rendered all of its text on every update)."""
    app = LinesApp()
    async with app.run_test(size=(40, 10)) as pilot:
        lines = app.query_one(TextLines)
        lines.set_lines(["[$success]GPU[/] 50%", (("util", "$text-muted"), ("⣿⣿", "$success"))])
        await pilot.pause()
        figure, chart = lines.render_line(0), lines.render_line(1)
        assert (figure.text.rstrip(), chart.text.rstrip()) == ("GPU 50%", "util⣿⣿")
        lines.set_lines(["[$success]GPU[/] 50%", (("util", "$text-muted"), ("⣿⣶", "$success"))])
        await pilot.pause()
        assert lines.render_line(0) is figure  # unchanged: the strip drawn before
        assert lines.render_line(1).text.rstrip() == "util⣿⣶"
        lines.set_lines(["x" * 60, "y"])  # too wide: cut at the width, never wrapped
        await pilot.pause()
        assert lines.size.height == 2
        assert lines.render_line(0).cell_length == lines.size.width == 40
