"""``gpuscope report`` on a ``record --processes`` file (issue 24): one row per (device, pid,
command) with what it was charged and on what basis (sole process: measured; SM share: an
estimate; never charged: n/a and why), per device totals, beside a device recording, bounded,
and a malformed file refused in one line."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpuscope.cli import main
from gpuscope.measurement.process_energy import ProcessEnergyLedger
from gpuscope.report import processes
from gpuscope.report.document import build_sections
from gpuscope.report.inputs import load_input, load_inputs
from gpuscope.report.processes import READ_COLUMNS, ProcessesFile
from gpuscope.report.render import PROCESS_COLUMNS, PROCESS_DEVICE_COLUMNS
from gpuscope.report.summary import summary_lines
from gpuscope.sinks.process_rows import PROCESS_COLUMN_NAMES, ProcessRows
from gpuscope.sinks.recording import RecordingSink
from gpuscope.telemetry.model import EnergySource, ProcessUsage, Reading, Sample, Vendor
from gpuscope.telemetry.processes import ProcessDetails, ProcessLookups

START = 1_790_000_000.0
HOSTILE = "<script>alert(1)</script> *x* | y"
HEADER = ",".join(PROCESS_COLUMN_NAMES)


def sample(device: str, t: float, energy_j: float, shares: dict[int, float | None]) -> Sample:
    listed = tuple(ProcessUsage(pid, "job", 1024.0 * pid, kind="C", sm_pct=share)
                   for pid, share in shares.items())  # fmt: skip
    reading = Reading(START + t, t, util_gpu_pct=80.0, processes=listed)
    return Sample(device, Vendor.NVIDIA, reading, energy_j, EnergySource.COUNTER)


def written(path: Path, fmt: str) -> Path:
    """A processes file as ``record --processes`` writes it, through its own writer: on
    nvidia:0 one job alone (charged as the sole process), on nvidia:1 one with an SM share
    (an estimate), on nvidia:2 two with no shares (never charged)."""
    details = {10: ProcessDetails("alice", "python train.py", "slurm:4749"),
               20: ProcessDetails("bob", "python infer.py"),
               30: ProcessDetails("eve", HOSTILE), 31: ProcessDetails("eve", "other")}  # fmt: skip
    lookups = ProcessLookups(details_of=lambda pid: details[pid])
    ledger = ProcessEnergyLedger()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    sink = RecordingSink(fd, fmt, ProcessRows(ledger, lookups))
    for t in range(4):
        tick = [sample("nvidia:0", t, 100.0 * t, {10: None}),
                sample("nvidia:1", t, 200.0 * t, {20: 50.0}),
                sample("nvidia:2", t, 300.0 * t, {30: None, 31: None})]  # fmt: skip
        ledger.add(tick)
        sink(tick)
    os.close(fd)
    return path


def rows_by_pid(item: ProcessesFile) -> dict[str, dict[str, str]]:
    section = build_sections([item], "no charts")[1]
    header, rows = section.tables[0]
    assert header == PROCESS_COLUMNS
    return {row[1]: dict(zip(header, row, strict=True)) for row in rows}


def test_the_report_reads_only_columns_the_writer_writes() -> None:
    assert set(READ_COLUMNS) <= set(PROCESS_COLUMN_NAMES)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_each_job_has_its_row_its_energy_and_its_basis(tmp_path: Path, fmt: str) -> None:
    item = load_input(written(tmp_path / f"procs.{fmt}", fmt))
    assert isinstance(item, ProcessesFile)
    rows = rows_by_pid(item)
    assert set(rows) == {"10", "20", "30", "31"}
    sole, share, never = rows["10"], rows["20"], rows["30"]
    assert sole["device"] == "nvidia:0" and sole["user"] == "alice"
    assert sole["command"] == "python train.py"
    assert sole["energy"] == "300 J" and sole["avg W"] == "100.0 W"  # all of its GPU's
    assert sole["energy source"] == "counter"
    assert sole["energy basis"] == "sole process: its GPU's measured energy"
    assert sole["charged samples"] == "3 of 4" and sole["seen for"] == "3 s"
    assert sole["peak GPU mem"] == "10,240 MiB"
    assert share["energy"] == "300 J" and share["energy source"] == "estimate"  # half of 600 J
    assert share["energy basis"] == "SM share: an estimate"
    assert never["energy"] == "n/a" and never["avg W"] == "n/a"  # never 0
    assert never["energy basis"] == "n/a: never charged (several processes, no SM shares)"
    assert never["command"] == HOSTILE and never["charged samples"] == "0 of 4"


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_files_written_before_the_job_column_read_as_before(tmp_path: Path, fmt: str) -> None:
    """Issue 25 appended ``job`` to the writer's columns: a file without it (written before)
    and one with it read as the same jobs."""
    new = written(tmp_path / f"new.{fmt}", fmt)
    assert PROCESS_COLUMN_NAMES[-1] == "job"
    old = tmp_path / f"old.{fmt}"
    if fmt == "csv":
        with new.open(newline="") as source, old.open("w", newline="") as target:
            csv.writer(target).writerows(row[:-1] for row in csv.reader(source))
    else:
        lines = [json.loads(line) for line in new.read_text().splitlines()]
        assert lines[0]["job"] == "slurm:4749"
        old.write_text("".join(json.dumps(
            {k: v for k, v in line.items() if k != "job"}) + "\n" for line in lines))  # fmt: skip
    assert "job" not in old.read_text()
    read_new, read_old = load_input(new), load_input(old)
    assert isinstance(read_new, ProcessesFile) and isinstance(read_old, ProcessesFile)
    assert rows_by_pid(read_new) == rows_by_pid(read_old)
    assert set(rows_by_pid(read_old)) == {"10", "20", "30", "31"}


def test_per_device_the_charged_total_and_what_was_not_charged(tmp_path: Path) -> None:
    item = load_input(written(tmp_path / "procs.csv", "csv"))
    assert isinstance(item, ProcessesFile)
    header, rows = build_sections([item], "no charts")[1].tables[1]
    assert header == PROCESS_DEVICE_COLUMNS
    by_device = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert by_device["nvidia:0"]["charged"] == "300 J"
    assert by_device["nvidia:0"]["of which measured (sole process)"] == "300 J"
    assert by_device["nvidia:0"]["of which estimated (SM share)"] == "none"
    assert by_device["nvidia:1"]["of which estimated (SM share)"] == "300 J"
    assert by_device["nvidia:2"]["charged"] == "n/a: none charged"
    assert by_device["nvidia:2"]["never charged"] == "2"
    assert "several processes, no SM shares (6)" in by_device["nvidia:2"]["why not charged"]
    said = summary_lines([item])
    assert any("nvidia:0: 1 process, charged 300 J" in line and "sole process" in line
               for line in said)  # fmt: skip
    assert any("nvidia:1" in line and "estimate" in line for line in said)
    assert any("nvidia:2: 2 processes; 2 never charged (n/a)" in line for line in said)


@pytest.mark.parametrize("suffix", ["html", "md"])
def test_beside_a_device_recording_in_one_report_outside_text_escaped(
    tmp_path: Path, suffix: str
) -> None:
    procs = written(tmp_path / "procs.csv", "csv")
    rec = tmp_path / "rec.csv"
    rec.write_text(
        "timestamp,device,power_w,util_gpu_pct\n"
        "2026-12-07T10:00:00+00:00,nvidia:0,100,50\n2026-12-07T10:00:01+00:00,nvidia:0,110,60\n"
    )
    assert [type(i).__name__ for i in load_inputs([rec, procs])] == ["Recording", "ProcessesFile"]
    out = tmp_path / f"r.{suffix}"
    assert main(["report", str(rec), str(procs), "-o", str(out)]) == 0
    page = out.read_text()
    assert "GPU processes: procs.csv" in page and "Recording: rec.csv" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    if suffix == "md":
        assert r"\*x\* \| y" in page  # no emphasis, no table bar


def test_a_processes_file_with_no_process_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "procs.csv"
    empty.write_text(HEADER + "\n")
    item = load_input(empty)
    assert isinstance(item, ProcessesFile)
    assert "No GPU process was seen" in build_sections([item], "no charts")[1].text[0]
    assert summary_lines([item]) == ["procs.csv: no GPU process was seen."]


def test_the_jobs_kept_are_capped_and_the_rest_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(processes, "JOBS_MAX", 3)
    lines = [HEADER] + [
        f"2026-12-07T10:00:0{t}+00:00,nvidia:0,{pid},u,cmd {pid},C,1,,,,,,none: no process list"
        for pid in range(10) for t in range(2)
    ]  # fmt: skip
    path = tmp_path / "procs.csv"
    path.write_text("\n".join(lines) + "\n")
    item = load_input(path)
    assert isinstance(item, ProcessesFile)
    assert len(item.jobs) == 3 and item.rows == 20
    assert any("7 more processes (14 rows) are left out" in note for note in item.notes)


def test_impossible_figures_are_n_a_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "procs.csv"
    path.write_text(HEADER + "\n2026-12-07T10:00:00+00:00,nvidia:0,5,u,c,C,nan,,,-3,inf,counter,"
                    "sole process\n")  # fmt: skip
    item = load_input(path)
    assert isinstance(item, ProcessesFile)
    row = rows_by_pid(item)["5"]
    assert row["energy"] == "n/a" and row["peak GPU mem"] == "n/a"
    assert any("cannot be real" in note for note in item.notes)


BAD = {
    "a pid that is not a number": (
        HEADER + "\n2026-12-07T10:00:00+00:00,nvidia:0,abc,u,c,C,1,,,,,,\n",
        "row 2: pid 'abc' is not a process id",
    ),
    "a bad timestamp": (HEADER + "\nyesterday,nvidia:0,1,u,c,C,1,,,,,,\n", "bad timestamp"),
    "no pid": (HEADER + "\n2026-12-07T10:00:00+00:00,nvidia:0,,u,c,C,1,,,,,,\n", "no timestamp"),
    "a JSON line cut": (
        json.dumps(dict.fromkeys(PROCESS_COLUMN_NAMES, "2026-12-07T10:00:00+00:00") | {"pid": 1})
        + '\n{"timestamp": ',
        "not a JSON line",
    ),
    "a line too long": (HEADER + "\n" + "x" * 70_000 + "\n", "a line longer than 64 KiB"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_malformed_processes_file_is_one_line_and_exit_2(tmp_path: Path, name: str) -> None:
    content, said = BAD[name]
    bad = tmp_path / "procs.csv"
    bad.write_text(content)
    result = subprocess.run(
        [sys.executable, "-m", "gpuscope", "report", str(bad), "-o", str(tmp_path / "r.html")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and said in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "internal error" not in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_a_json_line_of_odd_types_is_shown_as_text_not_a_crash(tmp_path: Path) -> None:
    record = dict.fromkeys(PROCESS_COLUMN_NAMES) | {
        "timestamp": "2026-12-07T10:00:00+00:00", "device": ["nvidia:0"], "pid": 7,
        "command": {"argv": HOSTILE}, "energy_j": 5, "energy_basis": ["sole process"],
    }  # fmt: skip
    path = tmp_path / "procs.jsonl"
    path.write_text(json.dumps(record) + "\n" + json.dumps(record) + "\n")
    item = load_input(path)
    assert isinstance(item, ProcessesFile) and len(item.jobs) == 1
    row = rows_by_pid(item)["7"]
    assert row["device"] == '["nvidia:0"]' and row["energy"] == "5 J"
    assert row["charged samples"] == "2 of 2" and "argv" in row["command"]
