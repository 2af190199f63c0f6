"""Snapshots of what a user sees, on simulated devices with a fixed timeline (a hand-moved clock),
so the pictures are the same on every machine. Update with ``pytest --snapshot-update`` and look
at the diff before committing."""

from __future__ import annotations

from gpuscope.tui.launcher import LaunchScreen
from tests.compare_runs import CNN, CNN_CHOSEN, CNN_ON_CPU, measured
from tests.tui_support import add_session_runs, make_app, ready, tick, wait_until

TIMELINE_TICKS = 90  # 45 s at 0.5 s: nvidia:0 training, nvidia:1 started serving at 20 s


async def _overview(pilot) -> None:  # type: ignore[no-untyped-def]
    await ready(pilot)
    await tick(pilot, TIMELINE_TICKS)


def test_overview_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=_overview)


def test_overview_160x48(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=_overview)


def test_processes(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _overview(pilot)
        await pilot.press("2")

    assert snap_compare(make_app(), terminal_size=(120, 30), run_before=before)


def test_launcher(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _overview(pilot)
        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, LaunchScreen))
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(120, 40), run_before=before)


def test_help(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def before(pilot) -> None:  # type: ignore[no-untyped-def]
        await ready(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(100, 40), run_before=before)


def _with_results(pilot, tab: str):  # type: ignore[no-untyped-def]
    async def before(pilot) -> None:  # type: ignore[no-untyped-def]
        app = await ready(pilot)
        assert app.found is not None
        infos = {d.info.device_id: d.info for d in app.found.devices}
        runs = [  # each at its own precision and batch: fp32 and 2 on a CPU without bf16
            measured("cnn", "cpu", infos["cpu"], 2.91, None, CNN_ON_CPU, chosen=CNN_CHOSEN),
            measured("cnn", "cuda:0", infos["nvidia:0"], 3981.4, 571.0, CNN, chosen=CNN_CHOSEN),
        ]
        app.runs.extend(runs)
        app.results.extend(r.result for r in runs if r.result is not None)
        app.session.note_change()  # as the session does at a run's event
        await pilot.press(tab)
        await tab_shown(pilot, tab)

    return before


async def tab_shown(pilot, key: str) -> None:  # type: ignore[no-untyped-def]
    """Until the tab's switch was handled (on a loaded machine a pause may not be enough)."""
    from textual.widgets import TabbedContent

    from gpuscope.tui.keys import TABS

    tab = TABS[int(key) - 1]
    app = pilot.app
    await wait_until(pilot, lambda: app.query_one("#tabs", TabbedContent).active == tab)
    if tab == "compare":  # focused once its activation was handled, so that keys scroll it
        await wait_until(
            pilot, lambda: app.focused is not None and app.focused.id == "compare-scroll"
        )
    await pilot.pause()


def test_workloads_with_results(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=_with_results(None, "3"))


def test_compare_cpu_vs_gpu(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=_with_results(None, "4"))


def test_launcher_with_a_sweep(snap_compare) -> None:  # type: ignore[no-untyped-def]
    from textual.widgets import Input, Select

    async def before(pilot) -> None:  # type: ignore[no-untyped-def]
        await ready(pilot)
        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, LaunchScreen))
        screen = pilot.app.screen
        screen.query_one("#launch-sweep-param", Select).value = "batch"
        screen.query_one("#launch-sweep-values", Input).value = "32..1024x2"
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(120, 40), run_before=before)


def test_workloads_with_a_sweep_filling_in(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """x: the swept size; cuda:0 ran out of memory at 4096 (said under the plots), the CPU's
    4096 is still measuring and already drawn from its figures so far."""
    from gpuscope.measurement.sweep import PointStatus, Sweep, SweepPoint, SweepRun
    from tests.compare_runs import failed

    async def before(pilot) -> None:  # type: ignore[no-untyped-def]
        app = await ready(pilot)
        assert app.found is not None
        infos = {d.info.device_id: d.info for d in app.found.devices}
        walk = SweepRun("gemm", Sweep("size", (256, 1024, 4096), "256..4096x4"), ("cuda:0", "cpu"))
        gpu = {256: 3.2e12, 1024: 1.6e14}
        cpu = {256: 2.1e11, 1024: 7.0e11, 4096: 8.4e11}
        for size, rate in gpu.items():
            run = measured("gemm", "cuda:0", infos["nvidia:0"], rate, 690.0, {"size": size})
            walk.runs.append(run)
            walk.record(SweepPoint("cuda:0", size, PointStatus.MEASURED, run.result))
        walk.runs.append(failed("gemm", "cuda:0", {"size": 4096}, "CUDA out of memory"))
        walk.record(SweepPoint("cuda:0", 4096, PointStatus.OOM, note="CUDA out of memory"))
        for size, rate in cpu.items():
            run = measured(
                "gemm", "cpu", infos["cpu"], rate, None, {"size": size}, live=size == 4096
            )
            walk.runs.append(run)
            if run.result is not None:
                walk.record(SweepPoint("cpu", size, PointStatus.MEASURED, run.result))
        for run in walk.runs:
            run.swept = "size"
        app.session.sweeps.append(walk)
        app.session.newest_sweep = walk
        app.runs.extend(walk.runs)
        app.results.extend(r.result for r in walk.runs if r.result is not None)
        app.session.note_change()  # as the session does at a run's event
        await pilot.press("3")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=before)


def test_workloads_with_results_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """The smallest terminal and eight runs: the plots keep a height a line can be read on;
    the newest runs are listed, and the results table scrolls into sight below."""
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=_with_session_runs)


async def _with_session_runs(pilot) -> None:  # type: ignore[no-untyped-def]
    app = await ready(pilot)
    add_session_runs(app)
    await pilot.press("3")
    await tab_shown(pilot, "3")


def test_overview_with_activity_counters_120x30(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """A GPU with activity counters (GPM) has a fifth line and room made for it; the CPU
    beside it looks as it always did."""
    from gpuscope.simulated.devices import SimulatedCpu
    from tests.activity_device import ActivityDevice
    from tests.tui_support import START_S

    app = make_app(devices=[ActivityDevice(), SimulatedCpu(START_S)])
    assert snap_compare(app, terminal_size=(120, 30), run_before=_overview)
