"""Host usage of GPU processes (CPU %, RSS, start time), read through psutil on real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil

from gpuscope.telemetry import processes
from gpuscope.telemetry.processes import (
    cached_usage,
    forget_exited,
    host_usage,
    process_details,
    process_name,
)
from tests.waiting import wait_until


def test_cpu_rss_and_start_of_a_busy_child_and_none_once_it_exits() -> None:
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        wait_until(lambda: "while True: pass" in psutil.Process(child.pid).cmdline(), "exec")
        first = host_usage(child.pid, now_s=0.0)
        assert first is not None and first.cpu_pct is None  # no interval yet: n/a, not 0
        assert first.rss_mib is not None and first.rss_mib > 1
        assert first.started_s == psutil.Process(child.pid).create_time()
        time.sleep(0.5)
        assert host_usage(child.pid, now_s=0.5) is first  # younger than its period: the cache
        busy = host_usage(child.pid, now_s=processes.USAGE_PERIOD_S)
        assert busy is not None and busy.cpu_pct is not None and busy.cpu_pct > 20
        assert cached_usage(child.pid) is busy
    finally:
        child.kill()
        child.wait()
    assert host_usage(child.pid, now_s=3 * processes.USAGE_PERIOD_S) is None  # exited: handled
    gone = cached_usage(child.pid)  # and not asked again on every sample
    assert gone is not None and (gone.cpu_pct, gone.rss_mib, gone.started_s) == (None,) * 3
    forget_exited(alive=set())  # no GPU lists it any more: forgotten
    assert cached_usage(child.pid) is None


def test_pids_no_gpu_lists_any_more_are_forgotten() -> None:
    host_usage(psutil.Process().pid, now_s=0.0)
    forget_exited(alive=set())
    assert processes._usage == {}


def test_a_pid_no_gpu_lists_is_read_afresh_when_listed_again(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A pid leaves the GPU lists before the kernel can give it to another process: forgetting
    it then is what keeps a reused pid from showing the old process's command and figures."""
    me = psutil.Process().pid
    forget_exited(alive=set())
    assert process_details(me).command is not None
    first = host_usage(me, now_s=0.0)
    second = host_usage(me, now_s=processes.USAGE_PERIOD_S)
    assert first is not None and second is not None and second.cpu_pct is not None
    monkeypatch.setattr(psutil.Process, "cmdline", lambda self: ["another", "job"])
    assert process_details(me).command != "another job"  # still listed: read once, kept
    forget_exited(alive=set())  # left every GPU's list
    assert process_details(me).command == "another job"
    again = host_usage(me, now_s=processes.USAGE_PERIOD_S)
    assert again is not None and again.cpu_pct is None  # a new process: no interval yet


def test_a_process_we_may_not_read_keeps_none_and_is_not_read_on_every_sample(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    me = psutil.Process().pid
    forget_exited(alive=set())
    reads = []

    def denied(self):  # type: ignore[no-untyped-def]
        reads.append(self.pid)
        raise psutil.AccessDenied(self.pid)

    monkeypatch.setattr(psutil.Process, "cpu_times", denied)
    usage = host_usage(me, now_s=0.0)
    assert usage is not None and (usage.cpu_pct, usage.rss_mib, usage.started_s) == (None,) * 3
    assert host_usage(me, now_s=0.5) is usage  # n/a, without reading /proc again
    assert reads == [me]
    host_usage(me, now_s=processes.USAGE_PERIOD_S)  # tried again at the usual pace
    assert reads == [me, me]


def test_inside_a_container_a_host_pid_names_no_local_process(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 22: NVML lists host pids; in a container of its own pid namespace the same number
    names an unrelated local process, whose name, user and command ``record --processes`` and
    the panels showed as the GPU's. There they are unknown (n/a), never another process's."""
    from gpuscope.telemetry import process_signals

    me = psutil.Process().pid
    forget_exited(alive=set())
    processes._names.pop(me, None)
    monkeypatch.setattr(process_signals, "HOST_PID_NAMESPACE", "pid:[not-this-one]")
    assert process_name(me) is None
    assert process_details(me) == processes.ProcessDetails(None, None)
    forget_exited(alive=set())
    processes._names.pop(me, None)
    monkeypatch.setattr(process_signals, "HOST_PID_NAMESPACE", os.readlink("/proc/self/ns/pid"))
    assert process_name(me) is not None and process_details(me).command is not None


def test_a_megabyte_command_line_is_kept_cut(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Review of issue 22: up to 4,096 command lines were cached whole (Linux allows MiBs of
    arguments each); every face shows at most ``COMMAND_KEPT`` characters, so no more is kept."""
    me = psutil.Process().pid
    forget_exited(alive=set())
    monkeypatch.setattr(psutil.Process, "cmdline", lambda self: ["x" * 2_000_000])
    command = process_details(me).command
    assert command is not None and len(command) == processes.COMMAND_KEPT
    assert command.endswith("…")
