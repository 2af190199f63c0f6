"""A careless world on disk: a full disk, a read-only folder, odd config files. ``record``,
``suite`` and every command that reads the config lose nothing they measured and fail in one line.

A full disk and a read-only folder are real: a tiny tmpfs (``mount -t tmpfs``), which needs root;
without it those tests are skipped. Nothing here fakes the kernel's answers.
"""

from __future__ import annotations

import csv
import errno
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpuscope.cli import main
from gpuscope.config import load_config
from gpuscope.errors import UsageError
from tests.fakes.fake_pynvml import FakeGpu, Ramp

GPUSCOPE = [sys.executable, "-m", "gpuscope"]


def _mount_tmpfs(where: Path, options: str) -> None:
    where.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a real full disk or read-only folder needs root (mount -t tmpfs)")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"mount -t tmpfs refused: {made.stderr.decode().strip()}")


def _unmount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a filesystem with no byte left: a file can be made, not written to."""
    disk = tmp_path / "full"
    _mount_tmpfs(disk, "size=64k")
    try:
        filler = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(filler, b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(filler)
        yield disk
    finally:
        _unmount(disk)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on an 8 KiB filesystem: it fills within a second or two of recording."""
    disk = tmp_path / "small"
    _mount_tmpfs(disk, "size=8k")
    try:
        yield disk
    finally:
        _unmount(disk)


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """An empty folder that takes no new file, and the reason the system gives: a read-only
    tmpfs as root (whom chmod does not stop), else a folder of mode 0o555."""
    folder = tmp_path / "ro"
    if os.geteuid() != 0:
        folder.mkdir(mode=0o555)
        yield folder, "Permission denied"
        folder.chmod(0o755)
        return
    _mount_tmpfs(folder, "ro,size=64k")
    try:
        yield folder, "Read-only file system"
    finally:
        _unmount(folder)


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "internal error" not in err and "Traceback" not in err, err
    return lines[0]


# -- record ---------------------------------------------------------------------------------------


def test_record_refuses_an_unwritable_processes_file_and_leaves_no_empty_output(
    tmp_path: Path, read_only: tuple[Path, str], capsys
) -> None:  # type: ignore[no-untyped-def]
    """Issue 22: an empty a.csv was left behind, and the retry was refused ("exists")."""
    folder, why = read_only
    out = tmp_path / "a.csv"
    args = ["record", "-d", "0.2", "-o", str(out), "--processes", str(folder / "p.csv")]
    assert main(args) == 1
    assert f"cannot write {folder / 'p.csv'}: {why}" in one_line(capsys.readouterr().err)
    assert not out.exists()  # refused before either was made
    assert main(["record", "-d", "0.2", "-i", "0.1", "-o", str(out)]) == 0  # the retry runs


def test_record_removes_the_file_it_made_when_the_next_one_fails(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """/dev/full takes the open and refuses the header: a.csv, made just before, goes again."""
    out = tmp_path / "a.csv"
    args = ["record", "-d", "0.2", "-o", str(out), "--processes", "/dev/full", "--force"]
    assert main(args) == 1
    assert one_line(capsys.readouterr().err).endswith("disk full while writing /dev/full")
    assert not out.exists()


def test_record_on_a_full_disk_says_so_and_leaves_no_empty_file(full_disk: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = full_disk / "a.csv"
    assert main(["record", "-d", "5", "-i", "0.1", "-o", str(out)]) == 1
    assert one_line(capsys.readouterr().err).endswith(f"disk full while writing {out}")
    assert not out.exists()  # not even its header fitted: nothing of ours is left to block a retry


def test_a_full_disk_under_the_processes_file_names_that_file(
    install_nvml, tmp_path: Path, small_disk: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """Issue 22: the message named the device rows' file, which had room."""
    pids = [(100 + n, 512 * 1024 * 1024) for n in range(8)]
    install_nvml([FakeGpu(power=Ramp(300.0), processes=pids)])
    out, procs = tmp_path / "rec.csv", small_disk / "procs.csv"
    args = ["record", "-o", str(out), "--processes", str(procs), "-d", "30", "-i", "0.05"]
    started = time.monotonic()
    assert main([*args, "--devices", "nvidia"]) == 1
    assert time.monotonic() - started < 20  # stopped when the disk filled, not at -d
    line = one_line(capsys.readouterr().err)
    assert f"disk full while writing {procs}" in line and str(out) not in line
    assert procs.read_text().endswith("\n")  # whole rows kept
    with out.open(newline="") as handle:
        assert len(list(csv.reader(handle))) > 2  # and the device rows too


# -- suite ----------------------------------------------------------------------------------------


def test_suite_into_a_read_only_folder_is_one_line_before_anything_runs(
    read_only: tuple[Path, str], capsys
) -> None:  # type: ignore[no-untyped-def]
    """Issue 22: an internal error (OSError), after discovery and planning."""
    folder, why = read_only
    for output in (folder / "s", folder):
        started = time.monotonic()
        assert main(["suite", "--budget", "300", "--devices", "cpu", "-o", str(output)]) == 1
        line = one_line(capsys.readouterr().err)
        assert f"cannot write {output}: {why}" in line
        assert time.monotonic() - started < 5  # refused before the budget starts to run


def test_suite_on_a_full_disk_prints_its_results_and_says_what_was_lost(
    full_disk: Path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    """Issue 22: every result was lost: the recording stopped silently, suite.json was left at
    0 bytes and the command ended in ``internal error: OSError``."""
    pytest.importorskip("torch")
    from gpuscope.commands import suite

    monkeypatch.setattr(suite, "SUITE", (suite.SuiteItem("gemm", {"dtype": "fp32", "size": 64}),))
    monkeypatch.setattr(suite, "START_UP_S", 2.0)
    out = full_disk / "suite"
    assert main(["suite", "--budget", "12", "--devices", "cpu", "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert "gemm" in captured.out and "FLOP/s" in captured.out  # the results, on stdout first
    err = captured.err.strip().splitlines()
    assert "internal error" not in captured.err and "Traceback" not in captured.err
    assert any(
        line.startswith("gpuscope suite: no recording: disk full while writing ") for line in err
    ), err  # the recording's failure, said as it happened
    assert any(line.startswith("gpuscope suite: gemm ") and ": measured: " in line for line in err)
    assert err[-1] == f"gpuscope suite: disk full while writing {out / 'suite.json'}", err
    assert not [p.name for p in out.iterdir() if p.stat().st_size == 0]  # no empty file left


def test_a_suite_whose_disk_fills_mid_way_says_so_once_and_measures_on(
    small_disk: Path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    """Issue 22: the recording stopped silently and took the sampler with it."""
    pytest.importorskip("torch")
    from gpuscope.commands import suite

    monkeypatch.setattr(suite, "SUITE", (suite.SuiteItem("gemm", {"dtype": "fp32", "size": 64}),))
    monkeypatch.setattr(suite, "START_UP_S", 2.0)
    out = small_disk / "suite"  # 8 KiB: the recording at 10 Hz fills it in a few seconds
    assert main(["suite", "--budget", "12", "--devices", "cpu", "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert "internal error" not in captured.err and "Traceback" not in captured.err
    err = captured.err.strip().splitlines()
    stopped = [line for line in err if "recording stopped" in line]
    assert stopped == [
        f"gpuscope suite: recording stopped: disk full while writing {out / 'record.csv'}; "
        + stopped[0].split("; ")[1]
        + "; the suite goes on"
    ], err  # once, naming the file
    assert stopped[0].split("; ")[1].endswith(" rows kept")
    assert any(": measured: " in line for line in err) and "FLOP/s" in captured.out
    assert (out / "record.csv").read_text().endswith("\n")  # the rows it took are whole
    assert err[-1] == f"gpuscope suite: disk full while writing {out / 'suite.json'}", err


# -- the sampling interval ----------------------------------------------------------------------


@pytest.mark.parametrize("interval", ["1e10", "3601", "inf", "nan", "-1", "0"])
def test_an_interval_out_of_range_is_one_line_stating_the_range(interval: str) -> None:
    """Issue 22: ``-i 1e10`` killed the sampler thread (OverflowError) while record ran on with
    no rows, for ever."""
    result = subprocess.run(
        [*GPUSCOPE, "record", "-i", interval, "-d", "1"], capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 2
    assert "--interval must be between 0.05 s and 3600 s" in one_line(result.stderr)


def test_a_duration_past_a_year_is_one_line() -> None:
    result = subprocess.run(
        [*GPUSCOPE, "record", "-d", "1e10", "-i", "0.1"], capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 2
    assert "--duration must be at most 366 days (31622400 s), got 1e+10" in one_line(result.stderr)


# -- the config file ------------------------------------------------------------------------------


def config_file(home: Path) -> Path:
    path = home / "gpuscope" / "config.toml"
    path.parent.mkdir(parents=True)
    return path


def test_a_fifo_at_the_config_path_is_one_line_not_a_hang(tmp_path: Path) -> None:
    """Issue 22: every command hung, waiting for a writer."""
    path = config_file(tmp_path)
    os.mkfifo(path)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}
    result = subprocess.run(
        [*GPUSCOPE, "list"], capture_output=True, text=True, timeout=20, env=env
    )
    assert result.returncode == 2
    assert f"{path} is not a regular file" in one_line(result.stderr)


def test_a_config_with_a_utf8_bom_is_read(tmp_path: Path) -> None:
    """Issue 22: the BOM an editor on Windows writes made the file "not valid TOML"."""
    path = config_file(tmp_path)
    path.write_bytes(b"\xef\xbb\xbfcpu_tdp_w = 125\n")
    assert load_config(path).cpu_tdp_w == 125.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cpu_tdp_w = " + "[" * 5000 + "]" * 5000 + "\n", "nests too deeply"),
        ("# " + "x" * (1 << 20) + "\n", "is over 1 MiB"),
    ],
    ids=["deep", "huge"],
)
def test_a_deep_or_huge_config_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    """Issue 22: deep nesting was ``internal error: RecursionError``; a huge file was read whole."""
    path = config_file(tmp_path)
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        load_config(path)
    assert message in str(caught.value) and str(path) in str(caught.value)
    assert "\n" not in str(caught.value)
