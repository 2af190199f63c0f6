"""A session's results saved as files (``gpuscope.results_files``): each figure once, a sweep
saved while it runs marked as such, and the report made from what was saved, without a run."""

from __future__ import annotations

import json
from pathlib import Path

from gpuscope.measurement.sweep import SweepRun, parse_sweep, point_of
from gpuscope.results_files import report_contents, save_report, save_results_table
from gpuscope.workloads.registry import find_workloads
from tests.compare_runs import measured


def _sweep_with_one_point() -> SweepRun:
    """A sweep of gemm over two sizes on the CPU, saved after its first point."""
    gemm = find_workloads(plugin_dirs=[], use_entry_points=False).workloads["gemm"]
    walk = SweepRun("gemm", parse_sweep("size=64,128", gemm.params), ("cpu",))
    run = measured("gemm", "cpu", None, 2e9, None, {"dtype": "fp32", "size": 64})
    walk.runs.append(run)
    walk.record(point_of("cpu", 64, run))
    return walk


def test_a_sweeps_results_are_saved_once_in_its_sweep_and_a_sweep_without_points_not_at_all(
    tmp_path: Path,
) -> None:
    walk = _sweep_with_one_point()
    idle = SweepRun("gemm", walk.sweep, ("cpu",))  # launched, no point yet
    plain = measured("gemm", "cpu", None, 1e9, None, {"dtype": "fp32", "size": 256}).result
    assert plain is not None and walk.runs[0].result is not None
    recording = tmp_path / "gone.csv"  # a recording removed since: left out of the report
    contents = report_contents([plain, walk.runs[0].result], [walk, idle], [recording])
    assert contents.results == (plain,)  # the sweep's result is in its sweep file
    (so_far,) = contents.sweeps
    assert not so_far.finished and [p.value for p in so_far.points] == [64]

    report, why = save_report(contents, tmp_path)
    assert why is None and report is not None and report.name.startswith("gpuscope-report-")
    (results,) = tmp_path.glob("gpuscope-results-*.json")  # as bench --json writes it
    assert [r["params"]["size"] for r in json.loads(results.read_text())["reports"]] == [256]
    (sweep_file,) = tmp_path.glob("gpuscope-sweep-*.json")  # as bench --sweep --json
    payload = json.loads(sweep_file.read_text())
    assert payload["finished"] is False and [p["size"] for p in payload["points"]] == [64]
    assert "Sweep: gemm over size" in report.read_text()


def test_the_results_table_is_a_new_csv_each_time(tmp_path: Path) -> None:
    plain = measured("gemm", "cpu", None, 1e9, None, {"dtype": "fp32", "size": 256}).result
    assert plain is not None
    first, second = save_results_table([plain], tmp_path), save_results_table([plain], tmp_path)
    assert first != second and first.name.startswith("gpuscope-results-")
    assert first.read_text() == second.read_text() and "gemm" in first.read_text()
