"""``gpuscope report`` built from stored result files: the summary's figures, every chart, a
self-contained HTML file (checked in headless Chromium where it is installed), the Markdown
form with PNG charts, and bad input as one line."""

from __future__ import annotations

import csv
import errno
import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from gpuscope.cli import main
from gpuscope.measurement.run_result import RunResult
from gpuscope.measurement.sweep import PointStatus, SweepPoint
from gpuscope.sinks.columns import COLUMN_NAMES
from gpuscope.telemetry.model import EnergySource
from tests.headless_browser import dump_dom, needs_chromium

pytest.importorskip("matplotlib")

H100 = "NVIDIA H100 80GB HBM3"
START = 1_790_000_000.0  # wall clock of the bench runs (outside the recording: not shaded)


def report(device: str, throughput: float, wpj: float | None, **changes: object) -> RunResult:
    base = RunResult(
        workload="gemm", device=device, telemetry_device="nvidia:0" if device != "cpu" else "cpu",
        device_name=H100 if device != "cpu" else "AMD EPYC (2 threads)",
        params={"dtype": "bf16", "size": 4096}, unit="FLOP", units=throughput * 10, seconds=10.0,
        steps=100, throughput=throughput, tflops=throughput / 1e12, energy_j=None,
        avg_power_w=throughput / wpj if wpj else None, work_per_joule=wpj,
        energy_source=EnergySource.COUNTER if wpj else None, pct_of_peak=None,
        measured_from_s=START + 2, measured_to_s=START + 8,
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def inputs(tmp_path: Path) -> list[Path]:
    bench = tmp_path / "bench.json"
    reports = [report("cpu", 1.0e12, 5.0e9), report("cuda:0", 1.23e15, 4.75e11)]
    machine = {"host": "box7", "os": "Linux-6.8", "cpu": "EPYC", "python": "3.11", "gpuscope": "0"}
    payload = {"machine": machine, "reports": [r.as_dict() for r in reports], "comparisons": []}
    bench.write_text(json.dumps(payload))

    sweep = tmp_path / "sweep.json"

    def measured(
        device: str, size: int, throughput: float, wpj: float, **more: object
    ) -> SweepPoint:
        point = report(device, throughput, wpj, params={"size": size}, **more)
        return SweepPoint(device, size, PointStatus.MEASURED, point)

    points = [
        measured("cpu", 256, 2.0e11, 2e9),
        measured("cpu", 1024, 8.0e11, 8e9),
        measured("cuda:0", 256, 1.0e11, 5e8),
        measured("cuda:0", 1024, 6.4e13, 1e11, peak_mem_mib=24.0, peak_mem_source="allocator"),
        SweepPoint("cuda:0", 4096, PointStatus.OOM, note="out of device memory"),
        SweepPoint("cuda:0", 16384, PointStatus.SKIPPED, note="larger than 4096"),
    ]
    sweep.write_text(json.dumps({
        "workload": "gemm", "sweep": {"param": "size", "values": [256, 1024, 4096, 16384]},
        "points": [p.as_dict("size") for p in points], "comparisons": [],
    }))  # fmt: skip

    recording = write_recording(tmp_path / "rec.csv", [
        {"power_w": 100.0 + 30 * i, "util_gpu_pct": 5 * i, "device_name": H100,
         "device_uuid": "GPU-95357a56", "device_driver": "580.159.04", "mem_total_mib": 81559,
         "power_limit_w": 700}
        for i in range(20)
    ])  # fmt: skip
    return [bench, sweep, recording]


def write_recording(path: Path, rows: list[dict[str, object]]) -> Path:
    """A ``gpuscope record`` CSV of nvidia:0, a row every 0.5 s: each row's own figures."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMN_NAMES)
        writer.writeheader()
        for i, row in enumerate(rows):
            stamp = f"2026-09-21T10:00:{i // 2:02d}.{i % 2 * 500:03d}+00:00"
            writer.writerow({"timestamp": stamp, "device": "nvidia:0", "vendor": "nvidia",
                             "status": "ok", **row})  # fmt: skip
    return path


def test_the_summary_states_the_measured_answers_and_every_chart_is_there(
    inputs: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    assert main(["report", *map(str, inputs), "-o", str(out)]) == 0
    page = out.read_text()
    summary = page[page.index("<h2>Summary</h2>") : page.index("<section>")]
    assert (
        f"cuda:0 bf16 ({H100}): 1,230x the throughput of cpu bf16, 95.0x the work per joule"
        in summary
    )  # each side names its precision
    assert (
        f"gemm size sweep, cuda:0 ({H100}) vs cpu: cuda:0 overtakes cpu from size=1024 "
        "(least 0.500x at size=256, most 80.0x at size=1024)" in summary
    )
    assert (
        "gemm on cuda:0: out of memory at size=4096; the largest that ran: size=1024 "
        "(peak 24 MiB, allocator)" in summary
    )
    assert (
        "rec.csv: nvidia:0 (NVIDIA H100 80GB HBM3) averaged 385 W, peak 670 W (measured power_w)"
        in summary
    )
    # the device card: name, UUID, memory, power limit, datasheet peaks and bandwidth
    card = ("GPU-95357a56", "580.159.04", "81,559 MiB", "700 W", "bf16 989", "3,350 GB/s")
    assert all(s in page for s in card) and "<td>box7</td><td>Linux-6.8</td>" in page
    # charts: CPU vs GPU (1), sweep throughput and work/J (2), power and utilization (2)
    assert page.count("<svg") == 5
    assert "out of memory" in page and "skipped: larger than 4096" in page
    # self-contained: nothing fetched, nothing run
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


@needs_chromium
def test_a_real_headless_browser_renders_it_with_every_chart_and_no_console_error(
    inputs: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    assert main(["report", *map(str, inputs), "-o", str(out)]) == 0
    browser = dump_dom(out, "--enable-logging=stderr", "--v=0")
    dom = browser.stdout
    assert dom.count("<svg") == 5 and "<h2>Summary</h2>" in dom
    assert "CONSOLE" not in browser.stderr and "Uncaught" not in browser.stderr


def test_the_markdown_form_has_its_charts_as_png_files(inputs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    assert main(["report", *map(str, inputs), "-o", str(out), "--format", "md"]) == 0
    text = out.read_text()
    images = re.findall(r"!\[[^]]*\]\((report_files/chart-\d+\.png)\)", text)
    assert len(images) == 5
    assert all((tmp_path / image).read_bytes().startswith(b"\x89PNG") for image in images)
    assert "| size | device | status |" in text and "1,230x the throughput of cpu bf16" in text


def test_without_matplotlib_the_report_has_its_tables_and_says_why(
    inputs: list[Path], tmp_path: Path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    from gpuscope.commands import report as command
    from gpuscope.report import document

    monkeypatch.setattr(command, "matplotlib_missing", lambda: "charts need matplotlib: x")
    monkeypatch.setattr(document, "matplotlib_missing", lambda: "charts need matplotlib: x")
    out = tmp_path / "report.html"
    assert main(["report", *map(str, inputs), "-o", str(out)]) == 0
    page = out.read_text()
    assert "<svg" not in page and "charts need matplotlib" in page and "<table>" in page
    assert "tables only" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("hello", "not a gpuscope file"),
        ('{"other": 1}', "neither bench --json nor bench --sweep --json"),
        ("{broken", "not valid JSON"),
        ("\x89PNG\r\n\x1a\n\x00\xff\xfe", "not a gpuscope file (not text)"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content.encode("latin-1"))  # the PNG case must not be valid UTF-8
    result = subprocess.run(
        [sys.executable, "-m", "gpuscope", "report", str(bad), "-o", str(tmp_path / "r.html")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r.html").exists()


def test_an_existing_report_is_not_overwritten(inputs: list[Path], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "report.html"
    out.write_text("mine")
    assert main(["report", str(inputs[0]), "-o", str(out)]) == 1  # as record: exit 1
    assert out.read_text() == "mine" and "--force" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("ratios", "said"),
    [
        ([(64, 0.5), (128, 2.0), (256, 3.0)], "cuda:0 overtakes cpu from size=128"),
        ([(64, 2.0), (128, 0.5)], "mixed: cuda:0 is faster only at size=64 (2.00x)"),
        ([(64, 2.0), (128, 0.5), (256, 3.0)], "cuda:0 overtakes cpu from size=256"),
        ([(64, 2.0), (128, 3.0)], "cuda:0 is faster at every size measured"),
        ([(64, 0.2), (128, 0.5)], "cpu is faster at every size measured"),
    ],
)
def test_the_crossover_is_said_only_where_the_figures_hold_it(
    ratios: list[tuple[int, float]], said: str
) -> None:
    from gpuscope.report.summary import crossover

    assert crossover("size", ratios, "cuda:0", "cpu").startswith(said)


def test_a_stopped_run_is_not_summarised_as_a_result(tmp_path: Path) -> None:
    from gpuscope.report.inputs import load_input
    from gpuscope.report.summary import summary_lines

    stopped = report("cuda:0", 0.0, None, stopped_early=True)
    path = tmp_path / "b.json"
    path.write_text(
        json.dumps({"reports": [report("cpu", 1e12, 5e9).as_dict(), stopped.as_dict()]})
    )
    lines = summary_lines([load_input(path)])
    assert lines == ["gemm (dtype=bf16, size=4096) on cpu: 1 TFLOP/s, 5 GFLOP/J."]


def test_every_ratio_names_each_sides_precision_and_an_emulated_one_is_not_fair(
    tmp_path: Path,
) -> None:
    """Issue 21: a bf16 GEMM on a CPU that emulates bf16 made the GPU look ~100x better than it
    is, in silence. Per-device choices compare (one request); an emulated side is marked."""
    from gpuscope.report.inputs import load_input
    from gpuscope.report.summary import summary_lines

    chosen = {"dtype": "why", "size": "why"}
    fair = [
        report("cpu", 1.3e11, None, params={"dtype": "fp32", "size": 2048}, chosen=chosen),
        report("cuda:0", 7.7e14, None, params={"dtype": "bf16", "size": 8192}, chosen=chosen),
    ]
    emulated = "bf16 is emulated on cpu (AVX2, no AVX512-BF16 or AMX)"
    unfair = [report("cpu", 3.3e8, None, emulated=emulated), report("cuda:0", 7.7e14, None)]
    for name, reports in (("fair", fair), ("unfair", unfair)):
        (tmp_path / f"{name}.json").write_text(
            json.dumps({"reports": [r.as_dict() for r in reports]})
        )
    (fair_line,) = summary_lines([load_input(tmp_path / "fair.json")])
    assert fair_line == (f"gemm: cuda:0 bf16 ({H100}): 5,920x the throughput of cpu fp32.")
    (unfair_line,) = summary_lines([load_input(tmp_path / "unfair.json")])
    assert unfair_line.startswith(
        f"gemm (dtype=bf16, size=4096): cuda:0 bf16 ({H100}): 2,330,000x the throughput of cpu "
        "bf16. NOT A FAIR RATIO: bf16 is emulated on cpu (AVX2, no AVX512-BF16 or AMX). A fair "
        "one runs each device at its fastest native precision"
    )
    from gpuscope.report.render import result_row

    assert "precision emulated: not a fair figure" in result_row(unfair[0])[1]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"reports": [{"workload": "gemm", "unit": "FLOP"}]}, "report 1: has no device"),
        ({"reports": [{"workload": "g", "device": "cpu", "unit": "F", "throughput": "fast"}]},
         "throughput is not a number"),
        ({"sweep": {"param": "size", "values": [1]}, "points": [{"device": "cpu"}]},
         "point 1 has no status"),
        ({"reports": [{"workload": "g", "device": "cpu", "unit": "F", "shared_pct": "45"}]},
         "shared_pct is not a number"),
        ({"reports": [{"workload": "g", "device": "cpu", "unit": "F", "emulated": 1}]},
         "emulated is not text"),
        ({"reports": [{"workload": "g", "device": "cpu", "unit": "F", "chosen": []}]},
         "chosen is not an object"),
    ],
)  # fmt: skip
def test_a_malformed_result_file_is_one_line_and_exit_2(
    tmp_path: Path, payload: object, message: str, capsys
) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(payload))
    assert main(["report", str(bad), "-o", str(tmp_path / "r.html")]) == 2
    assert message in capsys.readouterr().err


def test_a_one_row_jsonl_recording_is_a_recording_and_an_input_is_never_the_output(
    tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    one = tmp_path / "rec.jsonl"
    one.write_text(json.dumps({"timestamp": "2026-11-26T10:00:00+00:00", "device": "cpu",
                               "util_cpu_pct": 50.0}) + "\n")  # fmt: skip
    assert main(["report", str(one), "-o", str(tmp_path / "r.html")]) == 0
    assert main(["report", str(one), "-o", str(one), "--force"]) == 2
    assert "is one of the inputs" in capsys.readouterr().err


def test_report_and_suite_start_without_textual_or_torch(
    inputs: list[Path], tmp_path: Path
) -> None:
    """Headless commands: the report draws with matplotlib only, the suite's runs import torch
    in their children, never in gpuscope's own process."""
    args = [*map(str, inputs), "-o", str(tmp_path / "r.html")]
    code = (
        "import sys\nfrom gpuscope.cli import main\n"
        f"assert main(['report', *{args!r}]) == 0\n"
        "import gpuscope.commands.suite\n"
        "bad = [m for m in ('textual', 'torch') if m in sys.modules]\n"
        "assert not bad, bad"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_figures_from_a_simulated_gpu_say_so_in_every_row_sentence_and_chart(
    tmp_path: Path,
) -> None:
    """The UI's s in --demo saves simulated results: the report must not pass them off as a
    measurement (found reading a demo report: nothing said SIMULATED)."""
    fake = {"simulated": True}
    bench = tmp_path / "bench.json"
    reports = [report("cpu", 1.0e12, 5.0e9), report("cuda:0", 1.23e15, 4.75e11, facts=fake)]
    bench.write_text(json.dumps({"reports": [r.as_dict() for r in reports]}))
    sweep = tmp_path / "sweep.json"
    points = [
        SweepPoint("cpu", 256, PointStatus.MEASURED, report("cpu", 2e11, 2e9)),
        SweepPoint("cuda:0", 256, PointStatus.MEASURED, report("cuda:0", 3e12, 5e9, facts=fake)),
    ]
    sweep.write_text(json.dumps({
        "workload": "gemm", "sweep": {"param": "size", "values": [256]},
        "points": [p.as_dict("size") for p in points],
    }))  # fmt: skip
    out = tmp_path / "report.html"
    assert main(["report", str(bench), str(sweep), "-o", str(out)]) == 0
    page = out.read_text()
    summary = page[page.index("<h2>Summary</h2>") : page.index("<section>")]
    lines = [line for line in summary.split("<li>")[1:] if "cuda:0" in line]
    assert lines and all("(SIMULATED)" in line for line in lines)
    assert page.count("<td>cuda:0 SIMULATED</td>") == 2  # the results row and the sweep row
    assert page.count("<td>cpu SIMULATED</td>") == 0
    assert "cuda:0 SIMULATED" in page[page.index("<svg") :]  # the charts' labels too


class _FullDisk:
    """A file whose ``fail_at``-th write (counted over every file opened for writing) writes
    half of its data and fails as a full disk does."""

    writes = 0

    def __init__(self, handle, fail_at: int) -> None:  # type: ignore[no-untyped-def]
        self._handle, self._fail_at = handle, fail_at

    def write(self, data):  # type: ignore[no-untyped-def]
        _FullDisk.writes += 1
        if _FullDisk.writes == self._fail_at:
            self._handle.write(data[: len(data) // 2])
            self._handle.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._handle.write(data)

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return getattr(self._handle, name)

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *exc) -> None:  # type: ignore[no-untyped-def]
        self._handle.close()


def _fill_the_disk(monkeypatch: pytest.MonkeyPatch, folder: Path, fail_at: int) -> None:
    """Every file opened for writing in ``folder`` (or by descriptor) shares one write count;
    the ``fail_at``-th write fails half-way with ENOSPC."""
    import builtins
    import io

    real_open, real_fdopen = io.open, os.fdopen
    _FullDisk.writes = 0

    def opened(file, mode="r", *args, **kwargs):  # type: ignore[no-untyped-def]
        handle = real_open(file, mode, *args, **kwargs)
        writing = any(m in mode for m in "wxa") and str(folder) in os.path.abspath(str(file))
        return _FullDisk(handle, fail_at) if writing else handle

    def fdopened(fd, mode="r", *args, **kwargs):  # type: ignore[no-untyped-def]
        handle = real_fdopen(fd, mode, *args, **kwargs)
        return _FullDisk(handle, fail_at) if any(m in mode for m in "wxa") else handle

    monkeypatch.setattr(io, "open", opened)
    monkeypatch.setattr(builtins, "open", opened)
    monkeypatch.setattr(os, "fdopen", fdopened)


@pytest.mark.parametrize(
    ("name", "fail_at"),
    [("report.html", 1), ("report.md", 3), ("report.md", 6)],
    ids=["html", "md-a-chart", "md-the-text"],
)
def test_a_full_disk_leaves_no_part_of_the_report_and_the_retry_works(
    inputs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, name: str,
    fail_at: int,
) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    """Review #4: a full disk left a partial report.html/.md behind, the retry was refused
    with "exists", and the message was not the one every other command gives."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / name
    with monkeypatch.context() as patched:
        _fill_the_disk(patched, out_dir, fail_at)
        assert main(["report", *map(str, inputs), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"gpuscope report: disk full while writing {out_dir / 'report'}" + (
        ".html" if name.endswith("html") else ("_files" if fail_at < 6 else ".md")
    )
    assert list(out_dir.iterdir()) == []  # nothing half-made, not even hidden
    assert main(["report", *map(str, inputs), "-o", str(out)]) == 0
    assert out.read_text().rstrip().endswith("</html>" if name.endswith("html") else "")
    if name.endswith("md"):
        images = re.findall(r"\((report_files/chart-\d+\.png)\)", out.read_text())
        assert len(images) == 5 and all((out_dir / i).stat().st_size > 1000 for i in images)


def test_a_gpm_recording_charts_its_activity_and_the_estimate_labelled_so(tmp_path: Path) -> None:
    """A ``record --gpm`` recording: SM, occupancy, tensor and DRAM activity and the achieved
    estimate over time, and the estimate's average in the summary, named an estimate."""
    recording = write_recording(tmp_path / "gpm.csv", [
        {"power_w": 650.0 if busy else 70.0, "util_gpu_pct": 100 if busy else 0,
         "device_name": H100, "sm_active_pct": 97.0 if busy else 0.0,
         "sm_occupancy_pct": 24.0 if busy else 0.0, "tensor_active_pct": 70.0 if busy else 0.0,
         "dram_active_pct": 35.0 if busy else 0.0,
         "achieved_tflops_estimate": 694.0 if busy else 0.0}
        for busy in [i >= 10 for i in range(20)]  # idle, then a GEMM
    ])  # fmt: skip
    out = tmp_path / "report.html"
    assert main(["report", str(recording), "-o", str(out)]) == 0
    page = out.read_text()
    assert page.count("<svg") == 2 + 5  # power, utilization; 4 activity series, the estimate
    for column in ("sm_active_pct", "sm_occupancy_pct", "tensor_active_pct", "dram_active_pct"):
        assert f"gpm.csv: {column}" in page
    assert "gpm.csv: achieved_tflops_estimate (estimate)" in page
    summary = page[page.index("<h2>Summary</h2>") : page.index("<section>")]
    assert (
        f"gpm.csv: nvidia:0 ({H100}) achieved about 347 TFLOP/s on average, peak 694 "
        "(an estimate from GPM pipe activity, while it was read)." in summary
    )
