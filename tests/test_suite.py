"""``gpuscope suite``: the standard set within a budget, recorded and reported; here on the CPU
with one tiny item, so the whole flow runs in seconds."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from gpuscope.cli import main
from gpuscope.commands import suite

pytest.importorskip("torch")


def test_a_suite_runs_records_and_reports_within_its_budget(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    tiny = suite.SuiteItem("gemm", {"dtype": "fp32", "size": 64})
    gpu_only = suite.SuiteItem("memory-probe", {}, gpu_only=True)  # not planned on a CPU
    monkeypatch.setattr(suite, "SUITE", (tiny, gpu_only))
    monkeypatch.setattr(suite, "START_UP_S", 2.0)
    out = tmp_path / "suite"
    assert main(["suite", "--budget", "5", "--devices", "cpu", "-o", str(out)]) == 0
    reports = json.loads((out / "suite.json").read_text())["reports"]
    assert [(r["workload"], r["device"]) for r in reports] == [("gemm", "cpu")]
    assert 1.5 < reports[0]["seconds"] < 3.5  # 80 % of its 3 s share
    with (out / "record.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all(r["device_name"] for r in rows)  # the recording names its hardware
    page = (out / "report.html").read_text()
    assert "gemm (dtype=fp32, size=64) on cpu:" in page and page.count("<svg") >= 1


def test_a_budget_too_small_or_a_used_folder_is_one_line_and_refused(
    tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    assert main(["suite", "--budget", "10", "--devices", "cpu", "-o", str(tmp_path / "a")]) == 2
    assert "is too small for 5 runs: give at least 35 s" in capsys.readouterr().err
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
