"""``gpuscope record`` as a user runs it: a real subprocess on this machine's real devices (the CPU
here and in CI), plus in-process runs on fake GPUs for the cases this machine cannot produce."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gpuscope.cli import main
from gpuscope.sinks.columns import COLUMN_NAMES
from tests.fakes.fake_amdsmi import FakeAmdGpu
from tests.fakes.fake_pynvml import FakeGpu, Ramp
from tests.waiting import wait_until

GPUSCOPE = [sys.executable, "-m", "gpuscope"]


def gpuscope(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GPUSCOPE, *args], capture_output=True, text=True, timeout=timeout)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def assert_whole_rows(path: Path) -> list[dict[str, str]]:
    text = path.read_text()
    assert text.endswith("\n"), "file must end on a whole row"
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(COLUMN_NAMES)
    assert all(len(row) == len(COLUMN_NAMES) for row in rows)
    return read_rows(path)


def test_record_rows_match_duration_over_interval(tmp_path: Path) -> None:
    out = tmp_path / "rec.csv"
    result = gpuscope("record", "-o", str(out), "--duration", "2", "--interval", "0.25")
    assert result.returncode == 0, result.stderr
    rows = assert_whole_rows(out)
    cpu_rows = [row for row in rows if row["device"] == "cpu"]
    assert abs(len(cpu_rows) - 2 / 0.25) <= 1
    assert all(row["vendor"] == "cpu" and row["status"] == "ok" for row in cpu_rows)
    assert cpu_rows[-1]["util_cpu_pct"] != "" and float(cpu_rows[-1]["mem_total_mib"]) > 0
    assert cpu_rows[-1]["util_gpu_pct"] == ""  # not a GPU: empty, never 0


def test_record_csv_reads_in_pandas_without_options(tmp_path: Path) -> None:
    pandas = pytest.importorskip("pandas")
    out = tmp_path / "rec.csv"
    assert gpuscope("record", "-o", str(out), "-d", "1", "-i", "0.2").returncode == 0
    frame = pandas.read_csv(out)
    assert list(frame.columns) == list(COLUMN_NAMES)
    assert pandas.api.types.is_float_dtype(frame["mem_used_mib"])
    assert frame["power_w"].isna().all()  # no RAPL on CI: unknown, not 0
    assert pandas.to_datetime(frame["timestamp"]).is_monotonic_increasing


def test_record_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "rec.jsonl"
    assert (
        gpuscope("record", "-o", str(out), "-d", "0.6", "-i", "0.2", "--format", "jsonl").returncode
        == 0
    )
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert 2 <= len(records) <= 5
    assert set(COLUMN_NAMES) <= set(records[-1]) and records[-1]["power_w"] is None
    assert records[-1]["device_name"] and records[-1]["device_uuid"] is None  # a CPU has none
    assert isinstance(records[-1]["util_cores_pct"], list)


def test_record_to_stdout() -> None:
    result = gpuscope("record", "-d", "0.5", "-i", "0.2")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == ",".join(COLUMN_NAMES) and len(lines) >= 3


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_cleanly_with_whole_rows(tmp_path: Path, sig: signal.Signals) -> None:
    out = tmp_path / "rec.csv"
    proc = subprocess.Popen(
        [*GPUSCOPE, "record", "-o", str(out), "-i", "0.05"], stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not out.exists() or out.read_text().count("\n") < 5):
        time.sleep(0.05)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert len(assert_whole_rows(out)) >= 4


def test_killed_recorder_leaves_whole_rows(tmp_path: Path) -> None:
    out = tmp_path / "rec.csv"
    proc = subprocess.Popen(
        [*GPUSCOPE, "record", "-o", str(out), "-i", "0.05"], stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not out.exists() or out.read_text().count("\n") < 10):
        time.sleep(0.01)
    proc.kill()  # no handler runs: only the one-write-per-tick design keeps rows whole
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert len(assert_whole_rows(out)) >= 9


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["record", "--interval", "0.01"], 2, "--interval must be between 0.05 s and 3600 s"),
        (["record", "--interval", "1e10"], 2, "--interval must be between 0.05 s and 3600 s"),
        (["record", "--interval", "abc"], 2, "invalid float value"),
        (["record", "--duration", "-1"], 2, "--duration must be a finite number of seconds > 0"),
        (["record", "--devices", "nvidia:7"], 2, "unknown device 'nvidia:7'"),
        (["record", "--devices", ","], 2, "--devices needs at least one device"),
        (["record", "--format", "xml"], 2, "invalid choice"),
        (
            ["record", "-o", "/nonexistent-dir/x.csv", "-d", "1"],
            1,
            "cannot write /nonexistent-dir/x.csv",
        ),
        (
            ["record", "-o", "/dev/full", "--force", "-d", "1"],
            1,
            "disk full while writing /dev/full",
        ),
        (["frobnicate"], 2, "invalid choice"),
        (
            ["record", "--gpm", "--devices", "cpu", "-d", "1"],
            1,
            "--gpm: none of the selected devices has activity counters",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_code(args: list[str], code: int, message: str) -> None:
    result = gpuscope(*args)
    assert result.returncode == code
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_existing_recording_is_not_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "earlier.csv"
    out.write_text("precious\n")
    result = gpuscope("record", "-o", str(out), "-d", "0.3")
    assert result.returncode == 1 and "exists; pass --force" in result.stderr
    assert out.read_text() == "precious\n"


def test_pipe_closed_by_reader_is_a_normal_stop() -> None:
    proc = subprocess.run(
        f"{sys.executable} -m gpuscope record -i 0.05 | head -n 3",
        shell=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.stdout.count("\n") == 3
    assert "Traceback" not in proc.stderr and proc.stderr == ""


def test_record_with_stdout_closed_needs_it_only_for_the_rows(tmp_path: Path) -> None:
    """Review of issue 22: ``record >&-`` was ``internal error: AttributeError``. With ``-o``
    stdout is not needed: the rows go to the file as always."""
    closed = {"stdout": None, "preexec_fn": lambda: __import__("os").close(1)}
    done = subprocess.run(
        [*GPUSCOPE, "record", "-d", "0.5", "-i", "0.1"], stderr=subprocess.PIPE, text=True,
        timeout=30, **closed,  # type: ignore[call-overload]
    )  # fmt: skip
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line == (
        "gpuscope record: stdout is closed: the rows would have nowhere to go (name a file with -o)"
    )
    out = tmp_path / "rec.csv"
    done = subprocess.run(
        [*GPUSCOPE, "record", "-d", "0.5", "-i", "0.1", "-o", str(out)], stderr=subprocess.PIPE,
        text=True, timeout=30, **closed,  # type: ignore[call-overload]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert any(row["device"] == "cpu" for row in assert_whole_rows(out))


def test_headless_commands_never_import_textual_or_torch() -> None:
    code = (
        "import sys\nfrom gpuscope.cli import main\n"
        "main(['list']); main(['record', '-d', '0.2', '-o', '-'])\n"
        "import gpuscope.commands.serve\n"
        "bad = [m for m in ('textual', 'torch', 'plotext') if m in sys.modules]\n"
        "assert not bad, bad"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr


# -- in process, on fake GPUs ------------------------------------------------------------------


def test_record_gpu_lost_mid_run_keeps_recording_the_rest(
    install_nvml, tmp_path: Path, capsys
) -> None:
    lost_later = FakeGpu(uuid="GPU-b")
    install_nvml([FakeGpu(power=Ramp(300.0)), lost_later])
    out = tmp_path / "rec.csv"
    recorded = threading.Event()

    def lose_after_two_rows() -> None:
        """Lost mid-run however slowly the recording starts: at a fixed time (0.5 s), a loaded
        machine had not probed it yet, and it was never recorded at all."""
        try:
            wait_until(
                lambda: (
                    recorded.is_set() or (out.exists() and out.read_text().count(",nvidia:1,") >= 2)
                ),
                "two rows of nvidia:1",
            )
        finally:
            lost_later.lost_at = 0.0

    losing = threading.Thread(target=lose_after_two_rows)
    losing.start()
    try:
        assert main(["record", "-o", str(out), "-d", "1.5", "-i", "0.1"]) == 0
    finally:
        recorded.set()
        losing.join()
    rows = assert_whole_rows(out)
    by_device = {d: [r for r in rows if r["device"] == d] for d in ("nvidia:0", "nvidia:1", "cpu")}
    lost_rows = [r for r in by_device["nvidia:1"] if r["status"] == "lost"]
    assert len(lost_rows) == 1 and by_device["nvidia:1"][-1] is lost_rows[0]
    assert lost_rows[0]["power_w"] == ""
    assert len(by_device["nvidia:0"]) > len(by_device["nvidia:1"]) + 3
    assert len(by_device["cpu"]) == len(by_device["nvidia:0"])
    last = by_device["nvidia:0"][-1]
    assert float(last["power_w"]) == pytest.approx(300.0)
    # the counter is read once a second: a row between reads is counter, then power since
    assert last["energy_source"] in ("counter", "counter+integrated")
    assert float(last["energy_j"]) == pytest.approx(300.0 * 1.5, rel=0.15)
    assert last["fan_pct"] == "" and last["throttle_reasons"] == "gpu_idle"
    assert "nvidia:1 lost" in capsys.readouterr().err


def test_record_mixed_box_device_filter(install_nvml, install_amdsmi, tmp_path: Path) -> None:
    install_nvml([FakeGpu(), FakeGpu(uuid="GPU-b")])
    install_amdsmi([FakeAmdGpu()])
    out = tmp_path / "rec.csv"
    assert main(["record", "-o", str(out), "-d", "0.5", "-i", "0.1", "--devices", "GPU-b,amd"]) == 0
    rows = read_rows(out)
    assert {row["device"] for row in rows} == {"nvidia:1", "amd:0"}
    # each row names its hardware: the id moves with CUDA_VISIBLE_DEVICES, the UUID does not
    named = {(r["device"], r["device_name"], r["device_uuid"]) for r in rows}
    assert named == {("nvidia:1", FakeGpu().name, "GPU-b"), ("amd:0", *amd_name_and_uuid())}


def amd_name_and_uuid() -> tuple[str, str]:
    gpu = FakeAmdGpu()
    return gpu.market_name, gpu.uuid


def test_files_gpuscope_names_never_overwrite_each_other(tmp_path: Path) -> None:
    """One rule for a UI recording and saved results: stamped, then -2, -3 in the same second."""
    import os

    from gpuscope.sinks.output_files import create_stamped

    made = [create_stamped(tmp_path, "gpuscope-results") for _ in range(3)]
    for _, fd in made:
        os.close(fd)
    names = [path.name for path, _ in made]
    assert len(set(names)) == 3 and all(n.startswith("gpuscope-results-") for n in names)
    stamps = {n.removeprefix("gpuscope-results-")[:15] for n in names}
    if len(stamps) == 1:  # within one second: the same stamp, numbered
        assert names[1].endswith("-2.csv") and names[2].endswith("-3.csv")


def test_record_processes_writes_each_process_and_its_estimated_energy(
    install_nvml, tmp_path: Path
) -> None:
    """What did this job cost: a second file, a row per GPU process per sample."""
    sampled = FakeGpu(
        power=Ramp(300.0),
        processes=[(101, 4096 * 1024 * 1024), (202, 1024 * 1024 * 1024)],
        busy_processes={101: (60, 30), 202: (20, 5)},
        unsupported={"nvmlDeviceGetFanSpeed"},
    )
    h100 = FakeGpu(uuid="GPU-b", processes=[(303, None)])  # samples no processes: the sole one
    shared = FakeGpu(uuid="GPU-c", processes=[(404, None), (505, None)])  # no shares, two
    install_nvml([sampled, h100, shared])
    out, procs = tmp_path / "rec.csv", tmp_path / "procs.csv"
    args = ["record", "-o", str(out), "--processes", str(procs), "-d", "1.5", "-i", "0.1"]
    assert main([*args, "--devices", "nvidia"]) == 0
    devices = [r for r in assert_whole_rows(out) if r["device"] == "nvidia:0"]
    with procs.open() as f:
        rows = list(csv.DictReader(f))
    # job last: added after the others, so older readers find each column where it was
    assert list(rows[0]) == [
        "timestamp", "device", "pid", "user", "command", "type", "gpu_mem_mib", "sm_pct",
        "mem_bus_pct", "energy_j", "avg_power_w", "energy_source", "energy_basis", "job",
    ]  # fmt: skip
    by_pid = {r["pid"]: [row for row in rows if row["pid"] == r["pid"]] for r in rows}
    assert len(by_pid["101"]) == len(devices)  # one row per sample
    last_101, last_202 = by_pid["101"][-1], by_pid["202"][-1]
    assert last_101["energy_source"] == "estimate" and last_101["type"] == "C"
    assert last_101["energy_basis"] == "sm share"
    measured = float(devices[-1]["energy_j"]) - float(devices[0]["energy_j"])
    assert float(last_101["energy_j"]) == pytest.approx(0.6 * measured, rel=0.02)
    assert float(last_202["energy_j"]) == pytest.approx(0.2 * measured, rel=0.02)
    assert float(last_101["avg_power_w"]) == pytest.approx(0.6 * 300.0, rel=0.05)
    # no SM shares, one compute process: it is charged its GPU's whole measured energy
    sole = by_pid["303"][-1]
    assert sole["sm_pct"] == "" and sole["energy_basis"] == "sole process"
    gpu_b = [r for r in assert_whole_rows(out) if r["device"] == "nvidia:1"]
    sole_measured = float(gpu_b[-1]["energy_j"]) - float(gpu_b[0]["energy_j"])
    assert float(sole["energy_j"]) == pytest.approx(sole_measured, rel=1e-6)
    assert sole["energy_source"] in ("counter", "counter+integrated")
    # no SM shares, two processes: n/a, saying why
    for row in by_pid["404"][1:] + by_pid["505"][1:]:
        assert row["energy_j"] == row["energy_source"] == row["sm_pct"] == ""
        assert row["energy_basis"] == "none: several processes, no SM shares"


def test_record_processes_refuses_one_file_twice_and_leaves_nothing_behind(tmp_path: Path) -> None:
    out, procs = tmp_path / "rec.csv", tmp_path / "procs.csv"
    same = main(
        ["record", "-d", "0.2", "-o", str(out), "--processes", str(tmp_path / "." / out.name)]
    )
    assert same == 2 and not out.exists()
    procs.write_text("kept\n")
    assert main(["record", "-d", "0.2", "-o", str(out), "--processes", str(procs)]) == 1
    assert not out.exists() and procs.read_text() == "kept\n"  # refused before creating either


def test_record_processes_writes_command_lines_and_users_clean(
    install_nvml, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process can name itself to attack a terminal: ``cat procs.csv`` replayed its command
    line's OSC 52 clipboard write and clear-screen. Each cell is one printable, bounded line.
    Each row names the process's job (issue 25), as ``job_owner`` reads it."""
    import os

    import psutil

    from gpuscope.telemetry import process_signals
    from gpuscope.telemetry.job_owner import read_owner

    hostile = ["python", "\x1b]52;c;aGVsbG8=\x07train.py", "--lr\n0.1\x1b[2J", "x" * 100_000]
    monkeypatch.setattr(process_signals, "HOST_PID_NAMESPACE", os.readlink("/proc/self/ns/pid"))
    monkeypatch.setattr(psutil.Process, "cmdline", lambda self: hostile)
    monkeypatch.setattr(psutil.Process, "username", lambda self: "bob\x1b]0;pwned\x07")
    install_nvml([FakeGpu(processes=[(os.getpid(), 1024 * 1024 * 1024)])])
    out, procs = tmp_path / "rec.csv", tmp_path / "procs.csv"
    args = ["record", "-o", str(out), "--processes", str(procs), "-d", "0.3", "-i", "0.1"]
    assert main([*args, "--devices", "nvidia"]) == 0
    rows = read_rows(procs)
    assert rows and all(row["user"] == "bob" for row in rows)
    command = rows[0]["command"]
    assert command.startswith("python train.py --lr 0.1 xxx") and command.isprintable()
    assert len(command) <= 4096
    owner = read_owner(os.getpid())
    assert owner is not None and all(row["job"] == owner.job for row in rows)


def test_record_gpm_asks_for_activity_and_writes_it_with_the_estimate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import contextlib

    import gpuscope.commands.record as record
    from gpuscope.measurement.achieved import achieved_estimate
    from tests.activity_device import GEMM_ACTIVITY, ActivityDevice

    device = ActivityDevice()

    @contextlib.contextmanager
    def probe(_selectors, _cpu_model=None):  # type: ignore[no-untyped-def]
        yield None, [device]

    monkeypatch.setattr(record, "probe_selected", probe)
    plain, gpm = tmp_path / "plain.csv", tmp_path / "gpm.jsonl"
    assert main(["record", "-o", str(plain), "-d", "0.3", "-i", "0.1"]) == 0
    assert not device.told or device.told == [False]  # not asked: GPM never read
    row = assert_whole_rows(plain)[-1]
    assert all(row[name] == "" for name in GEMM_ACTIVITY)
    assert row["achieved_tflops_estimate"] == row["achieved_gflop_per_j_estimate"] == ""
    assert main(["record", "--gpm", "-o", str(gpm), "-d", "0.3", "-i", "0.1", "-f", "jsonl"]) == 0
    assert device.told[-1] is True
    last = json.loads(gpm.read_text().splitlines()[-1])
    assert {name: last[name] for name in GEMM_ACTIVITY} == GEMM_ACTIVITY
    estimate = achieved_estimate(device.read(0.0), device.info)
    assert estimate is not None and estimate.gflop_per_j is not None
    assert last["achieved_tflops_estimate"] == pytest.approx(estimate.tflops, abs=1e-3)
    assert last["achieved_gflop_per_j_estimate"] == pytest.approx(estimate.gflop_per_j, abs=1e-3)


def test_record_gpm_says_once_on_stderr_why_the_activity_columns_are_empty(
    install_nvml, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """DCGM's profiling holds the counters: the columns stay empty, and the user is told why
    once, not at every row (and not for the routine first sample)."""
    import math

    from tests.fakes.fake_gpm import FakeGpm
    from tests.fakes.fake_pynvml import FakeGpu

    install_nvml([FakeGpu(gpm=FakeGpm(in_use_until=math.inf))])
    out = tmp_path / "run.csv"
    assert main(["record", "--gpm", "--devices", "nvidia", "-o", str(out), "-d", "0.5"]) == 0
    said = [line for line in capsys.readouterr().err.splitlines() if "GPM" in line]
    assert said == [
        "gpuscope record: nvidia:0: GPM n/a: GPM counters in use by another tool (DCGM "
        "profiling?): retrying every 10 s"
    ]
    assert all(row["sm_active_pct"] == "" for row in assert_whole_rows(out))
