"""The ``gpuscope`` app: device panels, processes, workloads and the CPU-vs-GPU comparison.

Data flows one way. Devices are probed on a worker thread; the sampler reads them on its own
thread; runs are driven on worker threads and post what happened as messages. The event loop
only reads history and run state, on a timer, and redraws what is visible and has changed.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.markup import escape
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static, TabbedContent, TabPane

from gpuscope.measurement.measured_run import (
    MeasuredRun,
    RunFactory,
    child_process_run,
    launch_targets,
)
from gpuscope.measurement.run_report import RunReport
from gpuscope.sampler import Sampler
from gpuscope.sinks.exporter import start_exporter
from gpuscope.sinks.output_files import create_stamped
from gpuscope.sinks.reports import write_reports_csv
from gpuscope.telemetry.discover import Discovery, discover
from gpuscope.telemetry.model import Sample, Vendor
from gpuscope.telemetry.processes import process_details
from gpuscope.tui import formatting as fmt
from gpuscope.tui.compare_view import CompareView
from gpuscope.tui.device_panel import DevicePanel
from gpuscope.tui.help_screen import HelpScreen
from gpuscope.tui.launcher import LaunchRequest, LaunchScreen
from gpuscope.tui.layout import panel_layout
from gpuscope.tui.network import RemoteHosts
from gpuscope.tui.processes_view import ProcessTable, process_rows
from gpuscope.tui.recording import UiRecording
from gpuscope.tui.runs_view import RunsView
from gpuscope.workloads.events import ErrorKind, Failed, Result, RunEvent
from gpuscope.workloads.registry import Catalog, find_workloads
from gpuscope.workloads.runner import prepare_for_captured_stderr

QUIT_GRACE_S = 1.0  # on quit, a workload step still running after this is killed
REFRESH_S = 0.5  # how often the view may redraw: the rate the eye needs, not the sample rate
HISTORY_LEN = 6000  # 10 minutes at 0.1 s
INTERVALS_S = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
WINDOWS_S = (60.0, 120.0, 300.0, 600.0)
TABS = ("devices", "processes", "workloads", "compare")
MAIN_SCREEN_ACTIONS = frozenset(
    {
        "launch", "stop_runs", "toggle_record", "toggle_pause", "save_results", "faster",
        "slower", "shorter", "longer", "show_tab", "next_tab", "previous_tab",
    }
)  # fmt: skip


@dataclass
class AppSetup:
    """What the app monitors and how it runs workloads; tests and ``--demo`` swap parts."""

    discover: Callable[[], Discovery] = discover
    run_factory: RunFactory = child_process_run
    find_catalog: Callable[[], Catalog] | None = None  # default: bundled + plugins + entry points
    plugin_files: tuple[Path, ...] = ()
    interval_s: float = 0.5
    window_s: float = 300.0
    record_dir: Path = field(default_factory=Path.cwd)
    host: str = field(default_factory=socket.gethostname)
    clock: Callable[[], float] = time.monotonic
    autostart: bool = True  # False: the sampler is ticked by hand (tests)
    simulated_ids: frozenset[str] = frozenset()  # shown as SIMULATED, in the header and panels
    remotes: tuple[str, ...] = ()  # exporter URLs whose devices are shown beside the local ones
    serve: tuple[str, int] | None = None  # export /metrics (devices + results) from the UI too
    theme: str = "textual-dark"


class RunUpdate(Message):
    """Posted from a run's worker thread after each event."""

    def __init__(self, run: MeasuredRun, event: RunEvent) -> None:
        super().__init__()
        self.run = run
        self.event = event


class MainScreen(Screen[None]):
    """The tabs' screen: here ``tab`` moves between tabs (dialogs keep it for focus)."""

    BINDINGS = [
        Binding("tab", "app.next_tab", "Next screen", show=False),
        Binding("shift+tab", "app.previous_tab", "Previous screen", show=False),
    ]


class GpuscopeApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "gpuscope"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("w", "launch", "Launch"),
        Binding("x", "stop_runs", "Stop runs"),
        Binding("r", "toggle_record", "Record"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("s", "save_results", "Save results", show=False),
        Binding("plus,equals_sign", "faster", "Faster", key_display="+", show=False),
        Binding("minus", "slower", "Slower", key_display="-", show=False),
        Binding("left_square_bracket", "shorter", "Shorter history", show=False),
        Binding("right_square_bracket", "longer", "Longer history", show=False),
        *[
            Binding(str(i + 1), f"show_tab('{t}')", t.title(), show=False)
            for i, t in enumerate(TABS)
        ],
    ]

    def __init__(self, setup: AppSetup | None = None) -> None:
        super().__init__()
        prepare_for_captured_stderr()  # before Textual replaces sys.stderr: runs spawn children
        self.setup = setup or AppSetup()
        self.theme = self.setup.theme
        self.found: Discovery | None = None
        self.sampler: Sampler | None = None
        self.catalog: Catalog | None = None
        self._quitting = threading.Event()
        self.runs: list[MeasuredRun] = []
        self.reports: list[RunReport] = []
        self.recording: UiRecording | None = None
        self.paused = False
        self.window_s = self.setup.window_s
        self.panels: dict[str, DevicePanel] = {}
        self._runs_version = 0
        self._drawn: object = None
        self._header_text = ""
        self._layout = panel_layout(80, 24, 1)
        self._lost_seen: set[str] = set()
        self.remotes = RemoteHosts(self.setup.remotes, max(1.0, self.setup.interval_s))
        self._exporter: WSGIServer | None = None
        self._status_text: str | None = None

    # -- building -----------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield Static("gpuscope · probing devices…", id="header")
        with TabbedContent(initial="devices", id="tabs"):
            with TabPane("1 Devices", id="devices"):
                yield Static("", id="absent")
                with VerticalScroll(id="panels-scroll"):
                    yield Grid(id="panels")
            with TabPane("2 Processes", id="processes"):
                yield Static("", id="processes-note")
                yield ProcessTable()
            with TabPane("3 Workloads", id="workloads"):
                yield RunsView(id="runs-view")
            with TabPane("4 Compare", id="compare"):
                yield CompareView(id="compare-view")
        yield Footer()

    def on_mount(self) -> None:
        self._probe_devices()
        self.set_interval(REFRESH_S, self.refresh_view)

    @work(thread=True, exclusive=True, group="probe")
    def _probe_devices(self) -> None:
        found = self.setup.discover()
        self.call_from_thread(self._devices_ready, found)
        catalog = (self.setup.find_catalog or self._default_catalog)()
        self.call_from_thread(setattr, self, "catalog", catalog)

    def _default_catalog(self) -> Catalog:
        return find_workloads(plugin_files=self.setup.plugin_files, cancel=self._quitting)

    def _devices_ready(self, found: Discovery) -> None:
        self.found = found
        sampler = Sampler(
            found.devices, self.setup.interval_s, history_len=HISTORY_LEN, clock=self.setup.clock
        )
        sampler.subscribe(self._look_up_processes)
        self.sampler = sampler
        grid = self.query_one("#panels", Grid)
        for device in found.devices:
            info = device.info
            panel = DevicePanel(info, simulated=info.device_id in self.setup.simulated_ids)
            self.panels[info.device_id] = panel
            grid.mount(panel)
        if not found.devices:
            grid.mount(Static("No devices found.", id="no-devices"))
        if self.setup.serve is not None:
            self._serve(sampler, found)
        if self.setup.autostart:
            self.remotes.start()  # tests poll by hand
        self._update_status_lines()
        self._apply_layout()
        if self.setup.autostart:
            sampler.start()
        self.refresh_view()

    def _serve(self, sampler: Sampler, found: Discovery) -> None:
        assert self.setup.serve is not None
        address, port = self.setup.serve
        infos = [d.info for d in found.devices]
        try:
            self._exporter = start_exporter(
                address, port, sampler, infos, self.setup.host, lambda: tuple(self.reports)
            )
        except OSError as exc:
            message = f"cannot serve metrics on {address}:{port}: {exc.strerror}"
            self.notify(message, severity="error")

    def _join_remote_devices(self, sampler: Sampler) -> None:
        """Remote devices seen for the first time get a panel and join the sampler."""
        added = self.remotes.new_devices(self.panels)
        for device in added:
            sampler.add_device(device)
            self.panels[device.info.device_id] = DevicePanel(device.info)
            self.query_one("#panels", Grid).mount(self.panels[device.info.device_id])
        if added:
            self._apply_layout()

    def _update_status_lines(self) -> None:
        """Absent backends, and each remote host that does not answer (it is retried)."""
        absent = self.found.absent if self.found is not None else []
        lines = [f"[$text-muted]absent: {escape(line)}[/]" for line in absent]
        text = "\n".join([*lines, *self.remotes.status_lines()])
        if text != self._status_text:
            self._status_text = text
            status = self.query_one("#absent", Static)
            status.update(text)
            status.display = bool(text)

    def _look_up_processes(self, samples: Sequence[Sample]) -> None:
        """On the sampler thread: fill the user/command cache the processes view reads."""
        for sample in samples:
            if sample.device_id in self.setup.simulated_ids:
                continue
            for process in sample.reading.processes or ():
                process_details(process.pid)

    # -- drawing ------------------------------------------------------------------------------

    def on_resize(self) -> None:
        self._apply_layout()
        self.refresh_view()

    def _apply_layout(self) -> None:
        absent_rows = (self._status_text or "").count("\n") + 1 if self._status_text else 0
        self._layout = panel_layout(
            self.size.width, self.size.height, max(1, len(self.panels)), absent_rows
        )
        self.query_one("#panels", Grid).styles.grid_size_columns = self._layout.columns

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        if self.query_one("#tabs", TabbedContent).active == "processes":
            self.query_one(ProcessTable).focus()  # so o / O sort at once
        self.refresh_view()

    def refresh_view(self) -> None:
        """Redraw what is on screen, if anything it shows has changed since the last time."""
        sampler = self.sampler
        self._update_header()
        if sampler is None or self.paused:
            return
        self._check_recording()
        if self.remotes.hosts:
            self._join_remote_devices(sampler)
            self._update_status_lines()
        tab = self.query_one("#tabs", TabbedContent).active
        key = (sampler.ticks, self._runs_version, tab, self.size, self.window_s)
        if key == self._drawn:
            return
        self._drawn = key
        if tab == "devices":
            self._draw_devices(sampler)
        elif tab == "processes":
            self._draw_processes(sampler)
        elif tab == "workloads":
            self.query_one(RunsView).show(self.runs, self.reports, self.setup.simulated_ids)
        elif tab == "compare":
            self.query_one(CompareView).show(self.runs, self.setup.simulated_ids)

    def _draw_devices(self, sampler: Sampler) -> None:
        now = self.setup.clock()
        lost = sampler.lost
        notices = self.remotes.notices()
        for device_id, panel in self.panels.items():
            panel.show(
                sampler.history(device_id),
                now,
                self.window_s,
                self._layout.chart_rows,
                lost.get(device_id),
                self._layout.compact,
                notices.get(device_id),
            )
            if device_id in lost and device_id not in self._lost_seen:
                self._lost_seen.add(device_id)
                self.notify(f"{device_id} lost: {lost[device_id]}", severity="error", timeout=10)

    def _draw_processes(self, sampler: Sampler) -> None:
        latest = [s for s in (sampler.latest(d) for d in self.panels) if s is not None]
        gpus = [s for s in latest if s.vendor is not Vendor.CPU]
        unsupported = [s.device_id for s in gpus if s.reading.processes is None]
        note = f"process lists not reported by: {', '.join(unsupported)}" if unsupported else ""
        if not gpus:
            note = "No GPUs: there are no GPU processes to list."
        self.query_one("#processes-note", Static).update(note)
        self.query_one(ProcessTable).show(process_rows(gpus, self.setup.simulated_ids))

    def _update_header(self) -> None:
        """State that changes what is kept (simulated, recording, paused) comes first, so a
        narrow terminal cuts the drivers, not the warnings."""
        parts = ["[b]gpuscope[/b]"]
        if self.setup.simulated_ids:
            parts.append("[reverse $warning] SIMULATED GPUs (demo) [/]")
        if self.recording is not None:
            name = escape(self.recording.path.name)
            parts.append(f"[$error]● REC[/] {name} ({self.recording.rows_written} rows)")
        if self.paused:
            parts.append("[$warning]PAUSED[/]")
        if self.sampler is not None and self.sampler.error is not None:
            parts.append(f"[$error]sampling stopped: {escape(str(self.sampler.error))}[/]")
        parts.append(escape(self.setup.host))
        if self.sampler is not None:
            parts.append(f"every {self.sampler.interval_s:g} s")
        parts.append(f"charts: last {fmt.duration(self.window_s)}")
        if self.found is not None:
            parts.extend(_driver_versions(self.found))
        else:
            parts.append("probing devices…")
        text = " · ".join(parts)
        if text != self._header_text:
            self._header_text = text
            self.query_one("#header", Static).update(text, layout=False)  # one line, always

    # -- actions ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Main-screen keys do nothing while a dialog is open (its own keys, tab included, do)."""
        if action not in MAIN_SCREEN_ACTIONS:
            return True
        return not isinstance(self.screen, HelpScreen | LaunchScreen)

    def action_next_tab(self) -> None:
        self._step_tab(1)

    def action_previous_tab(self) -> None:
        self._step_tab(-1)

    def _step_tab(self, step: int) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        tabs.active = TABS[(TABS.index(tabs.active) + step) % len(TABS)]

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self._drawn = None
        self.refresh_view()

    def action_faster(self) -> None:
        self._set_interval(-1)

    def action_slower(self) -> None:
        self._set_interval(1)

    def _set_interval(self, step: int) -> None:
        if self.sampler is None:
            return
        self.sampler.interval_s = _step(INTERVALS_S, self.sampler.interval_s, step)
        self._update_header()

    def action_shorter(self) -> None:
        self._set_window(-1)

    def action_longer(self) -> None:
        self._set_window(1)

    def _set_window(self, step: int) -> None:
        self.window_s = _step(WINDOWS_S, self.window_s, step)
        self.refresh_view()

    # -- recording ----------------------------------------------------------------------------

    def action_toggle_record(self) -> None:
        if self.sampler is None:
            self.notify("still probing devices", severity="warning")
            return
        if self.recording is None:
            try:
                self.recording = UiRecording(self.sampler, self.setup.record_dir)
            except OSError as exc:
                self.notify(f"cannot record: {exc.strerror or exc}", severity="error")
                return
            self.notify(f"recording every device to {self.recording.path}")
        else:
            self._stop_recording(self.recording, None)
        self._update_header()

    def _check_recording(self) -> None:
        recording = self.recording
        if recording is not None and recording.error is not None:
            why = recording.error.strerror or str(recording.error)
            self._stop_recording(recording, f"recording stopped: {why}; whole rows kept")

    def _stop_recording(self, recording: UiRecording, problem: str | None) -> None:
        self.recording = None
        self._close_recording(recording)
        if problem:
            self.notify(problem, severity="error", timeout=10)
        else:
            self.notify(f"saved {recording.rows_written} rows to {recording.path}")

    @work(thread=True, group="recording")
    def _close_recording(self, recording: UiRecording) -> None:
        recording.stop()  # waits for a tick in progress: never on the event loop

    # -- workloads ----------------------------------------------------------------------------

    def action_launch(self) -> None:
        if self.found is None or self.catalog is None:
            self.notify("still looking for devices and workloads…", severity="warning")
            return
        infos = [d.info for d in self.found.devices]
        targets = launch_targets(infos)
        launchable = {t.telemetry.device_id for t in targets}
        unavailable = [
            f"{i.device_id}: not launchable here (torch is a CUDA build when NVIDIA GPUs are "
            "present; AMD GPUs need a ROCm build)"
            for i in infos
            if i.device_id not in launchable
        ]
        if importlib.util.find_spec("torch") is None:  # looked up, not imported
            unavailable.insert(
                0,
                "torch is not installed: the bundled workloads need pip install "
                "'gpuscope[workloads]'",
            )
        self.push_screen(LaunchScreen(self.catalog, targets, unavailable), self._launch)

    def _launch(self, request: LaunchRequest | None) -> None:
        if request is None:
            return
        runs = [
            MeasuredRun(
                request.workload,
                device,
                request.params,
                duration_s=request.duration_s,
                warmup_s=request.warmup_s,
            )
            for device in request.devices
        ]
        self.runs.extend(runs)
        if request.one_at_a_time:
            self._drive(runs)
        else:
            for run in runs:
                self._drive([run])
        self._runs_version += 1
        self.action_show_tab("workloads")

    @work(thread=True, group="runs")
    def _drive(self, runs: list[MeasuredRun]) -> None:
        assert self.sampler is not None and self.found is not None
        for run in runs:
            if run.stop_requested:
                stopped = Failed(ErrorKind.STOPPED, "stopped before it started")
                run.fail(stopped)
                self.post_message(RunUpdate(run, stopped))
                continue
            run.drive(self.sampler, self.found, self._run_event, self.setup.run_factory)

    def _run_event(self, run: MeasuredRun, event: RunEvent) -> None:
        self.post_message(RunUpdate(run, event))  # thread-safe; never blocks the run

    def on_run_update(self, message: RunUpdate) -> None:
        run, event = message.run, message.event
        self._runs_version += 1
        if isinstance(event, Result) and run.report is not None:
            self.reports.append(run.report)
            self.notify(f"{run.label} done")
        elif isinstance(event, Failed) and event.kind is not ErrorKind.STOPPED:
            assert run.error is not None
            self.notify(f"{run.label} failed: {run.error.message}", severity="error", timeout=15)
        self.refresh_view()

    def action_stop_runs(self) -> None:
        running = [run for run in self.runs if not run.finished]
        for run in running:
            run.stop()
        if running:
            self.notify(f"stopping {len(running)} run(s); partial results follow")

    def action_save_results(self) -> None:
        if not self.reports:
            self.notify("no results to save yet", severity="warning")
            return
        try:
            path, fd = create_stamped(self.setup.record_dir, "gpuscope-results")
            with os.fdopen(fd, "w", newline="") as stream:
                write_reports_csv(self.reports, stream)
        except OSError as exc:
            self.notify(f"cannot save results: {exc.strerror or exc}", severity="error")
            return
        self.notify(f"saved {len(self.reports)} result(s) to {path}")

    # -- the command palette and quitting -----------------------------------------------------

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Launch a workload", "Pick a workload and devices", self.action_launch)
        yield SystemCommand("Stop runs", "Stop every running workload", self.action_stop_runs)
        yield SystemCommand("Record", "Start or stop CSV recording", self.action_toggle_record)
        yield SystemCommand("Pause", "Pause or resume the display", self.action_toggle_pause)
        yield SystemCommand("Save results", "Results table to CSV", self.action_save_results)
        yield SystemCommand("Sample faster", "Shorter sampling interval", self.action_faster)
        yield SystemCommand("Sample slower", "Longer sampling interval", self.action_slower)
        yield SystemCommand("Longer history", "Charts cover more time", self.action_longer)
        yield SystemCommand("Shorter history", "Charts cover less time", self.action_shorter)
        for tab in TABS:
            yield SystemCommand(
                f"Show {tab}", f"Go to the {tab} screen", lambda t=tab: self.action_show_tab(t)
            )

    def on_unmount(self) -> None:
        self._quitting.set()  # plugin reading stops at once: quitting never waits for it
        for run in self.runs:
            if not run.finished:
                run.stop(grace_s=QUIT_GRACE_S)
        if self.recording is not None:
            self.recording.stop()
            self.recording = None
        if self.sampler is not None:
            self.sampler.stop()
        self.remotes.stop()
        if self._exporter is not None:
            self._exporter.shutdown()
            self._exporter.server_close()
        if self.found is not None:
            self.found.close()


def _step(choices: Sequence[float], current: float, step: int) -> float:
    """The choice ``step`` places from the one nearest ``current``, kept within the list."""
    nearest = min(range(len(choices)), key=lambda i: abs(choices[i] - current))
    return choices[min(len(choices) - 1, max(0, nearest + step))]


def _driver_versions(found: Discovery) -> list[str]:
    seen: dict[Vendor, str] = {}
    for device in found.devices:
        info = device.info
        if info.vendor is not Vendor.CPU and info.driver and info.vendor not in seen:
            seen[info.vendor] = info.driver
    return [f"{vendor.name} driver {escape(driver)}" for vendor, driver in seen.items()]
