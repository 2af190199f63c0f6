"""Pilot tests: what each key does, runs end to end, crashes, a lost device, recording."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from textual.widgets import (
    DataTable,
    Input,
    OptionList,
    Select,
    SelectionList,
    Static,
    TabbedContent,
)

from gpuscope.measurement.measured_run import MeasuredRun, RunState
from gpuscope.simulated.devices import SimulatedCpu, demo_gpus
from gpuscope.sinks.columns import COLUMN_NAMES
from gpuscope.telemetry.model import EnergySource
from gpuscope.tui.app import GpuscopeApp
from gpuscope.tui.help_screen import HelpScreen
from gpuscope.tui.launcher import LaunchScreen
from gpuscope.workloads.api import WorkloadError
from gpuscope.workloads.events import ErrorKind
from tests.conftest import FakeClock
from tests.plugin_files import workload_with_step
from tests.tui_support import (
    START_S,
    SteadyRun,
    make_app,
    notices,
    ready,
    tick,
    told,
    wait_until,
)


def header_text(app: GpuscopeApp) -> str:
    return str(app.query_one("#header", Static).render())


def panel_text(app: GpuscopeApp, device_id: str) -> str:
    return app.panels[device_id].text


def offered(select: Select[str]) -> list[str]:
    """What a Select's menu lists, as the user reads it (its option list's prompts)."""
    menu = select.query_one(OptionList)
    return [str(menu.get_option_at_index(i).prompt) for i in range(menu.option_count)]


def test_the_first_frame_needs_none_of_the_sessions_modules() -> None:
    """The app draws its header and tabs before it imports the session, the sampler, the
    measurement modules and the views (half a second on a small machine): the command and the
    app's module import none of them (``_start`` does, on a thread, after the first frame)."""
    later = (
        "gpuscope.session", "gpuscope.sampler", "gpuscope.measurement.measured_run",
        "gpuscope.tui.devices_view", "gpuscope.tui.runs_view", "gpuscope.workloads.runner",
    )  # fmt: skip
    code = (
        "import sys, gpuscope.commands.ui, gpuscope.tui.app\n"
        f"print(sorted(m for m in {later!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


async def test_panels_show_figures_and_na_never_zero() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await tick(pilot, 4)
        gpu = panel_text(app, "nvidia:0")
        cpu = panel_text(app, "cpu")
        assert "GPU" in gpu and "/700 W" in gpu and "(counter)" in gpu
        assert "fan n/a" in gpu  # unsupported, as on the H100
        assert "integrated" in panel_text(app, "amd:0")  # no counter: power integrated
        assert "energy n/a (RAPL: not present" in cpu and "PWR" in cpu
        assert "0 W" not in cpu  # n/a is never shown as zero
        header = header_text(app)
        assert "testhost" in header and "SIMULATED" in header and "every 0.5 s" in header
        assert "demo absent line" in str(app.query_one("#absent", Static).render())


async def test_keys_pause_interval_history_tabs_and_help() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        tabs = app.query_one("#tabs", TabbedContent)
        await pilot.press("p")
        assert "PAUSED" in header_text(app)
        await pilot.press("p")
        assert "PAUSED" not in header_text(app)
        await pilot.press("minus")
        assert app.sampler is not None and app.sampler.interval_s == 1.0
        await pilot.press("plus", "plus")
        assert app.sampler.interval_s == 0.2
        await pilot.press("right_square_bracket")
        assert app.window_s == 600.0
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert app.window_s == 120.0
        await pilot.press("tab")
        assert tabs.active == "processes"
        await pilot.press("shift+tab", "shift+tab")  # round the end, both ways
        assert tabs.active == "compare"
        await pilot.press("tab")
        assert tabs.active == "devices"
        await pilot.press("3")
        assert tabs.active == "workloads"
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("w")  # main-screen keys are inert under a dialog
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("q")
    assert app.return_code == 0


async def test_paused_display_does_not_change() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await tick(pilot, 2)
        before = panel_text(app, "nvidia:0")
        await pilot.press("p")
        await tick(pilot, 20, step_s=2.0)
        assert panel_text(app, "nvidia:0") == before
        await pilot.press("p")
        await pilot.pause()
        assert panel_text(app, "nvidia:0") != before


async def test_processes_listed_and_sortable() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await tick(pilot, 60, step_s=0.5)  # nvidia:1 starts serving at 20 s
        await pilot.press("2")
        await pilot.pause()
        from gpuscope.tui.processes_view import COLUMNS, ProcessTable

        table = app.query_one(ProcessTable)
        pids = [cells[1] for cells in table.cells]
        assert pids == ["5150?", "4242?", "5188?"]  # by GPU memory; simulated: never signalled
        steps = COLUMNS.index("command") - COLUMNS.index("GPU mem")
        await pilot.press(*["o"] * steps)  # next columns, up to command, reversed
        await pilot.press("O")  # ascending
        commands = [cells[COLUMNS.index("command")] for cells in table.cells]
        assert commands == sorted(commands)
        assert table.cells[0][2] == "(simulated)"


async def test_lost_device_is_marked_and_the_others_go_on() -> None:
    start = START_S
    gpus = demo_gpus(start)
    gpus[0].lost_at_s = 2.0
    app = make_app([*gpus, SimulatedCpu(start)])
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await tick(pilot, 3)
        assert "LOST" not in panel_text(app, "nvidia:0")
        await tick(pilot, 3)
        lost = panel_text(app, "nvidia:0")
        assert "LOST" in lost and "GPU is lost (simulated)" in lost
        assert app.panels["nvidia:0"].has_class("-lost")
        await told(pilot, "nvidia:0 lost")
        before = panel_text(app, "nvidia:1")
        await tick(pilot, 40)
        assert panel_text(app, "nvidia:1") != before  # the others keep updating
        assert panel_text(app, "nvidia:0") == lost  # the lost one does not


async def test_recording_on_and_off_writes_a_valid_csv(tmp_path: Path) -> None:
    app = make_app(record_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await tick(pilot, 1)
        await pilot.press("r")
        assert "REC" in header_text(app)
        await tick(pilot, 3)
        await pilot.press("r")
        await wait_until(pilot, lambda: not app.session.busy)  # the file closes on a thread
        assert "REC" not in header_text(app)
        await tick(pilot, 2)  # after stopping: not recorded
    files = list(tmp_path.glob("gpuscope-*.csv"))
    assert len(files) == 1
    frame = pd.read_csv(files[0])
    assert list(frame.columns) == list(COLUMN_NAMES)
    assert len(frame) == 3 * 4  # three ticks, four devices
    assert set(frame["device"]) == {"nvidia:0", "nvidia:1", "amd:0", "cpu"}


async def test_recording_into_a_missing_directory_is_a_notification(tmp_path: Path) -> None:
    app = make_app(record_dir=tmp_path / "gone")
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press("r")
        assert app.session.recording is None
        await told(pilot, "cannot record")


async def open_launcher(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("w")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, LaunchScreen))


async def launched_and_shown(pilot, launched: list[object]) -> None:  # type: ignore[no-untyped-def]
    """Until the launcher handed its launch over and the switch to Workloads was handled: a test
    that left before, closing the app under the tab's message, failed with NoMatches '#tabs'
    (seen with other tests running on 2 cores)."""
    tabs = pilot.app.query_one("#tabs", TabbedContent)
    await wait_until(pilot, lambda: bool(launched) and tabs.active == "workloads")
    await pilot.pause()


async def _launch(
    pilot, workload: str, devices: list[str], duration: str = "1", **params: str
) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    await open_launcher(pilot)
    screen = app.screen
    screen.query_one("#launch-workload").value = workload
    await pilot.pause()
    for name, text in params.items():
        screen.query_one(f"#param-{name}", Input).value = text
    selection = screen.query_one("#launch-devices", SelectionList)
    selection.deselect_all()
    for device in devices:
        selection.select(device)
    screen.query_one("#launch-duration", Input).value = duration
    screen.query_one("#launch-warmup", Input).value = "0"
    await pilot.click("#launch-start")
    await pilot.pause()
    if isinstance(app.screen, LaunchScreen):
        raise AssertionError(str(app.screen.query_one("#launch-error").render()))


async def test_launch_cpu_workload_end_to_end_with_live_figures() -> None:
    app = make_app(autostart=True, clock=time.monotonic, interval_s=0.1)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await _launch(pilot, "gemm", ["cpu"], duration="1.5", size="128")
        await wait_until(pilot, lambda: app.results, timeout_s=90)
        run = app.runs[0]
        assert run.state is RunState.DONE and run.live  # progress arrived while it ran
        assert app.query_one("#tabs", TabbedContent).active == "workloads"
        app.refresh_view()
        await pilot.pause()
        table = app.query_one("#results-table", DataTable)
        row = table.get_row_at(0)
        assert row[0] == "gemm" and "FLOP/s" in row[3]
        device = str(row[1])  # "(shared 43%)" between the two where the machine is busy
        assert device.startswith("cpu") and device.endswith(" SIMULATED")  # the simulated CPU
        assert row[5] == "n/a"  # the simulated CPU has no energy: work/J is n/a, not 0
        status = str(app.query_one("#runs-status", Static).render())
        assert "✓" in status and "gemm on cpu" in status


async def test_bad_parameter_is_one_line_in_the_launcher() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await open_launcher(pilot)
        screen = app.screen
        screen.query_one("#launch-workload").value = "gemm"
        await pilot.pause()
        screen.query_one("#param-size", Input).value = "huge"
        await pilot.click("#launch-start")
        await pilot.pause()
        assert isinstance(app.screen, LaunchScreen)  # still open, with the reason
        assert "size" in str(screen.query_one("#launch-error").render())
        assert not app.runs


async def test_crashing_workload_is_a_notification_and_the_ui_goes_on(tmp_path: Path) -> None:
    plugin = workload_with_step(tmp_path, "crasher", "import os; os._exit(3)")
    app = make_app(plugin_files=[plugin])
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await _launch(pilot, "crasher", ["cpu"])
        await wait_until(pilot, lambda: app.runs and app.runs[0].finished, timeout_s=60)
        await pilot.pause()
        run = app.runs[0]
        assert run.state is RunState.FAILED and run.error is not None
        assert run.error.kind is ErrorKind.CRASHED
        await told(pilot, "crasher on cpu failed")
        await tick(pilot, 2)  # still sampling and drawing
        assert "✗" in str(app.query_one("#runs-status", Static).render())


async def test_simulated_gpu_beside_cpu_fills_the_comparison(tmp_path: Path) -> None:
    from gpuscope.simulated.runs import SimulatedRun

    gpus = demo_gpus(time.monotonic())
    cpu = SimulatedCpu(time.monotonic())

    def factory(spec, hang_timeout_s):  # type: ignore[no-untyped-def]
        if spec.device == "cpu":  # what a CPU's figures are does not matter here: no child
            return SteadyRun(spec)
        return SimulatedRun(spec, gpus[0], progress_period_s=0.2)

    app = make_app(
        [*gpus, cpu],
        autostart=True,
        clock=time.monotonic,
        interval_s=0.1,
        run_factory=factory,
    )
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await _launch(pilot, "gemm", ["cpu", "cuda:0"], duration="0.5", size="64")
        await wait_until(pilot, lambda: len(app.results) == 2, timeout_s=90)
        await pilot.press("4")
        app.refresh_view()
        await pilot.pause()
        text = str(app.query_one("#compare-text", Static).render())
        gpu_row = next(line for line in text.splitlines() if line.startswith("cuda:0 "))
        assert "FLOP/s" in gpu_row and "x  █" in gpu_row and "SIMULATED" in gpu_row
        assert "cpu: no work/J:" in text  # a simulated CPU without RAPL says why, not 0
        gpu_report = next(r for r in app.results if r.device == "cuda:0")
        assert gpu_report.energy_source is EnergySource.COUNTER and gpu_report.work_per_joule
        # a 64-cube GEMM is launch-bound, on a simulated H100 as on a real one
        assert gpu_report.pct_of_peak is not None and gpu_report.pct_of_peak < 1


async def test_save_results_writes_the_reports_csv(tmp_path: Path) -> None:
    app = make_app(record_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press("s")
        await told(pilot, "no results")


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
async def test_every_device_keeps_its_numbers_at_any_size(size: tuple[int, int]) -> None:
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        await tick(pilot, 3)
        for device_id in ("nvidia:0", "nvidia:1", "amd:0", "cpu"):
            assert "MEM" in panel_text(app, device_id)


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (120, 40), (160, 48)])
async def test_no_figure_line_wraps_at_common_sizes(size: tuple[int, int]) -> None:
    """At 100x30 a lone ``GiB`` line was reported: a figure line longer than its panel."""
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        await tick(pilot, 3)
        await pilot.pause()
        for panel in app.panels.values():
            for part in panel.query(".figures, .charts").results(Static):
                if part.display:
                    lines = str(part.render()).count("\n") + 1
                    assert part.size.height == lines, (size, panel.info.device_id, part.id)


async def test_panels_out_of_sight_are_named_and_a_missing_metric_takes_one_line() -> None:
    app = make_app()
    async with app.run_test(size=(80, 16)) as pilot:  # four panels cannot all fit
        await ready(pilot)
        await tick(pilot, 3)
        hint = app.query_one("#panels-hint", Static)
        assert hint.display and "below" in str(hint.render()) and "cpu" in str(hint.render())
        await pilot.resize_terminal(160, 48)  # room for all: the hint goes
        await tick(pilot, 2)
        assert not app.query_one("#panels-hint", Static).display
        chart_lines = app.panels["cpu"].charts_text
        power = [line for line in chart_lines.splitlines() if line.startswith("pwr")]
        assert power == ["pwr       n/a: RAPL: not present (simulated)"]  # one line, with why
        assert "-5m" in chart_lines.splitlines()[-1]  # the time axis under the charts


async def test_the_panels_out_of_sight_are_named_as_soon_as_they_are_drawn() -> None:
    """The hint was read from where Textual had placed the panels, after the redraw: a check
    right after one (or a loaded machine) saw the hint from before. It is worked out from the
    rows each panel drew, and follows the user's scrolling."""
    app = make_app()
    async with app.run_test(size=(80, 16)) as pilot:
        await ready(pilot)
        clock, sampler = app.setup.clock, app.sampler
        assert isinstance(clock, FakeClock) and sampler is not None
        for _ in range(2):  # from "waiting for the first sample" to figures, no pause between
            clock.advance(0.5)
            sampler.tick()
            app.refresh_view()
        # 16 rows: header, tabs, footer, the absent line and the hint leave 10 for 4 x 3
        assert app.devices.out_of_sight.startswith("↓ 1 below (cpu)")
        assert app.query_one("#panels-hint", Static).display
        await pilot.pause()  # laid out, as before any user can scroll
        app.query_one("#panels-scroll").scroll_end(animate=False, immediate=True)
        await wait_until(pilot, lambda: app.devices.out_of_sight.startswith("↑ 1 above"))
        assert "(nvidia:0)" in app.devices.out_of_sight


async def test_tab_walks_the_launcher_and_the_cnn_runs_live_on_the_cpu() -> None:
    app = make_app(
        autostart=True,
        clock=time.monotonic,
        interval_s=0.1,
        run_factory=lambda spec, _: SteadyRun(spec),
    )
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await open_launcher(pilot)
        order = []
        for _ in range(4):
            order.append(app.focused.id if app.focused else None)
            await pilot.press("tab")
        assert order == ["launch-workload", "param-mode", "param-precision", "param-batch"]
        screen = app.screen
        # long enough that a loaded machine cannot finish it before the live line is read;
        # the test stops it once it has
        screen.query_one("#launch-duration", Input).value = "600"
        screen.query_one("#launch-warmup", Input).value = "0"
        await pilot.press("ctrl+s")  # start from the keyboard: cnn on the CPU
        await pilot.pause()
        assert not isinstance(app.screen, LaunchScreen)
        run = app.runs[0]
        assert run.label == "cnn on cpu"
        await wait_until(pilot, lambda: run.live or run.finished, timeout_s=120)
        assert run.state is RunState.MEASURING, run.error
        app.refresh_view()
        await pilot.pause()
        live = str(app.query_one("#runs-status", Static).render())
        assert "measuring" in live and "images/s" in live and "n/a" in live  # no CPU energy
        await pilot.press("x")  # stop runs: a partial result still arrives
        await wait_until(pilot, lambda: run.finished, timeout_s=120)
        assert run.result is not None and run.result.throughput > 0
        assert run.result.stopped_early
        assert run.result.work_per_joule is None and run.result.energy_note


async def test_remote_hosts_beside_local_devices_and_a_dead_one_never_freezes() -> None:
    import socket as socket_module

    from prometheus_client import CollectorRegistry, start_http_server

    from gpuscope.sampler import Sampler
    from gpuscope.sinks.prometheus import TelemetryCollector

    remote = demo_gpus(START_S)[:1]  # the other host: one simulated H100
    remote_sampler = Sampler(remote)
    remote_sampler.tick()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TelemetryCollector(remote_sampler, [d.info for d in remote], "hostA"))
    server, _ = start_http_server(0, "127.0.0.1", registry)
    with socket_module.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    live = f"http://127.0.0.1:{server.server_port}"
    app = make_app(remotes=(live, f"http://127.0.0.1:{dead_port}"))
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await ready(pilot)
            for host in app.remotes.hosts:
                host.poll_once()  # the poller threads are not started in tests
            await tick(pilot, 2)
            await tick(pilot, 1)
            assert "hostA/nvidia:0" in app.panels
            title = str(app.panels["hostA/nvidia:0"].border_title)
            assert "hostA/nvidia:0" in title and "Simulated H100" in title
            assert "/700 W" in panel_text(app, "hostA/nvidia:0")  # figures from hostA's scrape
            status = str(app.query_one("#absent", Static).render())
            assert f"127.0.0.1:{dead_port}/metrics: unreachable since" in status
            assert "retrying" in status
            await pilot.press("p")  # the UI still answers keys
            assert "PAUSED" in header_text(app)
            server.shutdown()  # hostA goes away: its devices say so, and read as n/a
            app.remotes.hosts[0].poll_once()
            await pilot.press("p")
            await tick(pilot, 1)
            text = panel_text(app, "hostA/nvidia:0")
            assert "unreachable since" in text and "GPU" in text and " n/a" in text
    finally:
        server.server_close()


async def test_ui_exports_its_devices_and_workload_results() -> None:
    import socket as socket_module
    import urllib.request

    with socket_module.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = make_app(serve=("127.0.0.1", port))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await tick(pilot, 2)
        from gpuscope.measurement.run_result import RunResult

        app.results.append(
            RunResult(
                workload="gemm",
                device="cuda:0",
                telemetry_device="nvidia:0",
                device_name=None,
                params={"dtype": "bf16"},
                unit="FLOP",
                units=1.0,
                seconds=1.0,
                steps=1,
                throughput=4.2e14,
                tflops=420.0,
                energy_j=650.0,
                avg_power_w=650.0,
                work_per_joule=6.5e11,
                energy_source=EnergySource.COUNTER,
                pct_of_peak=None,
            )
        )
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    assert 'gpuscope_power_watts{device="nvidia:0",host="testhost"}' in text
    # the per-job families are served as by gpuscope serve (simulated pids name no job: empty)
    assert "# TYPE gpuscope_job_energy_joules_total counter" in text
    assert "gpuscope_job_energy_joules_total{" not in text
    from prometheus_client.parser import text_string_to_metric_families

    throughput = {
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "gpuscope_workload_throughput"
        for sample in family.samples
    }
    assert throughput == {4.2e14}  # by value: older prometheus-client writes 4.2e+014
    assert 'energy_source="counter"' in text


async def test_keys_palette_and_help_come_from_one_table() -> None:
    from gpuscope.tui.help_screen import HELP
    from gpuscope.tui.keys import APP_KEYS, MAIN_KEYS

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        for key in (*MAIN_KEYS, *APP_KEYS):
            assert f"`{key.written}`" in HELP and key.does in HELP
        for key in MAIN_KEYS:  # (Textual brings its own Quit and Keys commands)
            assert (key.title in commands) == key.palette
        await commands["Pause"].callback()  # the palette runs the same action as the key
        assert app.paused
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("p")  # a main-screen key does nothing while a dialog is open
        assert app.paused and isinstance(app.screen, HelpScreen)
        main = app.screen_stack[0]  # ... and its footer does not offer it there
        assert main.check_action("launch", ()) is False
        await pilot.press("escape")
        assert main.check_action("launch", ()) is True


async def test_the_layout_follows_every_resize_at_once() -> None:
    """160x48 -> 80x24 -> 160x48 used to stay folded: the layout was one resize behind."""
    from gpuscope.tui.layout import panel_layout

    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await tick(pilot, 2)
        wide = app.devices.layout_now
        for width, height in ((80, 24), (160, 48)):
            await pilot.resize_terminal(width, height)
            await pilot.pause()
            assert app.devices.layout_now == panel_layout(width, height, len(app.panels), 1)
        assert app.devices.layout_now == wide and not app.devices.layout_now.compact


async def test_the_launcher_remembers_each_workloads_last_choices() -> None:
    from gpuscope.session import Launch

    app = make_app()
    launched: list[Launch] = []
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        app.session.launch = lambda launch: launched.append(launch) or []  # type: ignore[method-assign,func-returns-value]
        await _launch(pilot, "gemm", ["cpu"], duration="0.5", size="96")
        await launched_and_shown(pilot, launched)
        await open_launcher(pilot)
        screen = app.screen
        await pilot.pause()
        assert screen.query_one("#launch-workload").value == "gemm"  # the last one launched
        assert screen.query_one("#param-size", Input).value == "96"
        assert screen.query_one("#launch-duration", Input).value == "0.5"
        assert screen.query_one("#launch-devices", SelectionList).selected == ["cpu"]
        screen.query_one("#launch-workload").value = "cnn"  # never launched: its defaults
        await pilot.pause()
        batch = screen.query_one("#param-batch", Input)
        assert batch.value == "" and "2 on cpu" in batch.placeholder  # each device's default
        assert str(screen.query_one("#param-precision").value) == "(default)"


def test_a_slow_run_shows_its_time_moving_before_the_first_figure() -> None:
    """A CNN step on a CPU can take 20 s: the line counts wall time in the state meanwhile."""
    from gpuscope.tui.runs_view import run_line
    from gpuscope.workloads.events import Phase
    from gpuscope.workloads.registry import find_workloads

    info = find_workloads(plugin_dirs=[], use_entry_points=False).workloads["cnn"]
    run = MeasuredRun(info, "cpu", {}, duration_s=30.0)
    run.state, run.state_since = RunState.WARMING_UP, 100.0
    assert "warming up, first step 7 s" in run_line(run, now=107.0)
    run.reached = Phase.WARM_UP  # its first step is done
    assert "warming up 8 s" in run_line(run, now=108.0)
    run.state, run.state_since = RunState.MEASURING, 110.0
    assert "measuring 12/30 s" in run_line(run, now=122.0)  # no progress event yet
    assert "measuring 30/30 s" in run_line(run, now=200.0)  # never past the duration


async def test_launcher_boxes_show_their_state_by_glyph_not_only_by_colour() -> None:
    from textual.widgets import Checkbox

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await open_launcher(pilot)
        devices = app.screen.query_one("#launch-devices", SelectionList)

        def boxes() -> dict[str, str]:
            lines = [devices.render_line(y).text for y in range(devices.option_count)]
            return {line[4:].split()[0]: line[:3] for line in lines}

        devices.deselect_all()
        devices.select("cuda:1")
        await pilot.pause()
        assert boxes()["cuda:1"] == "▐✓▌" and boxes()["cpu"] == "▐ ▌"
        one_at_a_time = app.screen.query_one("#launch-sequential", Checkbox)
        assert "▐ ▌" in str(one_at_a_time.render())
        one_at_a_time.value = True
        await pilot.pause()
        assert "▐✓▌" in str(one_at_a_time.render())


def test_an_estimated_cpu_is_marked_on_its_panel_and_its_compare_row(clock) -> None:  # type: ignore[no-untyped-def]
    from gpuscope.measurement.run_result import RunResult
    from gpuscope.sampler import Sampler
    from gpuscope.telemetry.cpu_estimate import CpuPowerModel, with_cpu_estimate
    from gpuscope.tui.panel_figures import figure_lines
    from gpuscope.tui.scoreboard import scoreboard
    from gpuscope.workloads.registry import find_workloads

    (cpu,) = with_cpu_estimate([SimulatedCpu(clock(), timeline=lambda t: 0.5)], CpuPowerModel(100))
    sampler = Sampler([cpu], clock=clock)
    for _ in range(3):
        sampler.tick()
        clock.advance(0.5)
    latest = sampler.latest("cpu")
    assert latest is not None
    figures = "\n".join(figure_lines(cpu.info, latest, 100, compact=False))
    assert "~60 W est" in figures and "(estimate) since start" in figures

    info = find_workloads(plugin_dirs=[], use_entry_points=False).workloads["gemm"]
    runs = []
    for device, source, per_joule in (
        ("cpu", EnergySource.ESTIMATE, 1e9),
        ("cuda:0", EnergySource.COUNTER, 1e11),
    ):
        run = MeasuredRun(info, device, {})
        run.result = RunResult(
            workload="gemm", device=device, telemetry_device=None, device_name=None, params={},
            unit="FLOP", units=1.0, seconds=1.0, steps=1, throughput=per_joule, tflops=None,
            energy_j=1.0, avg_power_w=1.0, work_per_joule=per_joule, energy_source=source,
            pct_of_peak=None,
        )  # fmt: skip
        runs.append(run)
    (group,) = scoreboard(runs)
    cpu_row, gpu_row = group.rows
    assert cpu_row.is_estimate and not gpu_row.is_estimate
    assert gpu_row.efficiency_ratio == pytest.approx(100.0)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_launchers_buttons_stay_on_screen(size: tuple[int, int]) -> None:
    """At 80x24 Start and Cancel were below the last row, with nothing to show it."""
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        await open_launcher(pilot)
        await pilot.pause()
        for button in ("#launch-start", "#launch-cancel"):
            region = app.screen.query_one(button).region
            assert region.height > 0 and region.bottom <= size[1], (button, region)


async def test_the_user_chooses_the_device_charts() -> None:
    from gpuscope.tui.chart_chooser import ChartChooser
    from gpuscope.tui.checklist import CheckList

    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await tick(pilot, 8)
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ChartChooser))
        choices = app.screen.query_one(CheckList)
        choices.deselect_all()
        await pilot.press("ctrl+s")  # none chosen: refused, the dialog stays
        assert isinstance(app.screen, ChartChooser)
        choices.select("temp")
        choices.select("pwr")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not isinstance(app.screen, ChartChooser))
        assert app.chart_names == ("pwr", "temp")
        await tick(pilot, 4)
        charts = app.panels["nvidia:0"].charts_text
        labels = [line.split()[0] for line in charts.splitlines() if line[:1].strip()]
        assert labels == ["pwr", "temp"]  # in the panels' order, nothing else
        from gpuscope.tui.layout import panel_layout

        three = panel_layout(160, 48, len(app.panels), 1, charts=3)
        # two charts share the room of three
        assert app.devices.layout_now == panel_layout(160, 48, len(app.panels), 1, charts=2)
        assert app.devices.layout_now.chart_rows > three.chart_rows


async def test_a_sweep_from_the_launcher_fills_its_curve_and_ends_in_one_notice() -> None:
    """Issue 14, item 5: the swept field is set aside, the dialog says what the sweep makes,
    and the plots' x axis is the swept value, one line per device, as the points come in."""
    from textual.widgets import Select
    from textual_plotext import PlotextPlot

    from gpuscope.simulated.runs import SimulatedRun

    gpus = demo_gpus(time.monotonic())

    def factory(spec, hang_timeout_s):  # type: ignore[no-untyped-def]
        return SimulatedRun(spec, gpus[0 if spec.device == "cuda:0" else 1], progress_period_s=0.1)

    app = make_app(
        [*gpus, SimulatedCpu(time.monotonic())],
        autostart=True,
        clock=time.monotonic,
        interval_s=0.1,
        run_factory=factory,
    )
    said = notices(app)  # every notice so far, kept
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await open_launcher(pilot)
        screen = app.screen
        screen.query_one("#launch-workload").value = "gemm"
        await pilot.pause()
        screen.query_one("#launch-sweep-param", Select).value = "size"
        await pilot.pause()
        assert screen.query_one("#param-size", Input).disabled  # its values are the sweep's
        assert not screen.query_one("#param-dtype").disabled
        values = screen.query_one("#launch-sweep-values", Input)
        values.value = "64..4096x4"
        devices = screen.query_one("#launch-devices", SelectionList)
        devices.deselect_all()
        devices.select("cuda:0")
        devices.select("cuda:1")
        screen.query_one("#launch-duration", Input).value = "0.5"
        screen.query_one("#launch-warmup", Input).value = "0"
        await pilot.pause()
        note = str(screen.query_one("#launch-sweep-note", Static).render())
        assert "64, 256, 1024, 4096: 8 runs together" in note
        values.value = "64..32x2"  # a range that does not grow: said before Start
        await pilot.pause()
        assert "the range must grow" in str(screen.query_one("#launch-sweep-note").render())
        values.value = "1..4096x1.0000001"  # froze the UI for good: parsed at every keystroke
        await pilot.pause()
        assert "more than 64 steps" in str(screen.query_one("#launch-sweep-note").render())
        values.value = "64..32x2"
        await pilot.pause()
        await pilot.click("#launch-start")
        await pilot.pause()
        assert isinstance(app.screen, LaunchScreen)
        assert "sweep size: the range must grow" in str(screen.query_one("#launch-error").render())
        values.value = "64..1024x4"  # three points a device: what is drawn and told, not how many
        button = screen.query_one("#launch-start")  # a Button ignores a click in its 0.2 s
        await wait_until(pilot, lambda: not button.has_class("-active"))  # press effect
        await pilot.click("#launch-start")
        await wait_until(pilot, lambda: not isinstance(app.screen, LaunchScreen), timeout_s=10)
        (walk,) = app.session.sweeps
        await wait_until(pilot, lambda: len(app.results) >= 2, timeout_s=60)
        app.refresh_view()
        await pilot.pause()
        status = str(app.query_one("#runs-status", Static).render())
        assert "sweep gemm size=64..1024x4 on cuda:0, cuda:1:" in status
        plot = app.query_one("#throughput-plot", PlotextPlot)
        assert "gemm throughput by size" in plot.plt.build()  # the sweep's curve, not seconds
        await wait_until(pilot, lambda: walk.finished, timeout_s=90)
        ended = "sweep gemm size done: 6 measured"
        await wait_until(pilot, lambda: ended in said)  # on the next refresh (every 0.5 s)
        for _ in range(2):  # a second notice would come on a later refresh
            app.refresh_view()
            await pilot.pause()
        plot_text = re.sub(r"\x1b\[[0-9;]*m", "", plot.plt.build())
        assert "size (log scale)" in plot_text and "1024" in plot_text
        assert said.count(ended) == 1
        assert not any(m.endswith(" done") for m in said)  # no notice per point
        table = app.query_one("#results-table", DataTable)
        workloads = {str(table.get_row_at(i)[0]) for i in range(table.row_count)}
        assert workloads == {f"gemm size={n}" for n in (64, 256, 1024)}
        await open_launcher(pilot)  # the sweep is offered again as it was given
        assert app.screen.query_one("#launch-sweep-values", Input).value == "64..1024x4"
        assert app.screen.query_one("#launch-sweep-param", Select).value == "size"


async def test_the_launcher_offers_per_device_defaults_says_what_is_emulated_and_a_hang_limit() -> (
    None
):
    """Issue 21: the launcher's default (ResNet-50 bf16, batch 0 = 32 on the CPU) failed on a
    CPU without native bf16, and the UI had no way to give a slow step more time."""
    from textual.widgets import Select

    from gpuscope.session import Launch

    app = make_app()
    launched: list[Launch] = []
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        app.session.launch = lambda launch: launched.append(launch) or []  # type: ignore[method-assign,func-returns-value]
        await open_launcher(pilot)
        screen = app.screen
        screen.query_one("#launch-workload").value = "gemm"
        await pilot.pause()
        dtype = screen.query_one("#param-dtype", Select)
        shown = offered(dtype)
        assert "default: bf16 on cuda:0 cuda:1, fp32 on cpu" in shown
        assert "best: the fastest native one on each device" in shown
        size = screen.query_one("#param-size", Input)
        assert (
            size.value == "" and size.placeholder == "default: 8192 on cuda:0 cuda:1, 2048 on cpu"
        )
        devices = screen.query_one("#launch-devices", SelectionList)
        devices.deselect_all()
        devices.select("cpu")
        devices.select("cuda:0")
        dtype.value = "bf16"
        await pilot.pause()
        note = str(screen.query_one("#launch-params-note", Static).render())
        assert "bf16 is emulated on cpu (AVX2, no AVX512-BF16 or AMX)" in note
        dtype.value = "(default)"
        await pilot.pause()
        assert "dtype=fp32: bf16 would be emulated on cpu" in str(
            screen.query_one("#launch-params-note", Static).render()
        )
        screen.query_one("#launch-hang", Input).value = "600"
        await pilot.click("#launch-start")
        await launched_and_shown(pilot, launched)
    (launch,) = launched
    assert launch.given == {} and launch.hang_timeout_s == 600.0  # each device's defaults
    assert set(launch.devices) == {"cpu", "cuda:0"}


async def test_a_parameter_with_choices_and_device_defaults_starts_on_each_devices_default(
    tmp_path: Path,
) -> None:
    """Review of issue 21: a Select showed the declared default and sent it to every device."""
    from textual.widgets import Select

    from gpuscope.session import Launch
    from tests.plugin_files import write_plugin

    plugin = write_plugin(
        tmp_path,
        "layout",
        """
        class Layout(Workload):
            name = "layout"
            unit = "things"
            devices = ("cpu", "cuda")
            params = (Param("order", "nhwc", choices=("nchw", "nhwc"),
                            device_defaults={"cpu": "nchw"}),)

            def setup(self, device, params):
                pass

            def step(self):
                return 1
        """,
    )
    app = make_app(plugin_files=[plugin])
    launched: list[Launch] = []
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        app.session.launch = lambda launch: launched.append(launch) or []  # type: ignore[method-assign,func-returns-value]
        await open_launcher(pilot)
        app.screen.query_one("#launch-workload").value = "layout"
        await pilot.pause()
        order = app.screen.query_one("#param-order", Select)
        assert order.value == "(default)"
        assert offered(order)[0] == "default: nhwc on cuda:0 cuda:1, nchw on cpu"
        await pilot.click("#launch-start")
        await launched_and_shown(pilot, launched)
    assert launched[0].given == {}  # each device gets its own


async def test_a_launch_the_session_refuses_is_said_and_the_app_goes_on() -> None:
    """The launcher checks a launch first; were the session ever to refuse one it let through
    (``WorkloadError``), the user reads why, and the app does not end in a traceback."""
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)

        def refuse(launch: object) -> list[object]:
            raise WorkloadError("gemm cannot run on cpu here")

        app.session.launch = refuse  # type: ignore[method-assign,assignment]
        await open_launcher(pilot)
        app.screen.query_one("#launch-workload").value = "gemm"
        await pilot.pause()
        await pilot.click("#launch-start")
        await told(pilot, "gemm cannot run on cpu here")
        assert app.is_running and app.tabs.active == "devices"


async def test_a_redraw_or_tab_change_after_the_tabs_are_gone_is_a_no_op(tmp_path: Path) -> None:
    """Review of issue 22: quitting while the 0.5 s redraw or a tab change was pending ended in
    ``NoMatches: '#tabs'`` (a traceback at exit): the app's widgets go before its timer."""
    app = make_app(record_dir=tmp_path)
    async with app.run_test() as pilot:
        await ready(pilot)
        await app.query_one("#tabs", TabbedContent).remove()
        app.refresh_view()  # raised NoMatches
        app.tab_changed()
        assert not app.query("#tabs")
