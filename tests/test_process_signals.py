"""Signals reach only a GPU process of ours to see: our pid namespace, a GPU device file open, and
sent through a pidfd so a pid reused meanwhile is not hit. Real children for the signals, a
faked /proc root for the namespaces a test machine cannot have."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest

from gpuscope.telemetry import process_signals
from gpuscope.telemetry.model import Vendor
from gpuscope.telemetry.process_signals import gpu_check, namespace_check, send_signal, verify
from tests.gpu_jobs import gpu_job, pretend_gpu, still_running

HOST = "pid:[4026531836]"


def fake_proc(
    root: Path,
    pid: int,
    *,
    ours: str = HOST,
    theirs: str | None = None,
    nspid: tuple[int, ...] | None = None,
    files: tuple[str, ...] = ("/dev/nvidiactl", "/dev/nvidia0"),
) -> Path:
    """A /proc with ``self`` and ``pid``: their pid namespaces, ``pid``'s NSpid and open files."""
    (root / "self" / "ns").mkdir(parents=True, exist_ok=True)
    if not (root / "self" / "ns" / "pid").is_symlink():
        (root / "self" / "ns" / "pid").symlink_to(ours)
    proc = root / str(pid)
    (proc / "ns").mkdir(parents=True)
    (proc / "ns" / "pid").symlink_to(theirs or ours)
    numbers = " ".join(map(str, nspid or (pid,)))
    (proc / "status").write_text(f"Name:\tpython\nPid:\t{pid}\nNSpid:\t{numbers}\n")
    (proc / "fd").mkdir()
    for number, target in enumerate(files):
        (proc / "fd" / str(number)).symlink_to(target)
    return root


def test_a_process_in_our_namespace_holding_the_gpu_is_verified(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, 4242)
    assert verify(4242, Vendor.NVIDIA, proc) is None
    amd = fake_proc(tmp_path / "amd", 7, files=("/dev/null", "/dev/kfd", "/dev/dri/renderD128"))
    assert verify(7, Vendor.AMD, amd) is None


def test_inside_a_container_a_host_pid_is_never_trusted(tmp_path: Path) -> None:
    """The issue's case: our own pid namespace, and a local process under the GPU's host pid."""
    proc = fake_proc(tmp_path, 4242, ours="pid:[4026532999]")
    why = namespace_check(4242, proc)
    assert why is not None and why.foreign
    assert "own pid namespace" in why.reason and "host pids" in why.reason


def test_a_process_of_another_namespace_is_refused_unless_nested_under_ours(
    tmp_path: Path,
) -> None:
    # seen from the host, a container's process: its pid here is the first NSpid number
    nested = fake_proc(tmp_path / "a", 4242, theirs="pid:[4026532001]", nspid=(4242, 17))
    assert verify(4242, Vendor.NVIDIA, nested) is None
    # another namespace, with no nesting under ours to map its number: refused
    other = fake_proc(tmp_path / "b", 4242, theirs="pid:[4026532001]")
    why = namespace_check(4242, other)
    assert why is not None and why.reason == "it lives in another pid namespace" and why.foreign
    # nested, but this /proc numbers it otherwise than the GPU did
    renumbered = fake_proc(tmp_path / "c", 4242, theirs="pid:[4026532001]", nspid=(99, 4242))
    assert namespace_check(4242, renumbered) is not None


def test_a_process_without_its_vendors_device_file_is_refused(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, 4242, files=("/dev/null", "/dev/dri/card0", "socket:[12]"))
    why = gpu_check(4242, Vendor.NVIDIA, proc)
    assert why is not None and why.reason == "it holds no NVIDIA device file (/proc/4242/fd)"
    assert gpu_check(4242, Vendor.AMD, proc) is None  # /dev/dri is AMD's
    cpu = gpu_check(4242, Vendor.CPU, proc)  # nothing in /proc proves a process uses "the CPU"
    assert cpu is not None and "no device file" in cpu.reason
    assert namespace_check(5, proc) is not None  # a pid /proc does not show


def test_a_verified_gpu_job_is_signalled_through_its_pidfd(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    device = pretend_gpu(monkeypatch, tmp_path)
    with gpu_job(device) as job:
        assert verify(job.pid, Vendor.NVIDIA) is None  # the real /proc
        started = psutil.Process(job.pid).create_time()
        assert send_signal(job.pid, Vendor.NVIDIA, signal.SIGTERM, started) is None
        assert job.wait(timeout=10) == -signal.SIGTERM


def test_still_running_tells_a_signalled_process_that_is_slow_to_die() -> None:
    """The proof the tests below rely on: a probe answered after the signal, not a fixed wait
    (a process that took more than 0.3 s to die passed for one never signalled)."""
    with gpu_job(None, dies_slowly=True) as slow:
        assert still_running(slow)
        os.kill(slow.pid, signal.SIGTERM)
        assert not still_running(slow)
        assert slow.wait(timeout=10) == 1


def test_a_process_that_holds_no_gpu_is_not_signalled(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pretend_gpu(monkeypatch, tmp_path)
    with gpu_job(None) as plain:
        started = psutil.Process(plain.pid).create_time()
        why = send_signal(plain.pid, Vendor.NVIDIA, signal.SIGKILL, started)
        assert why == (
            f"pid {plain.pid} not signalled: it holds no NVIDIA device file (/proc/{plain.pid}/fd)"
        )
        assert still_running(plain)


def test_in_a_container_the_local_process_under_a_host_pid_is_not_signalled(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A real local process holding the GPU, the GPU's pid equal to its number: refused while
    our namespace is not the host's."""
    device = pretend_gpu(monkeypatch, tmp_path)
    monkeypatch.setattr(process_signals, "HOST_PID_NAMESPACE", HOST + "-not-ours")
    with gpu_job(device) as local:
        started = psutil.Process(local.pid).create_time()
        why = send_signal(local.pid, Vendor.NVIDIA, signal.SIGKILL, started) or ""
        assert "own pid namespace" in why
        assert still_running(local)


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="no pidfds here (Linux 5.3+)")
def test_a_pid_reused_after_the_pidfd_was_opened_is_not_signalled(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The process shown exits after its pidfd was opened and its pid goes to another GPU
    process with the same start time (the 10 ms clock): every check passes on the newcomer,
    yet the signal goes through the pidfd to the process that exited, and nobody is hit."""
    device = pretend_gpu(monkeypatch, tmp_path)
    with gpu_job(device) as shown, gpu_job(device, "newcomer") as newcomer:
        started = psutil.Process(shown.pid).create_time()
        opened, kill = os.pidfd_open, os.kill

        def open_then_reuse(pid: int, flags: int = 0) -> int:
            pidfd = opened(pid, flags)
            kill(shown.pid, signal.SIGKILL)
            shown.wait()  # reaped: the pid is free for the kernel to give away
            return pidfd

        monkeypatch.setattr(os, "pidfd_open", open_then_reuse)
        # /proc under the old number now shows the newcomer, holding the GPU, started "then"
        reused = tmp_path / "proc"
        reused.mkdir()
        (reused / "self").symlink_to(f"/proc/{os.getpid()}")
        (reused / str(shown.pid)).symlink_to(f"/proc/{newcomer.pid}")
        monkeypatch.setattr(process_signals, "start_time", lambda pid: started)
        by_pid: list[int] = []
        monkeypatch.setattr(os, "kill", lambda pid, sig: by_pid.append(pid))
        why = send_signal(shown.pid, Vendor.NVIDIA, signal.SIGKILL, started, proc=reused)
        assert why == f"pid {shown.pid} has already exited"
        assert verify(shown.pid, Vendor.NVIDIA, reused) is None  # the newcomer passed them all
        assert by_pid == []
        assert still_running(newcomer)


def test_without_pidfds_the_checks_still_hold(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    device = pretend_gpu(monkeypatch, tmp_path)
    monkeypatch.delattr(os, "pidfd_open")
    with gpu_job(device) as job:
        started = psutil.Process(job.pid).create_time()
        assert send_signal(job.pid, Vendor.NVIDIA, signal.SIGTERM, started - 1.0) == (
            f"pid {job.pid} is now another process: nothing sent"
        )
        assert still_running(job)
        assert send_signal(job.pid, Vendor.NVIDIA, signal.SIGTERM, started) is None
        assert job.wait(timeout=10) == -signal.SIGTERM


def test_a_signal_that_cannot_be_sent_says_why_in_one_line(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    device = pretend_gpu(monkeypatch, tmp_path)
    with gpu_job(device) as job:
        started = psutil.Process(job.pid).create_time()
        assert send_signal(job.pid, Vendor.NVIDIA, signal.SIGTERM, started - 100.0) == (
            f"pid {job.pid} is now another process: nothing sent"
        )
        assert "start time is unknown" in (
            send_signal(job.pid, Vendor.NVIDIA, signal.SIGTERM, None) or ""
        )

        def denied(pidfd: int, sig: int) -> None:
            raise PermissionError(1, "Operation not permitted")

        monkeypatch.setattr(signal, "pidfd_send_signal", denied)
        assert send_signal(job.pid, Vendor.NVIDIA, signal.SIGKILL, started, "alice") == (
            f"no permission to signal pid {job.pid} (it belongs to alice): "
            "run gpuscope as that user or root"
        )
        assert still_running(job)
        job.kill()
        job.wait()
        assert send_signal(job.pid, Vendor.NVIDIA, signal.SIGTERM, started) == (
            f"pid {job.pid} has already exited"
        )
