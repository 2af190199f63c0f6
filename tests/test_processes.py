"""Host usage of GPU processes (CPU %, RSS, start time), read through psutil on real processes."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from gpuscope.telemetry import processes
from gpuscope.telemetry.processes import cached_usage, forget_exited, host_usage


def test_cpu_rss_and_start_of_a_busy_child_and_none_once_it_exits() -> None:
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # past exec: the interpreter is loaded
        first = host_usage(child.pid, now_s=0.0)
        assert first is not None and first.cpu_pct is None  # no interval yet: n/a, not 0
        assert first.rss_mib is not None and first.rss_mib > 1
        assert first.started_s == psutil.Process(child.pid).create_time()
        time.sleep(0.5)
        assert host_usage(child.pid, now_s=0.5) is first  # younger than a second: the cache
        busy = host_usage(child.pid, now_s=1.5)
        assert busy is not None and busy.cpu_pct is not None and busy.cpu_pct > 20
        assert cached_usage(child.pid) is busy
    finally:
        child.kill()
        child.wait()
    assert host_usage(child.pid, now_s=3.0) is None  # exited between reads: handled, forgotten
    assert cached_usage(child.pid) is None


def test_pids_no_gpu_lists_any_more_are_forgotten() -> None:
    host_usage(psutil.Process().pid, now_s=0.0)
    forget_exited(alive=set())
    assert processes._usage == {}


def test_a_reused_pid_starts_over(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """psutil caches a handle's start time: reuse shows only through is_running()."""
    me = psutil.Process().pid
    first = host_usage(me, now_s=0.0)
    assert first is not None
    monkeypatch.setattr(psutil.Process, "is_running", lambda self: False)  # as after reuse
    again = host_usage(me, now_s=2.0)
    assert again is not None and again.cpu_pct is None  # a new process: no interval yet
