"""The keys that act on the session (sample rate, recording, launching, stopping and saving runs)
and the updates runs' threads post: ``GpuscopeApp``'s base class, so app.py is the app's frame,
its start and its drawing. Nothing here is imported before the app's first frame but notices."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from textual.app import App
from textual.message import Message

from gpuscope.tui import notices
from gpuscope.tui.notices import Notice
from gpuscope.workloads.api import WorkloadError

if TYPE_CHECKING:
    from pathlib import Path

    from gpuscope.measurement.measured_run import MeasuredRun
    from gpuscope.session import Launch, Session
    from gpuscope.session_setup import SessionSetup
    from gpuscope.workloads.events import RunEvent
    from gpuscope.workloads.registry import Catalog


class RunUpdate(Message):
    """Posted from a run's worker thread after each event."""

    def __init__(self, run: MeasuredRun, event: RunEvent) -> None:
        super().__init__()
        self.run = run
        self.event = event


class SessionKeys(App[int]):
    """What these keys need of the app, which sets them."""

    setup: SessionSetup
    session: Session
    catalog: Catalog | None  # set on the event loop once the session has it
    _launched: dict[str, Launch]  # each workload's last launch, for the launcher

    def refresh_view(self) -> None:
        raise NotImplementedError  # the app's: redraw what changed

    def action_show_tab(self, tab: str) -> None:
        raise NotImplementedError  # the app's

    def _update_header(self) -> None:
        raise NotImplementedError  # the app's

    def tell(self, *notices: Notice | None) -> None:
        for notice in notices:
            if notice is not None:
                self.notify(notice.text, severity=notice.severity, timeout=notice.timeout_s)

    def action_step_interval(self, step: int) -> None:
        self.session.step_interval(step)
        self._update_header()

    # -- recording ----------------------------------------------------------------------------

    def action_toggle_record(self) -> None:
        self.tell(notices.toggle_recording(self.session, self.setup.record_dir))
        self._update_header()

    # -- workloads ----------------------------------------------------------------------------

    def action_launch(self) -> None:
        if self.session.found is None or self.catalog is None:
            self.notify("still looking for devices and workloads…", severity="warning")
            return
        targets, unavailable = self.session.launch_choices()
        from gpuscope.tui.launcher import LaunchScreen  # imported after the first frame

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
