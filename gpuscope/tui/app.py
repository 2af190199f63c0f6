"""The ``gpuscope`` app: device panels, processes, workloads and the CPU-vs-GPU comparison.

The app renders a ``Session`` and binds keys; the session owns devices, sampler, runs and
recordings. Data flows one way: devices are probed on a worker thread, the sampler reads them on
its own thread, runs are driven on threads of their own and post what happened as messages. The
event loop only reads history and run state, on a timer, and redraws what is visible and changed.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from multiprocessing import resource_tracker
from typing import TYPE_CHECKING, cast

from textual import events, on, work
from textual.app import ComposeResult, SystemCommand
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane

from gpuscope.session_setup import SessionSetup
from gpuscope.telemetry.model import Vendor
from gpuscope.tui import notices
from gpuscope.tui.header import HeaderLine, header_text
from gpuscope.tui.keys import APP_KEYS, MAIN_KEYS, TABS
from gpuscope.tui.main_screen import MainScreen
from gpuscope.tui.notices import SweepEnds
from gpuscope.tui.session_keys import SessionKeys

if TYPE_CHECKING:  # imported after the first frame (``_build``): half a second on a small machine
    from gpuscope.measurement.measured_run import MeasuredRun
    from gpuscope.measurement.run_result import RunResult
    from gpuscope.sampler import Sampler
    from gpuscope.session import Launch, Session
    from gpuscope.telemetry.discover import Discovery
    from gpuscope.telemetry.remote_hosts import RemoteHosts
    from gpuscope.tui.compare_view import CompareView
    from gpuscope.tui.device_panel import DevicePanel
    from gpuscope.tui.devices_view import DevicesView
    from gpuscope.tui.processes_view import ProcessesView
    from gpuscope.tui.runs_view import RunsView
    from gpuscope.workloads.registry import Catalog

# What the app needs once it has drawn its first frame, imported then on a worker thread
AFTER_FIRST_FRAME = (
    "gpuscope.session", "gpuscope.tui.panel_charts",
    "gpuscope.tui.devices_view", "gpuscope.tui.processes_view", "gpuscope.tui.runs_view",
    "gpuscope.tui.compare_view", "gpuscope.tui.launcher", "gpuscope.tui.chart_chooser",
)  # fmt: skip

REFRESH_S = 0.5  # how often the view may redraw: the rate the eye needs, not the sample rate


@dataclass
class AppSetup(SessionSetup):
    """The session's setup, and how the app starts out looking."""

    window_s: float = 300.0
    theme: str = "textual-dark"


class GpuscopeApp(SessionKeys):
    CSS_PATH = "app.tcss"
    TITLE = "gpuscope"
    BINDINGS = [key.binding() for key in APP_KEYS]

    # made after the first frame (``_build``), with the modules they need; and ``session``
    devices: DevicesView  # the views, composed once: found without a walk of the DOM
    processes: ProcessesView
    runs_view: RunsView
    compare: CompareView
    chart_names: tuple[str, ...]  # the device panels' history charts

    def __init__(self, setup: AppSetup | None = None) -> None:
        super().__init__()
        # before Textual replaces sys.stderr, as ``runner.prepare_for_captured_stderr`` says
        # (which would import the runner's modules, 50 ms, before the first frame)
        resource_tracker.ensure_running()
        self.setup = setup or AppSetup()
        self.theme = self.setup.theme
        self.built = False  # the session and the views are there
        self.catalog: Catalog | None = None  # set on the event loop once the session has it
        self.paused = False
        self.window_s = self.setup.window_s
        self._drawn: object = None  # what the last redraw showed
        self.header = HeaderLine(id="header")
        self.tabs = TabbedContent(initial="devices", id="tabs")
        self._launched: dict[str, Launch] = {}  # each workload's last launch, for the launcher
        self._sweep_ends = SweepEnds()

    # the session's state, as the views (and the UI's tests) read it
    @property
    def found(self) -> Discovery | None:
        return self.session.found if self.built else None

    @property
    def sampler(self) -> Sampler | None:
        return self.session.sampler if self.built else None

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
        """The first frame: the header, the tabs and the keys; the tabs' views come in
        ``_build``, once the modules they need are imported."""
        yield self.header
        with self.tabs:
            for number, tab in enumerate(TABS, 1):
                yield TabPane(f"{number} {tab.capitalize()}", id=tab)
        yield Footer()

    def on_mount(self) -> None:
        self._update_header()
        self.call_after_refresh(self._start)  # after the first frame: its thread would slow it
        self.set_interval(REFRESH_S, self.refresh_view)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Until there is a session (a moment after the first frame) its keys wait."""
        return True if self.built or action in ("quit", "help", "show_tab", "step_tab") else None

    @work(thread=True, exclusive=True, group="probe")
    def _start(self) -> None:
        for module in AFTER_FIRST_FRAME:
            importlib.import_module(module)
        from gpuscope.session import Session

        session = Session(self.setup, self._run_event)
        try:
            # Textual's typing takes no coroutine of None; it awaits one (the mounts) all the same
            self.call_from_thread(self._build, session)  # type: ignore[arg-type]
        except RuntimeError:  # closed before its session was built: nothing was started
            return
        found = session.probe()
        if session.quitting.is_set():  # quit while probing: the session closed what it found
            return
        try:
            self.call_from_thread(self._devices_ready, found)
            catalog = session.find_catalog()
            self.call_from_thread(setattr, self, "catalog", catalog)
        except RuntimeError:  # the app closed meanwhile: its session is closing
            return

    async def _build(self, session: Session) -> None:
        from gpuscope.tui.compare_view import CompareView
        from gpuscope.tui.devices_view import DevicesView
        from gpuscope.tui.panel_charts import DEFAULT_CHARTS
        from gpuscope.tui.processes_view import ProcessesView
        from gpuscope.tui.runs_view import RunsView

        self.session, self.chart_names = session, DEFAULT_CHARTS
        self.devices = DevicesView(id="devices-view")
        self.processes = ProcessesView(id="processes-view")
        self.runs_view = RunsView(id="runs-view")
        self.compare = CompareView(id="compare-view")
        views = (self.devices, self.processes, self.runs_view, self.compare)
        for tab, view in zip(TABS, views, strict=True):
            await self.tabs.get_pane(tab).mount(view)
        self.built = True
        cast(MainScreen, self.screen_stack[0]).ask_for_activity()
        self.refresh_bindings()

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
        from gpuscope.tui.processes_view import ProcessTable

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
        if not self.built:
            return False
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
            cast(MainScreen, self.screen_stack[0]).ask_for_activity()  # the layout may change
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
        session = self.session if self.built else None
        self.header.text = header_text(self.setup, session, self.paused, self.window_s)

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

    def action_choose_charts(self) -> None:
        def chosen(names: tuple[str, ...] | None) -> None:
            if names:
                self.chart_names = names
                self.refresh_view()

        from gpuscope.tui.chart_chooser import ChartChooser

        self.push_screen(ChartChooser(self.chart_names), chosen)

    def action_step_window(self, step: int) -> None:
        from gpuscope.session import CHART_WINDOWS_S, step_choice

        self.window_s = step_choice(CHART_WINDOWS_S, self.window_s, step)
        self.refresh_view()

    # -- the command palette and quitting -----------------------------------------------------

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for key in MAIN_KEYS:
            if key.palette:
                yield SystemCommand(key.title, key.does, partial(self.run_action, key.action))

    def on_unmount(self) -> None:
        # Never on the event loop: closing waits for runs, the recording and the sampler. A
        # non-daemon thread, so the process exits only once the recording ends on a whole row.
        session = getattr(self, "session", None)  # set as the build starts
        if session is not None:
            threading.Thread(target=session.close, name="gpuscope-close").start()
