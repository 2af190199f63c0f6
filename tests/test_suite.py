"""``gpuscope suite``: the standard set within a budget, recorded and reported; here on the CPU
with one tiny item, so the whole flow runs in seconds."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gpuscope.cli import main
from gpuscope.commands import suite
from gpuscope.errors import UsageError
from tests.suite_fakes import measure_at_once

pytest.importorskip("torch")


def test_a_suite_runs_records_and_reports_within_its_budget(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The whole flow with a real child, sampler, recording and report: a counting workload
    (no torch, so a start-up of 2 s holds on a loaded machine too; bench's tests run gemm)."""
    from gpuscope.workloads.registry import find_workloads
    from tests.plugin_files import counting_workload

    plugin = counting_workload(tmp_path)
    catalog = find_workloads(plugin_files=[plugin], plugin_dirs=[], use_entry_points=False)
    monkeypatch.setattr(suite, "bundled_workloads", lambda: catalog)
    tiny = suite.SuiteItem("counter", {"dtype": "fp32"})
    gpu_only = suite.SuiteItem("memory-probe", {}, gpu_only=True)  # not run on a CPU
    monkeypatch.setattr(suite, "SUITE", (tiny, gpu_only))
    monkeypatch.setattr(suite, "START_UP_S", 2.0)
    out = tmp_path / "suite"
    started, started_wall = time.monotonic(), time.time()
    assert main(["suite", "--budget", "7", "--devices", "cpu", "-o", str(out)]) == 0
    # the budget is the command's, report and all: the runs end in time to write the report,
    # which may take longer than the time kept for it where the machine is busy
    assert time.monotonic() - started < 7 + suite.REPORT_S
    payload = json.loads((out / "suite.json").read_text())
    reports = payload["reports"]
    assert [(r["workload"], r["device"]) for r in reports] == [("counter", "cpu")]
    assert reports[0]["measured_to_s"] - started_wall < 7 - suite.REPORT_S + suite.STOP_GRACE_S
    assert 1.0 < reports[0]["seconds"] < 4.0 - 2.0  # most of its share, less the start-up
    assert [(i["workload"], i["status"], i["why"]) for i in payload["items"]][1] == (
        "memory-probe",
        "skipped",
        "GPU only",
    )  # every planned item is there, each with its outcome
    with (out / "record.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all(r["device_name"] for r in rows)  # the recording names its hardware
    page = (out / "report.html").read_text()
    assert "counter (dtype=fp32) on cpu:" in page and page.count("<svg") >= 1
    assert "1 of 2 items measured" in page and "memory-probe () on cpu: skipped: GPU only" in page


def test_a_run_that_outlasts_its_share_fails_saying_why_and_the_suite_keeps_its_budget(
    tmp_path: Path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    """Issue 21: a suite of 60 s took 138 s: one run's first step outlasted every limit, the
    others were "past the budget" in lines printed before the one that explained them, and
    suite.json and the report read as complete."""
    from gpuscope.workloads.registry import find_workloads
    from tests.plugin_files import workload_with_step

    slow = workload_with_step(tmp_path, "slow", "import time; time.sleep(60); return 1")
    quick = workload_with_step(tmp_path, "quick", "return Work(units=1)")
    catalog = find_workloads(plugin_files=[slow, quick], plugin_dirs=[], use_entry_points=False)
    monkeypatch.setattr(suite, "bundled_workloads", lambda: catalog)
    monkeypatch.setattr(suite, "SUITE", (suite.SuiteItem("slow", {}), suite.SuiteItem("quick", {})))
    monkeypatch.setattr(suite, "START_UP_S", 2.0)
    out = tmp_path / "suite"
    started = time.monotonic()
    assert main(["suite", "--budget", "11", "--devices", "cpu", "-o", str(out)]) == 1
    took = time.monotonic() - started
    assert took < 11 + 4, took
    err = capsys.readouterr().err.splitlines()
    said = [line for line in err if line.startswith("gpuscope suite: ")]
    assert said[0].startswith("gpuscope suite: slow on cpu: failed: past its")  # in the order
    assert "share of the budget, in first step (one step of slow on cpu did not" in said[0]
    assert said[0].endswith("a larger --budget allows more time)")
    assert said[1].startswith("gpuscope suite: quick on cpu: measured: ")  # things happened
    assert said[2].startswith("gpuscope suite: 2 items in ") and "1 measured, 1 failed" in said[2]
    items = json.loads((out / "suite.json").read_text())["items"]
    assert [(i["workload"], i["status"]) for i in items] == [
        ("slow", "failed"),
        ("quick", "measured"),
    ]
    page = (out / "report.html").read_text()
    assert "1 of 2 items measured" in page and "slow () on cpu: failed: past its" in page


def test_a_budget_too_small_or_a_used_folder_is_one_line_and_refused(
    tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    assert main(["suite", "--budget", "10", "--devices", "cpu", "-o", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert re.search(r"is too small for \d runs: give at least \d+ s", err), err
    assert not (tmp_path / "a").exists()  # nothing made before the check
    used = tmp_path / "used"
    used.mkdir()
    (used / "mine.txt").write_text("x")
    assert main(["suite", "-o", str(used)]) == 1  # the machine said no, as record's
    assert "is not empty" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget", "nan"], "--budget must be a finite number of seconds"),
        (["--devices", ","], "--devices names no device"),
        (["--devices", "cuda:0"], "nothing of the suite can run here:"),
    ],
)
def test_bad_suite_options_are_one_line_and_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    assert main(["suite", *args, "-o", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    file = tmp_path / "f"
    file.write_text("")
    assert main(["suite", "-o", str(file)]) == 1
    assert "is a file" in capsys.readouterr().err


def test_a_whole_run_is_not_called_cut_short_when_the_timer_fires_as_its_child_exits(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The share's timer fires as each run ends: the first's result is whole and stays so; the
    second stopped at the timer, so it is cut short: a whole measurement over fewer seconds
    (not one a user broke off)."""
    from tests.compare_runs import measured
    from tests.waiting import wait_until

    stops = iter([False, True])

    def ends_as_the_timer_fires(driver: Any, run: Any, *_: Any) -> None:
        wait_until(lambda: run.stop_requested, "the share's timer never fired")
        stopped = next(stops)
        run.result = measured("gemm", "cpu", None, 1e9, None, run.params, stopped=stopped).result

    items = [suite.SuiteItem("gemm", {"dtype": "fp32", "size": n}) for n in (64, 128)]
    monkeypatch.setattr(suite, "SUITE", tuple(items))
    monkeypatch.setattr(suite, "START_UP_S", 0.1)
    monkeypatch.setattr(suite, "REPORT_S", 0.5)  # the shares: under 2 s each
    monkeypatch.setattr(suite, "drive_shown", ends_as_the_timer_fires)
    out = tmp_path / "suite"
    assert main(["suite", "--budget", "4", "--devices", "cpu", "-o", str(out)]) == 0
    payload = json.loads((out / "suite.json").read_text())
    whole, cut = payload["items"]
    assert whole["status"] == "measured" and whole["cut_short"] is False
    assert whole["why"] == "1 GFLOP/s"  # spent, but its result was whole
    assert cut["status"] == "measured" and cut["cut_short"] is True
    assert re.search(r"; cut short at its \d+ s share of the budget", cut["why"]), cut
    assert [r["stopped_early"] for r in payload["reports"]] == [False, False]


def test_the_report_says_which_items_the_budget_cut_short(tmp_path: Path) -> None:
    """Trial of issue 21: only stderr said so; the report gave the figures as if whole."""
    from gpuscope.report.document import build_sections
    from gpuscope.report.inputs import load_input

    items = [
        {"workload": "rnn", "asked": {"precision": "best"}, "device": "cpu", "status": "measured",
         "why": "303 tokens/s; cut short at its 14 s share of the budget (6.8 s measured)",
         "cut_short": True},
        {"workload": "gemm", "asked": {"dtype": "best"}, "device": "cpu", "status": "measured",
         "why": "141 GFLOP/s", "cut_short": False},
    ]  # fmt: skip
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"reports": [], "items": items}))
    (_, results) = build_sections([load_input(path)], "no charts here")
    text = " ".join(results.text)
    assert "Measured for less than planned (1)" in text and "rnn (precision=best) on cpu" in text
    assert "gemm (dtype=best)" not in text


# -- what becomes of the results: stdout, suite.json, the report --------------------------------

ROOT = Path(__file__).resolve().parents[1]


def suite_child(out: Path, **popen: Any) -> subprocess.CompletedProcess[str]:
    """The suite as a user runs it, measuring at once (tests/suite_fakes.py)."""
    args = ["--budget", "6", "--devices", "cpu", "-o", str(out)]
    return subprocess.run(
        [sys.executable, "-m", "tests.suite_fakes", *args], cwd=ROOT, stderr=subprocess.PIPE,
        text=True, timeout=120, **popen,
    )  # fmt: skip


def saved_everything(out: Path, err: str) -> None:
    assert "internal error" not in err and "Traceback" not in err, err
    reports = json.loads((out / "suite.json").read_text())["reports"]
    assert [(r["workload"], r["device"]) for r in reports] == [("gemm", "cpu")]
    assert (out / "report.html").is_file()
    summary = [line for line in err.splitlines() if line.startswith("gpuscope suite: 1 items in ")]
    assert summary and summary[0].endswith(f"results, recording and report in {out}/"), err


def test_a_suite_with_its_stdout_closed_saves_everything_and_says_nothing_of_it(
    tmp_path: Path,
) -> None:
    """Review of issue 22: ``suite >&-`` ended in ``internal error: AttributeError`` as it
    printed the table, before suite.json was written: every result was lost. The results go to
    the folder; a closed stdout asks for no copy there."""
    out = tmp_path / "suite"
    done = suite_child(out, stdout=None, preexec_fn=lambda: os.close(1))
    assert done.returncode == 0, done.stderr
    saved_everything(out, done.stderr)
    assert "cannot print" not in done.stderr and "stdout is closed" not in done.stderr


def test_a_suite_whose_stdout_reader_left_saves_everything_and_says_so_in_one_line(
    tmp_path: Path,
) -> None:
    """Review of issue 22: ``suite | head -1`` ended in ``internal error: BrokenPipeError``
    before suite.json was written."""
    out = tmp_path / "suite"
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader left before the table came
    try:
        done = suite_child(out, stdout=write_end)
    finally:
        os.close(write_end)
    assert done.returncode == 1, done.stderr  # as bench: the table did not reach its reader
    saved_everything(out, done.stderr)
    said = [line for line in done.stderr.splitlines() if "cannot print" in line]
    assert said == ["gpuscope suite: cannot print the results: Broken pipe"], done.stderr


def test_a_recording_with_no_rows_costs_neither_the_summary_nor_the_exit_code(
    tmp_path: Path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    """Review of issue 22: a header-only record.csv made the report refuse its input (a
    UsageError), so the suite ended with exit 2 and no summary line, though all was measured."""
    from gpuscope.sinks.recording_file import RecordingFile

    measure_at_once(monkeypatch)
    monkeypatch.setattr(RecordingFile, "__call__", lambda self, samples: None)  # no row taken
    out = tmp_path / "suite"
    assert main(["suite", "--budget", "6", "--devices", "cpu", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "FLOP/s" in captured.out
    assert (out / "record.csv").read_text().count("\n") == 1  # its header, no row
    err = captured.err.strip().splitlines()
    assert err[-1].startswith("gpuscope suite: 1 items in "), err
    assert err[-1].endswith(f"results, recording and report in {out}/"), err
    page = (out / "report.html").read_text()  # made from the results alone
    assert "gemm (dtype=fp32, size=64) on cpu:" in page


def test_a_report_that_refuses_its_inputs_is_one_line_and_the_suite_exits_as_it_measured(
    tmp_path: Path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    def refuse(options: Any) -> None:
        raise UsageError(f"{options.inputs[-1]}: not a gpuscope file")

    measure_at_once(monkeypatch)
    monkeypatch.setattr(suite, "run_report", refuse)
    out = tmp_path / "suite"
    assert main(["suite", "--budget", "6", "--devices", "cpu", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "FLOP/s" in captured.out and (out / "suite.json").is_file()
    err = captured.err.strip().splitlines()
    assert f"gpuscope suite: no report: {out / 'record.csv'}: not a gpuscope file" in err, err
    assert err[-1].startswith("gpuscope suite: 1 items in "), err
    assert err[-1].endswith(f"results and recording in {out}/"), err
