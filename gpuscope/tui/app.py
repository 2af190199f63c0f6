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
from textual.markup import escape
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane

from gpuscope.measurement.measured_run import (
    MeasuredRun,
)
from gpuscope.measurement.run_report import RunReport
from gpuscope.measurement.sweep import ran_out
from gpuscope.safe_text import one_line
from gpuscope.sampler import Sampler
from gpuscope.session import CHART_WINDOWS_S, Launch, Session, SessionSetup, step_choice
from gpuscope.sinks.output_files import write_error, write_error_in
from gpuscope.sinks.recording_file import RecordingFile
from gpuscope.telemetry.discover import Discovery
from gpuscope.telemetry.model import Vendor
from gpuscope.telemetry.remote_hosts import RemoteHosts
from gpuscope.tui.chart_chooser import ChartChooser
from gpuscope.tui.compare_view import CompareView
from gpuscope.tui.device_panel import DevicePanel
from gpuscope.tui.devices_view import DevicesView
from gpuscope.tui.header import HeaderLine, header_text
from gpuscope.tui.help_screen import HelpScreen
from gpuscope.tui.keys import APP_KEYS, MAIN_KEYS, TABS
from gpuscope.tui.launcher import LaunchScreen
from gpuscope.tui.panel_charts import DEFAULT_CHARTS
from gpuscope.tui.processes_model import (
    process_listing,
    process_rows,
    processes_note,
    unattributed_line,
)
from gpuscope.tui.processes_view import ProcessesView, ProcessTable
from gpuscope.tui.runs_view import RunsView
from gpuscope.tui.sweep_curves import sweep_notice
from gpuscope.workloads.events import ErrorKind, Failed, Result, RunEvent
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


class MainScreen(Screen[None]):
    """The tabs' screen. Its keys (``keys.MAIN_KEYS``) live here, so a dialog on top (the
    launcher, help) keeps its own: ``tab`` moves focus there, between tabs here."""

    # the app's own keys too, first, so the footer reads q, ?, then this screen's keys
    BINDINGS = [key.binding("app.") for key in (*APP_KEYS, *MAIN_KEYS)]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Under a dialog this screen's keys do nothing, so its footer does not offer them."""
        return self.app.screen is self


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
        self._sweeps_told: set[int] = set()  # id() of each sweep whose end was told

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
    def reports(self) -> list[RunReport]:
        return self.session.reports

    @property
    def recording(self) -> RecordingFile | None:
        return self.session.recording

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
        self._probe_devices()
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
        """Absent backends, and each remote host that does not answer (it is retried)."""
        absent = self.found.absent if self.found is not None else []
        lines = [f"[$text-muted]absent: {escape(one_line(line))}[/]" for line in absent]
        for host in self.remotes.unreachable():  # what a remote host said: never raw
            lines.append(
                f"[$error]{escape(one_line(host.url))}: unreachable since {host.since}[/] "
                f"({escape(one_line(host.why))}); retrying every {host.retry_s:g} s"
            )
        self.devices.set_status("\n".join(lines))

    # -- drawing ------------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        if self._drawable():  # self.size still holds the old size here
            self.devices.lay_out(event.size, len(self.chart_names))
        self.refresh_view()

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        if not self._drawable():
            return
        active = self.tabs.active
        if active == "processes":
            self.session.show_process_details.set()  # host figures are read only while shown
            self.processes.stale()  # what it showed last is old: draw at once
            self.processes.query_one(ProcessTable).focus()  # so o / O sort at once
        else:
            self.session.show_process_details.clear()
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
        self._tell_ended_sweeps()
        if sampler is None or self.paused:
            return
        self._check_recording()
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
            now_s, notices = self.setup.clock(), self.remotes.notices()
            self.devices.show(sampler, now_s, self.window_s, self.chart_names, notices)
        elif tab == "processes":
            self._draw_processes(sampler)
        elif tab == "workloads":
            self.runs_view.show(
                self.runs,
                self.reports,
                self.setup.simulated_ids,
                self.session.sweeps,
                self.session.newest_sweep,
            )
        elif tab == "compare":
            self.compare.show(self.runs, self.setup.simulated_ids)

    def _draw_processes(self, sampler: Sampler) -> None:
        latest = [s for s in (sampler.latest(d) for d in self.panels) if s is not None]
        gpus = [s for s in latest if s.vendor is not Vendor.CPU]
        energy = self.session.process_energy
        view = self.processes
        self.session.host_usage_wanted = view.query_one(ProcessTable).host_usage_wanted()
        if not view.due(process_listing(gpus), self.setup.clock()):
            return
        view.show(
            process_rows(gpus, self.setup.simulated_ids, energy),
            processes_note(gpus, energy),
            unattributed_line(gpus, energy),
        )

    def _update_header(self) -> None:
        self.header.text = header_text(self.session, self.paused, self.window_s)

    # -- actions ------------------------------------------------------------------------------

    def action_next_tab(self) -> None:
        self._step_tab(1)

    def action_previous_tab(self) -> None:
        self._step_tab(-1)

    def _step_tab(self, step: int) -> None:
        tabs = self.tabs
        self.action_show_tab(TABS[(TABS.index(tabs.active) + step) % len(TABS)])

    def action_show_tab(self, tab: str) -> None:
        tabs = self.tabs
        if tab != tabs.active:  # hidden, the focused widget would hand focus to a sibling in
            self.screen.set_focus(None)  # its tab (the filter line), and Textual reopens that tab
        tabs.active = tab

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
        self.session.step_interval(step)
        self._update_header()

    def action_shorter(self) -> None:
        self._set_window(-1)

    def action_longer(self) -> None:
        self._set_window(1)

    def action_choose_charts(self) -> None:
        def chosen(names: tuple[str, ...] | None) -> None:
            if names:
                self.chart_names = names
                self.refresh_view()

        self.push_screen(ChartChooser(self.chart_names), chosen)

    def _set_window(self, step: int) -> None:
        self.window_s = step_choice(CHART_WINDOWS_S, self.window_s, step)
        self.refresh_view()

    # -- recording ----------------------------------------------------------------------------

    def action_toggle_record(self) -> None:
        if self.session.recording is not None:
            recording = self.session.stop_recording()
            assert recording is not None
            self.notify(f"saved {recording.rows_written} rows to {recording.path}")
        else:
            try:
                recording = self.session.start_recording()
            except RuntimeError as exc:
                self.notify(str(exc), severity="warning")
                return
            except OSError as exc:
                why = write_error_in(self.setup.record_dir, exc)
                self.notify(f"cannot record: {why}", severity="error")
                return
            self.notify(f"recording every device to {recording.path}")
        self._update_header()

    def _check_recording(self) -> None:
        recording = self.session.failed_recording()
        if recording is not None and recording.error is not None:
            why = write_error(recording.path, recording.error)
            self.notify(f"recording stopped: {why}; whole rows kept", severity="error", timeout=10)

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
        self.session.launch(request)
        self.action_show_tab("workloads")

    def _run_event(self, run: MeasuredRun, event: RunEvent) -> None:
        self.post_message(RunUpdate(run, event))  # from the run's thread; never blocks it

    def on_run_update(self, message: RunUpdate) -> None:
        run, event = message.run, message.event
        if run.swept is not None and (run.report is not None or ran_out(run.error)):
            pass  # a sweep's point, measured or its memory boundary: told when the sweep ends
        elif isinstance(event, Result) and run.report is not None:
            self.notify(f"{run.label} done")
        elif isinstance(event, Failed) and event.kind is not ErrorKind.STOPPED:
            assert run.error is not None
            self.notify(f"{run.label} failed: {run.error.message}", severity="error", timeout=15)
        self.refresh_view()

    def _tell_ended_sweeps(self) -> None:
        """A sweep's end in one notice, not one per point (its last points, skipped beyond
        the memory boundary, come after its last run's event)."""
        for walk in self.session.sweeps:
            if walk.finished and id(walk) not in self._sweeps_told:
                self._sweeps_told.add(id(walk))
                self.notify(sweep_notice(walk))

    def action_stop_runs(self) -> None:
        sweeps = sum(not (w.finished or w.stopped) for w in self.session.sweeps)
        stopping = self.session.stop_runs()
        if stopping or sweeps:
            also = f" and {sweeps} sweep(s)" if sweeps else ""
            self.notify(f"stopping {stopping} run(s){also}; partial results follow")

    def action_save_results(self) -> None:
        if not self.reports and not any(w.points for w in self.session.sweeps):
            self.notify("no results to save yet", severity="warning")
            return
        if self.reports:  # a sweep whose every point ran out of memory has none
            try:
                path = self.session.save_results()
            except OSError as exc:
                why = write_error_in(self.setup.record_dir, exc)
                self.notify(f"cannot save results: {why}", severity="error")
                return
            self.notify(f"saved {len(self.reports)} result(s) to {path}; making the report…")
        self.session.save_report(self._report_done)

    def _report_done(self, report: Path | None, why: str | None) -> None:
        """On the session's thread: tell the UI, if it is still there (the file is written
        either way)."""
        with contextlib.suppress(RuntimeError):  # the app closed while the report was drawn
            self.call_from_thread(self._report_saved, report, why)

    def _report_saved(self, report: Path | None, why: str | None) -> None:
        if report is None:
            self.notify(why or "no report", severity="error")
        else:
            self.notify(f"report: {report}")

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
