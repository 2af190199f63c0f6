"""What the app tells the user about runs, sweeps and recordings, as values: the app shows each
``Notice`` it is handed, and these rules are tested without a terminal."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual.notifications import SeverityLevel

from gpuscope.sinks.output_files import write_error, write_error_in
from gpuscope.workloads.events import ErrorKind, Failed, Result, RunEvent

if TYPE_CHECKING:  # the app imports this before its first frame; these come after it
    from gpuscope.measurement.measured_run import MeasuredRun
    from gpuscope.measurement.sweep import SweepRun
    from gpuscope.session import Session


@dataclass(frozen=True, slots=True)
class Notice:
    text: str
    severity: SeverityLevel = "information"
    timeout_s: float | None = None  # None: Textual's default


def run_notice(run: MeasuredRun, event: RunEvent) -> Notice | None:
    """A run's end, once: done, or failed with why (a stop the user asked for is no news)."""
    from gpuscope.measurement.sweep import ran_out  # as the session's modules: after the frame

    if run.swept is not None and (run.result is not None or ran_out(run.error)):
        return None  # a sweep's point, measured or its memory boundary: told when it ends
    if isinstance(event, Result) and run.result is not None:
        return Notice(f"{run.label} done")
    if isinstance(event, Failed) and event.kind is not ErrorKind.STOPPED:
        assert run.error is not None
        return Notice(f"{run.label} failed: {run.error.message}", "error", 15)
    return None


class SweepEnds:
    """A sweep's end in one notice, not one per point (its last points, skipped beyond the
    memory boundary, come after its last run's event)."""

    def __init__(self) -> None:
        self._told: set[int] = set()  # id() of each sweep whose end was told

    def newly_ended(self, sweeps: Iterable[SweepRun]) -> list[Notice]:
        from gpuscope.tui.sweep_curves import sweep_notice  # plotext: after the first frame

        ended = [walk for walk in sweeps if walk.finished and id(walk) not in self._told]
        self._told.update(id(walk) for walk in ended)
        return [Notice(sweep_notice(walk)) for walk in ended]


def stop_runs(session: Session) -> Notice | None:
    """Ask every run and sweep to stop; what that set off, if anything."""
    sweeps = sum(not (w.finished or w.stopped) for w in session.sweeps)
    stopping = session.stop_runs()
    if not (stopping or sweeps):
        return None
    also = f" and {sweeps} sweep(s)" if sweeps else ""
    return Notice(f"stopping {stopping} run(s){also}; partial results follow")


def toggle_recording(session: Session, record_dir: Path) -> Notice:
    """Start recording every device, or stop; what happened, or why it could not."""
    if session.recording is not None:
        recording = session.stop_recording()
        assert recording is not None
        return Notice(f"saved {recording.rows_written} rows to {recording.path}")
    try:
        recording = session.start_recording()
    except RuntimeError as exc:
        return Notice(str(exc), "warning")
    except OSError as exc:
        return Notice(f"cannot record: {write_error_in(record_dir, exc)}", "error")
    return Notice(f"recording every device to {recording.path}")


def recording_failure(session: Session) -> Notice | None:
    """A recording that stopped on a failed write, once."""
    recording = session.failed_recording()
    if recording is None or recording.error is None:
        return None
    why = write_error(recording.path, recording.error)
    return Notice(f"recording stopped: {why}; whole rows kept", "error", 10)


def save_results(session: Session, record_dir: Path) -> Notice | None:
    """The results to CSV, if there are any, and what that gave (None: only sweep points that
    ran out of memory, nothing to save but the report). The report follows unless this is a
    warning or an error."""
    reports = session.results
    if not reports and not any(w.points for w in session.sweeps):
        return Notice("no results to save yet", "warning")
    if not reports:
        return None
    try:
        path = session.save_results()
    except OSError as exc:
        return Notice(f"cannot save results: {write_error_in(record_dir, exc)}", "error")
    return Notice(f"saved {len(reports)} result(s) to {path}; making the report…")


def report_notice(report: Path | None, why: str | None) -> Notice:
    return Notice(f"report: {report}") if report else Notice(why or "no report", "error")
