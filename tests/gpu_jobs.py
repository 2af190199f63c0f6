"""Real processes that "hold a GPU": each keeps a file open whose path the test names as the
vendor's device file, so /proc, the pidfd and the signal are all real; only the device path and,
where tests run inside a container, the host's pid namespace are stood in for."""

from __future__ import annotations

import os
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
def gpu_job(device: Path | None, tag: str = "gpu-job") -> Iterator[subprocess.Popen[bytes]]:
    """A sleeping child with ``device`` open (None: a plain sleeper), and ``tag`` in its command
    line; killed on exit."""
    opened = f"f = open({str(device)!r}); " if device is not None else ""
    code = f"{tag!r}; import time; {opened}print('ready', flush=True); time.sleep(120)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        yield child
    finally:
        if child.poll() is None:
            _kill(child.pid, signal.SIGKILL)  # the real kill, even where a test spies on os.kill
        child.wait()


def still_running(child: subprocess.Popen[bytes]) -> bool:
    """No signal reached ``child``: it has not exited 0.3 s later."""
    try:
        child.wait(timeout=0.3)
    except subprocess.TimeoutExpired:
        return True
    return False
