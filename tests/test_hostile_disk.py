"""A careless world on disk: a full disk, a read-only folder, odd config files. ``record``,
``suite`` and every command that reads the config lose nothing they measured and fail in one line.

A full disk and a read-only folder are real where they can be: a tiny tmpfs (``mount -t tmpfs``),
which needs root; without it those tests are skipped. So that every machine tests the same paths,
``FakeDisk`` gives the kernel's answers (ENOSPC, EROFS) through ``os`` itself, where the code under
test meets them; those tests run everywhere, measuring at once (tests/suite_fakes.py).
"""

from __future__ import annotations

import csv
import errno
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gpuscope.cli import main
from gpuscope.config import load_config
from gpuscope.errors import UsageError
from tests.fakes.fake_pynvml import FakeGpu, Ramp
from tests.suite_fakes import measure_at_once

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


@pytest.fixture(params=["tmpfs", "faked"])
def full_disk(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A folder on a filesystem with no byte left: a file can be made, not written to."""
    disk = tmp_path / "full"
    if request.param == "faked":
        disk.mkdir()
        FakeDisk(monkeypatch, disk)
        yield disk
        return
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


@pytest.fixture(params=["real", "faked"])
def read_only(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, str]]:
    """An empty folder that takes no new file, and the reason the system gives: a read-only
    tmpfs as root (whom chmod does not stop), else a folder of mode 0o555; or faked."""
    folder = tmp_path / "ro"
    if request.param == "faked":
        folder.mkdir()
        FakeDisk(monkeypatch, folder, read_only=True)
        yield folder, "Read-only file system"
        return
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


class FakeDisk:
    """``folder`` on a filesystem that says ``error`` (ENOSPC: full; EROFS: remounted read-only)
    for every write after the first ``writes_left`` to files in it, as ``os.write`` or
    ``os.fsync`` would. ``read_only``: it takes no new file at all (``os.open`` says EROFS, and
    ``os.statvfs`` flags it read-only, as a read-only mount does)."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, folder: Path, error: int = errno.ENOSPC,
        writes_left: int = 0, read_only: bool = False,
    ) -> None:  # fmt: skip
        self.folder, self.error, self.writes_left = folder.absolute(), error, writes_left
        self.read_only = read_only
        self.fds: set[int] = set()
        self._real = {name: getattr(os, name) for name in ("open", "write", "fsync", "statvfs")}
        for name in self._real:
            monkeypatch.setattr(os, name, getattr(self, f"_{name}"))

    def _inside(self, path: object) -> bool:
        where = Path(os.fsdecode(os.fspath(path))).absolute()  # type: ignore[arg-type]
        return where == self.folder or self.folder in where.parents

    def _open(self, path: object, flags: int, *args: object, **kwargs: object) -> int:
        writing = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        if writing and self.read_only and self._inside(path):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        fd: int = self._real["open"](path, flags, *args, **kwargs)
        self.fds.discard(fd)  # a number used again, perhaps elsewhere
        if writing and self._inside(path):
            self.fds.add(fd)
        return fd

    def _refuse(self, fd: int) -> None:
        if fd in self.fds:
            if self.writes_left <= 0:
                raise OSError(self.error, os.strerror(self.error))
            self.writes_left -= 1

    def _write(self, fd: int, data: bytes) -> int:
        self._refuse(fd)
        written: int = self._real["write"](fd, data)
        return written

    def _fsync(self, fd: int) -> None:
        self._refuse(fd)
        self._real["fsync"](fd)

    def _statvfs(self, path: object) -> os.statvfs_result:
        real: os.statvfs_result = self._real["statvfs"](path)
        if not (self.read_only and self._inside(path)):
            return real
        fields = list(real)
        fields[8] |= os.ST_RDONLY  # f_flag
        return os.statvfs_result(fields)


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


def record_until_the_disk_fills(out: Path, procs: Path, capsys) -> str:  # type: ignore[no-untyped-def]
    """``record --processes`` for 30 s, which must end early (exit 1) as the disk fills; its
    stderr as one line."""
    args = ["record", "-o", str(out), "--processes", str(procs), "-d", "30", "-i", "0.05"]
    started = time.monotonic()
    assert main([*args, "--devices", "nvidia"]) == 1
    assert time.monotonic() - started < 20  # stopped when the disk filled, not at -d
    return one_line(capsys.readouterr().err)


def test_a_full_disk_under_the_processes_file_names_that_file(
    install_nvml, tmp_path: Path, small_disk: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """Issue 22: the message named the device rows' file, which had room."""
    pids = [(100 + n, 512 * 1024 * 1024) for n in range(8)]
    install_nvml([FakeGpu(power=Ramp(300.0), processes=pids)])
    out, procs = tmp_path / "rec.csv", small_disk / "procs.csv"
    line = record_until_the_disk_fills(out, procs, capsys)
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
        assert time.monotonic() - started < 30  # refused long before its 300 s budget ran


def test_suite_on_a_full_disk_prints_its_results_and_says_what_was_lost(
    full_disk: Path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    """Issue 22: every result was lost: the recording stopped silently, suite.json was left at
    0 bytes and the command ended in ``internal error: OSError``."""
    pytest.importorskip("torch")
    measure_at_once(monkeypatch)
    out = full_disk / "suite"
    assert main(["suite", "--budget", "6", "--devices", "cpu", "-o", str(out)]) == 1
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
    """Issue 22: the recording stopped silently and took the sampler with it. The disk is real;
    the run is measured once it is full (record.csv grows no more at a tick), at 20 Hz in a
    second or two."""
    pytest.importorskip("torch")
    from gpuscope.commands import suite

    out = small_disk / "suite"  # 8 KiB
    sizes = [-1]

    def full() -> bool:
        record = out / "record.csv"
        sizes.append(record.stat().st_size if record.exists() else -1)
        return sizes[-1] == sizes[-2] > 0

    measure_at_once(monkeypatch, ready=full)
    monkeypatch.setattr(suite, "RUN_INTERVAL_S", 0.05)
    assert main(["suite", "--budget", "6", "--devices", "cpu", "-o", str(out)]) == 1
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


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (errno.ENOSPC, "disk full while writing {}"),
        (errno.EROFS, "cannot write {}: Read-only file system"),
    ],
    ids=["full", "remounted-read-only"],
)
def test_a_suite_whose_faked_disk_fails_mid_way_says_so_once_and_keeps_its_results(
    tmp_path: Path, monkeypatch, capsys, error: int, said: str
) -> None:  # type: ignore[no-untyped-def]
    """The disk says no after the recording's header: the recording stops (said once, naming
    its file), the suite goes on, and its results are on stdout though suite.json failed."""
    pytest.importorskip("torch")
    measure_at_once(monkeypatch)
    out = tmp_path / "suite"
    out.mkdir()
    FakeDisk(monkeypatch, out, error, writes_left=1)  # record.csv's header, then nothing
    assert main(["suite", "--budget", "6", "--devices", "cpu", "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert "internal error" not in captured.err and "Traceback" not in captured.err
    err = captured.err.strip().splitlines()
    assert [line for line in err if "recording stopped" in line] == [
        f"gpuscope suite: recording stopped: {said.format(out / 'record.csv')}; 0 rows kept; "
        "the suite goes on"
    ], err
    assert any(": measured: " in line for line in err) and "FLOP/s" in captured.out
    assert (out / "record.csv").read_text().count("\n") == 1  # its header, whole
    assert err[-1] == f"gpuscope suite: {said.format(out / 'suite.json')}", err
    assert sorted(p.name for p in out.iterdir()) == ["record.csv"]  # no temp file left


def test_a_faked_full_disk_under_the_processes_file_names_that_file(
    install_nvml, tmp_path: Path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    """As ``test_a_full_disk_under_the_processes_file_names_that_file``, on every machine."""
    install_nvml([FakeGpu(power=Ramp(300.0), processes=[(100, 512 * 1024 * 1024)])])
    small = tmp_path / "small"
    small.mkdir()
    FakeDisk(monkeypatch, small, writes_left=3)  # the header and two ticks' rows
    out, procs = tmp_path / "rec.csv", small / "procs.csv"
    line = record_until_the_disk_fills(out, procs, capsys)
    assert line.endswith(f"disk full while writing {procs}; rows up to the last whole one are kept")
    with procs.open(newline="") as handle:
        assert len(list(csv.reader(handle))) == 3  # the header and the two ticks that fitted
    with out.open(newline="") as handle:
        assert len(list(csv.reader(handle))) >= 3  # and the device rows too


# -- the UI's recording and saved results --------------------------------------------------------


async def test_the_ui_says_a_failed_recording_or_save_as_every_command_does(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Review of issue 22: the UI said only the system's reason ("No space left on device"),
    not the file, where every command says ``write_error``'s one line."""
    from tests.compare_runs import measured
    from tests.tui_support import make_app, ready, tick

    full, read_only = tmp_path / "full", tmp_path / "ro"
    full.mkdir()
    read_only.mkdir()
    disk = FakeDisk(monkeypatch, full, writes_left=1)  # the recording's header, then no room
    FakeDisk(monkeypatch, read_only, read_only=True)
    app = make_app(record_dir=full)
    notices: list[str] = []
    notify = app.notify

    def heard(message: str, *args: Any, **kwargs: Any) -> None:
        notices.append(str(message))
        notify(message, *args, **kwargs)

    monkeypatch.setattr(app, "notify", heard)  # what the UI says, as a user sees it said

    def said() -> list[str]:
        return notices

    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press("r")
        assert app.session.recording is not None
        path = app.session.recording.path
        await tick(pilot, 2)
        assert f"recording stopped: disk full while writing {path}; whole rows kept" in said()
        disk.writes_left = 0  # not even a header now
        await pilot.press("r")
        assert f"cannot record: disk full while writing {full}" in said()
        app.setup.record_dir = read_only
        await pilot.press("r")
        assert any(
            line.startswith(f"cannot record: cannot write {read_only / 'gpuscope-'}")
            and line.endswith(".csv: Read-only file system")
            for line in said()
        ), said()
        app.results.append(measured("gemm", "cpu", None, 1e9, None, {"size": 64}).result)
        await pilot.press("s")
        assert any(
            line.startswith(f"cannot save results: cannot write {read_only / 'gpuscope-results-'}")
            and line.endswith(".csv: Read-only file system")
            for line in said()
        ), said()


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


def test_results_and_a_report_the_disk_refuses_midway_leave_no_half_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review of issue 22: the UI's saved results (``s``) were written into a stamped file with
    no clean-up, so a disk that filled midway left half a CSV to be taken for results; a report
    that could not be made left its empty page."""
    from gpuscope.results_files import report_contents, save_report, save_results_table
    from tests.compare_runs import measured

    results = [measured("gemm", "cpu", None, 1e9, None, {"size": 64}).result]
    FakeDisk(monkeypatch, tmp_path, writes_left=0)
    with pytest.raises(OSError):
        save_results_table(results, tmp_path)
    report, why = save_report(report_contents(results, [], []), tmp_path)
    assert report is None and why is not None and "disk full" in why
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("closed", ["2>&-", "<&-", "<&- 2>&-"])
def test_a_recording_with_stderr_or_stdin_closed_records(tmp_path: Path, closed: str) -> None:
    """Issue 22 re-trial: ``record -o c.csv 2>&-`` ended in ``internal error: AttributeError:
    'NoneType' object has no attribute 'isatty'`` with only the CSV's header written (bench's
    progress line the same). A closed stderr or stdin is the user's choice not to read it."""
    out = tmp_path / "c.csv"
    command = " ".join([*map(shlex.quote, GPUSCOPE), "record", "-o", str(out), "-d", "0.6",
                        "-i", "0.1", "--devices", "cpu"])  # fmt: skip
    result = subprocess.run(
        ["bash", "-c", f"{command} {closed}"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout
    assert len(out.read_text().splitlines()) >= 4  # the header and rows
