"""Real processes that "hold a GPU": each keeps a file open whose path the test names as the
vendor's device file, so /proc, the pidfd and the signal are all real; only the device path and,
where tests run inside a container, the host's pid namespace are stood in for."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gpuscope.telemetry import process_signals
from gpuscope.telemetry.model import Vendor

_kill = os.kill
OUR_NAMESPACE = os.readlink("/proc/self/ns/pid")


def pretend_gpu(monkeypatch: pytest.MonkeyPatch, device_dir: Path) -> Path:
    """Files under ``device_dir`` named ``nvidia*`` count as NVIDIA device files, and this
    test's pid namespace as the host's (CI may run the tests in a container)."""
    monkeypatch.setitem(
        process_signals.GPU_DEVICE_FILES, Vendor.NVIDIA, (str(device_dir / "nvidia"),)
    )
    monkeypatch.setattr(process_signals, "HOST_PID_NAMESPACE", OUR_NAMESPACE)
    device = device_dir / "nvidia0"
    device.write_text("")
    return device


@contextmanager
def gpu_job(
    device: Path | None, tag: str = "gpu-job", dies_slowly: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """A child with ``device`` open (None: a plain process), and ``tag`` in its command line,
    that answers each line on its stdin with the same line (see ``still_running``); killed on
    exit. ``dies_slowly``: SIGTERM ends it only 1 s later, as a loaded machine may."""
    opened = f"f = open({str(device)!r}); " if device is not None else ""
    slow = (
        "import os, signal, time; "
        "signal.signal(signal.SIGTERM, lambda *_: (time.sleep(1), os._exit(1))); "
        if dies_slowly
        else ""
    )
    code = (
        f"{tag!r}; import sys; {opened}{slow}print('ready', flush=True)\n"
        "for line in sys.stdin: print(line, end='', flush=True)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        yield child
    finally:
        if child.poll() is None:
            _kill(child.pid, signal.SIGKILL)  # the real kill, even where a test spies on os.kill
        child.wait()
        for pipe in (child.stdin, child.stdout):
            if pipe is not None:
                pipe.close()


def still_running(child: subprocess.Popen[bytes], timeout_s: float = 30.0) -> bool:
    """No signal sent to ``child`` before this call reached it: it still answers a probe
    through its stdin. A terminating signal already sent would end it first (the kernel acts
    on a pending signal before the process runs its own code again); one that ended it closes
    its stdout, so a dead child is told at once, not after ``timeout_s``."""
    assert child.stdin is not None and child.stdout is not None
    try:
        child.stdin.write(b"probe\n")
        child.stdin.flush()
    except BrokenPipeError:
        return False
    answered, _, _ = select.select([child.stdout], [], [], timeout_s)
    return bool(answered) and child.stdout.readline() == b"probe\n"
