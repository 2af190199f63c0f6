"""The ``gpuscope`` app: device panels, processes, workloads and the CPU-vs-GPU comparison.

The app renders a ``Session`` and binds keys; the session owns devices, sampler, runs and
recordings. Data flows one way: devices are probed on a worker thread, the sampler reads them on
its own thread, runs are driven on threads of their own and post what happened as messages. The
event loop only reads history and run state, on a timer, and redraws what is visible and changed.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane

from gpuscope.measurement.measured_run import MeasuredRun
from gpuscope.measurement.run_result import RunResult
from gpuscope.sampler import Sampler
from gpuscope.session import CHART_WINDOWS_S, Launch, Session, SessionSetup, step_choice
from gpuscope.telemetry.discover import Discovery
from gpuscope.telemetry.model import Vendor
from gpuscope.telemetry.remote_hosts import RemoteHosts
from gpuscope.tui import notices
from gpuscope.tui.chart_chooser import ChartChooser
from gpuscope.tui.compare_view import CompareView
from gpuscope.tui.device_panel import DevicePanel
from gpuscope.tui.devices_view import DevicesView
from gpuscope.tui.header import HeaderLine, header_text
from gpuscope.tui.keys import APP_KEYS, MAIN_KEYS, TABS
from gpuscope.tui.launcher import LaunchScreen
from gpuscope.tui.main_screen import MainScreen
from gpuscope.tui.notices import Notice, SweepEnds
from gpuscope.tui.panel_charts import DEFAULT_CHARTS
from gpuscope.tui.processes_view import ProcessesView, ProcessTable
from gpuscope.tui.runs_view import RunsView
from gpuscope.workloads.api import WorkloadError
from gpuscope.workloads.events import RunEvent
from gpuscope.workloads.registry import Catalog
from gpuscope.workloads.runner import prepare_for_captured_stderr

REFRESH_S = 0.5  # how often the view may redraw: the rate the eye needs, not the sample rate


@dataclass
class AppSetup(SessionSetup):
    """The session's setup, and how the app starts out looking."""

    window_s: float = 300.0
    theme: str = "textual-dark"


class RunUpdate(Message):
    """Posted from a run's worker thread after each event."""

    def __init__(self, run: MeasuredRun, event: RunEvent) -> None:
        super().__init__()
        self.run = run
        self.event = event


class GpuscopeApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "gpuscope"
    BINDINGS = [key.binding() for key in APP_KEYS]

    def __init__(self, setup: AppSetup | None = None) -> None:
        super().__init__()
        prepare_for_captured_stderr()  # before Textual replaces sys.stderr: runs spawn children
        self.setup = setup or AppSetup()
        self.theme = self.setup.theme
        self.session = Session(self.setup, self._run_event)
        self.catalog: Catalog | None = None  # set on the event loop once the session has it
        self.paused = False
        self.window_s = self.setup.window_s
        self._drawn: object = None  # what the last redraw showed
        # the views, made here and composed once: found without a walk of the DOM
        self.header = HeaderLine("gpuscope · probing devices…", id="header")
        self.tabs = TabbedContent(initial="devices", id="tabs")
        self.devices = DevicesView(id="devices-view")
        self.processes = ProcessesView(id="processes-view")
        self.runs_view = RunsView(id="runs-view")
        self.compare = CompareView(id="compare-view")
        self.chart_names: tuple[str, ...] = DEFAULT_CHARTS  # the device panels' history charts
        self._launched: dict[str, Launch] = {}  # each workload's last launch, for the launcher
        self._sweep_ends = SweepEnds()

    # the session's state, as the views (and the UI's tests) read it
    @property
    def found(self) -> Discovery | None:
        return self.session.found

    @property
    def sampler(self) -> Sampler | None:
        return self.session.sampler

    @property
    def runs(self) -> list[MeasuredRun]:
        return self.session.runs

    @property
    def results(self) -> list[RunResult]:
        return self.session.results

    @property
    def remotes(self) -> RemoteHosts:
        return self.session.remotes

    @property
    def panels(self) -> dict[str, DevicePanel]:
        return self.devices.panels

    # -- building -----------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield self.header
        with self.tabs:
            with TabPane("1 Devices", id="devices"):
                yield self.devices
            with TabPane("2 Processes", id="processes"):
                yield self.processes
            with TabPane("3 Workloads", id="workloads"):
                yield self.runs_view
            with TabPane("4 Compare", id="compare"):
                yield self.compare
        yield Footer()

    def on_mount(self) -> None:
        self.call_after_refresh(self._probe_devices)  # its thread would slow the first frame
        self.set_interval(REFRESH_S, self.refresh_view)

    @work(thread=True, exclusive=True, group="probe")
    def _probe_devices(self) -> None:
        found = self.session.probe()
        self.call_from_thread(self._devices_ready, found)
        catalog = self.session.find_catalog()
        self.call_from_thread(setattr, self, "catalog", catalog)

    def _devices_ready(self, found: Discovery) -> None:
        self.devices.add([device.info for device in found.devices], self.setup.simulated_ids)
        if not found.devices:
            self.devices.no_devices()
        if self.session.exporter_error is not None:
            self.notify(self.session.exporter_error, severity="error")
        self._update_status_lines()
        self.devices.lay_out(self.size, len(self.chart_names))
        self.session.start()
        self.refresh_view()

    def _join_remote_devices(self) -> None:
        """Remote devices seen for the first time get a panel (the session adds them to the
        sampler)."""
        added = self.session.join_remote_devices(list(self.panels))
        self.devices.add([device.info for device in added])

    def _update_status_lines(self) -> None:
        absent = self.found.absent if self.found is not None else []
        self.devices.set_status(absent, self.remotes.unreachable())

    # -- drawing ------------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        if self._drawable():  # self.size still holds the old size here
            self.devices.lay_out(event.size, len(self.chart_names))
        self.refresh_view()

    @on(TabbedContent.TabActivated)
    def tab_changed(self) -> None:
        if not self._drawable():
            return
        active = self.tabs.active
        if active == "processes":
            self.session.process_lookups.shown.set()  # host figures are read only while shown
            self.processes.stale()  # what it showed last is old: draw at once
            self.processes.query_one(ProcessTable).focus()  # so o / O sort at once
        else:
            self.session.process_lookups.shown.clear()
        if active == "compare":
            self.compare.query_one("#compare-scroll").focus()  # so arrows and PgUp/PgDn scroll it
        self.refresh_view()

    def _drawable(self) -> bool:
        """Whether what a redraw draws on is there: when the app closes its widgets go (children
        first) before its timer and a pending tab change, which then found no ``#tabs`` and
        ended in a traceback."""
        views = (self.header, self.tabs, self.devices, self.processes, self.runs_view, self.compare)
        return all(view.is_attached for view in views)

    def refresh_view(self) -> None:
        """Redraw what is on screen, if anything it shows has changed since the last time."""
        if not self._drawable():
            return
        sampler = self.sampler
        self._update_header()
        self.tell(*self._sweep_ends.newly_ended(self.session.sweeps))
        if sampler is None or self.paused:
            return
        self.tell(notices.recording_failure(self.session))
        if self.remotes.hosts:
            self._join_remote_devices()
            self._update_status_lines()
        tab = self.tabs.active
        changes = self.session.changes
        key = (sampler.ticks, changes, tab, self.size, self.window_s, self.chart_names)
        if key == self._drawn:
            return
        self._drawn = key
        if tab == "devices":
            now_s, remote_notes = self.setup.clock(), self.remotes.notices()
            self.devices.show(sampler, now_s, self.window_s, self.chart_names, remote_notes)
        elif tab == "processes":
            self._draw_processes(sampler)
        elif tab == "workloads":
            self.runs_view.show(
                self.runs,
                self.results,
                self.setup.simulated_ids,
                self.session.sweeps,
                self.session.newest_sweep,
            )
        elif tab == "compare":
            self.compare.show(self.runs, self.setup.simulated_ids)

    def _draw_processes(self, sampler: Sampler) -> None:
        latest = [s for s in (sampler.latest(d) for d in self.panels) if s is not None]
        gpus = [s for s in latest if s.vendor is not Vendor.CPU]
        energy, now_s = self.session.process_energy, self.setup.clock()
        self.processes.show_gpus(
            gpus, self.session.process_lookups, self.setup.simulated_ids, energy, now_s
        )

    def _update_header(self) -> None:
        self.header.text = header_text(self.session, self.paused, self.window_s)

    # -- actions ------------------------------------------------------------------------------

    def action_step_tab(self, step: int) -> None:
        tabs = self.tabs
        self.action_show_tab(TABS[(TABS.index(tabs.active) + step) % len(TABS)])

    def action_show_tab(self, tab: str) -> None:
        tabs = self.tabs
        if tab != tabs.active:  # hidden, the focused widget would hand focus to a sibling in
            self.screen.set_focus(None)  # its tab (the filter line), and Textual reopens that tab
        tabs.active = tab

    def action_help(self) -> None:
        from gpuscope.tui.help_screen import HelpScreen  # Markdown: imported when first asked

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self._drawn = None
        self.refresh_view()

    def action_step_interval(self, step: int) -> None:
        self.session.step_interval(step)
        self._update_header()

    def action_choose_charts(self) -> None:
        def chosen(names: tuple[str, ...] | None) -> None:
            if names:
                self.chart_names = names
                self.refresh_view()

        self.push_screen(ChartChooser(self.chart_names), chosen)

    def action_step_window(self, step: int) -> None:
        self.window_s = step_choice(CHART_WINDOWS_S, self.window_s, step)
        self.refresh_view()

    # -- recording ----------------------------------------------------------------------------

    def action_toggle_record(self) -> None:
        self.tell(notices.toggle_recording(self.session, self.setup.record_dir))
        self._update_header()

    def tell(self, *notices: Notice | None) -> None:
        for notice in notices:
            if notice is not None:
                self.notify(notice.text, severity=notice.severity, timeout=notice.timeout_s)

    # -- workloads ----------------------------------------------------------------------------

    def action_launch(self) -> None:
        if self.found is None or self.catalog is None:
            self.notify("still looking for devices and workloads…", severity="warning")
            return
        targets, unavailable = self.session.launch_choices()
        screen = LaunchScreen(self.catalog, targets, unavailable, self._launched)
        self.push_screen(screen, self._launch)

    def _launch(self, request: Launch | None) -> None:
        if request is None:
            return
        self._launched.pop(request.workload.name, None)  # newest last: the launcher opens on it
        self._launched[request.workload.name] = request
        try:
            self.session.launch(request)
        except WorkloadError as exc:  # the launcher checked first: were they ever to disagree
            self.notify(str(exc), severity="error")
            return
        self.action_show_tab("workloads")

    def _run_event(self, run: MeasuredRun, event: RunEvent) -> None:
        self.post_message(RunUpdate(run, event))  # from the run's thread; never blocks it

    def on_run_update(self, message: RunUpdate) -> None:
        self.tell(notices.run_notice(message.run, message.event))
        self.refresh_view()

    def action_stop_runs(self) -> None:
        self.tell(notices.stop_runs(self.session))

    def action_save_results(self) -> None:
        notice = notices.save_results(self.session, self.setup.record_dir)
        self.tell(notice)
        if notice is None or notice.severity == "information":
            self.session.save_report(self._report_done)

    def _report_done(self, report: Path | None, why: str | None) -> None:
        """On the session's thread: tell the UI, if it is still there (the file is written
        either way)."""
        with contextlib.suppress(RuntimeError):  # the app closed while the report was drawn
            self.call_from_thread(self.tell, notices.report_notice(report, why))

    # -- the command palette and quitting -----------------------------------------------------

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for key in MAIN_KEYS:
            if key.palette:
                yield SystemCommand(key.title, key.does, partial(self.run_action, key.action))

    def on_unmount(self) -> None:
        # Never on the event loop: closing waits for runs, the recording and the sampler. A
        # non-daemon thread, so the process exits only once the recording ends on a whole row.
        threading.Thread(target=self.session.close, name="gpuscope-close").start()
