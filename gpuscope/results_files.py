"""A session's results saved as new files in its record folder: the results table (CSV), the
results as JSON (each sweep in a file of its own, as ``bench --json`` and ``bench --sweep
--json`` write them), and a report (HTML) made from the same results in memory, never read
back from those files, and the session's recordings.

The session's runs go on while this saves: ``report_contents`` takes what a report holds at
once, on the caller's thread, and ``save_report`` (blocking: matplotlib takes a second or two)
works from that alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gpuscope.measurement.run_result import RunResult
from gpuscope.measurement.sweep import Sweep, SweepPoint, SweepRun
from gpuscope.report.document import render_report
from gpuscope.report.inputs import (
    Input,
    ReportInputError,
    bench_results,
    load_inputs,
    sweep_results,
)
from gpuscope.sinks.output_files import write_error_in, write_stamped
from gpuscope.sinks.results import machine_facts, results_json, sweep_json, write_results_csv


def save_results_table(results: Sequence[RunResult], folder: Path) -> Path:
    """The results table to a new CSV in ``folder``; OSError if it cannot be written."""
    kept = list(results)
    return write_stamped(folder, "gpuscope-results", "csv", lambda f: write_results_csv(kept, f))


@dataclass(frozen=True, slots=True)
class SweepSoFar:
    """A sweep's points when the report was asked for; ``finished`` False: points are missing,
    not lost (it was still running)."""

    workload: str
    sweep: Sweep
    points: tuple[SweepPoint, ...]
    finished: bool


@dataclass(frozen=True, slots=True)
class ReportContents:
    """What a report is made of, each figure once: a sweep's results are in its sweep file."""

    results: tuple[RunResult, ...]  # those of no sweep
    sweeps: tuple[SweepSoFar, ...]  # those with a point
    recordings: tuple[Path, ...]  # the session's recordings, for their timelines


def report_contents(
    results: Iterable[RunResult], sweeps: Iterable[SweepRun], recordings: Iterable[Path]
) -> ReportContents:
    """What a report of these holds now; safe while runs go on (their lists only grow)."""
    walks = list(sweeps)
    so_far = []
    for walk in walks:
        finished = walk.finished  # first: a point recorded meanwhile is extra, not missing
        points = walk.settled()
        if points:
            so_far.append(SweepSoFar(walk.workload, walk.sweep, tuple(points), finished))
    in_sweeps = {id(r.result) for w in walks for r in list(w.runs) if r.result is not None}
    plain = tuple(r for r in list(results) if id(r) not in in_sweeps)
    return ReportContents(plain, tuple(so_far), tuple(recordings))


def save_report(contents: ReportContents, folder: Path) -> tuple[Path | None, str | None]:
    """Blocking: the results as new JSON files in ``folder`` and a report made from the same
    results (in memory) and the recordings that still exist; the report's path, or None and
    why."""
    try:
        machine = machine_facts()
        inputs: list[Input] = []
        if contents.results:
            held = [*contents.results]
            path = _new_json(folder, "gpuscope-results", results_json(held))
            inputs.append(bench_results(path, held, machine))
        for sweep in contents.sweeps:
            points = [*sweep.points]
            text = sweep_json(sweep.workload, sweep.sweep, points, sweep.finished)
            path = _new_json(folder, "gpuscope-sweep", text)
            inputs.append(
                sweep_results(path, sweep.workload, sweep.sweep, points, machine, sweep.finished)
            )
        inputs += load_inputs([r for r in contents.recordings if r.exists()])
        page = render_report(inputs, folder / "gpuscope-report.html").text  # in memory
        report = write_stamped(folder, "gpuscope-report", "html", lambda f: f.write(page))
    except OSError as exc:
        return None, f"cannot save the report: {write_error_in(folder, exc)}"
    except ReportInputError as exc:
        return None, f"cannot make the report: {exc}"
    return report, None


def _new_json(folder: Path, stem: str, text: str) -> Path:
    return write_stamped(folder, stem, "json", lambda stream: stream.write(text + "\n"))
