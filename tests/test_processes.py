"""Host usage of GPU processes (CPU %, RSS, start time), read through psutil on real processes,
and the look-ups the Processes tab needs, read only while it is shown."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import psutil

from gpuscope.telemetry import process_signals
from gpuscope.telemetry.job_owner import read_owner
from gpuscope.telemetry.model import ProcessUsage, Reading, Sample, Vendor
from gpuscope.telemetry.processes import (
    COMMAND_KEPT,
    USAGE_PERIOD_S,
    HostUsage,
    ProcessDetails,
    ProcessLookups,
    ProcessNames,
)
from tests.conftest import FakeClock
from tests.waiting import wait_until


def test_cpu_rss_and_start_of_a_busy_child_and_none_once_it_exits() -> None:
    clock = FakeClock(0.0)
    lookups = ProcessLookups(clock=clock)
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        child_process = psutil.Process(child.pid)
        wait_until(  # past exec, and the interpreter loaded (its RSS is ~0.6 MiB before)
            lambda: (
                "while True: pass" in child_process.cmdline()
                and child_process.memory_info().rss >= 2 * 1024 * 1024
            ),
            "the child never started",
        )
        first = lookups.read_usage(child.pid)
        assert first is not None and first.cpu_pct is None  # no interval yet: n/a, not 0
        assert first.rss_mib is not None and first.rss_mib > 1
        assert first.started_s == psutil.Process(child.pid).create_time()
        clock.advance(0.5)
        assert lookups.read_usage(child.pid) is first  # younger than its period: the cache
        used = psutil.Process(child.pid).cpu_times()
        wait_until(
            lambda: sum(psutil.Process(child.pid).cpu_times()[:2]) - sum(used[:2]) >= 0.1,
            "the child never ran",
        )
        clock.advance(USAGE_PERIOD_S)
        busy = lookups.read_usage(child.pid)
        assert busy is not None and busy.cpu_pct is not None and busy.cpu_pct > 0
        assert lookups.cached_usage(child.pid) is busy
    finally:
        child.kill()
        child.wait()
    clock.advance(USAGE_PERIOD_S)
    assert lookups.read_usage(child.pid) is None  # exited: handled
    gone = lookups.cached_usage(child.pid)  # and not asked again on every sample
    assert gone is not None and (gone.cpu_pct, gone.rss_mib, gone.started_s) == (None,) * 3
    lookups.forget_exited(alive=set())  # no GPU lists it any more: forgotten
    assert lookups.cached_usage(child.pid) is None


def test_pids_no_gpu_lists_any_more_are_forgotten() -> None:
    lookups = ProcessLookups()
    me = psutil.Process().pid
    lookups.read_usage(me)
    lookups.read_details(me)
    lookups.read_check(me, Vendor.NVIDIA)
    lookups.forget_exited(alive=set())
    assert lookups.cached_usage(me) is None and lookups.cached_details(me) is None
    assert lookups.cached_check(me, Vendor.NVIDIA) is not None  # NOT_CHECKED again


def test_a_pid_no_gpu_lists_is_read_afresh_when_listed_again(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A pid leaves the GPU lists before the kernel can give it to another process: forgetting
    it then is what keeps a reused pid from showing the old process's command and figures."""
    monkeypatch.setattr(process_signals, "HOST_PID_NAMESPACE", os.readlink("/proc/self/ns/pid"))
    clock = FakeClock(0.0)
    lookups = ProcessLookups(clock=clock)
    me = psutil.Process().pid
    assert lookups.read_details(me).command is not None
    first = lookups.read_usage(me)
    clock.advance(USAGE_PERIOD_S)
    second = lookups.read_usage(me)
    assert first is not None and second is not None and second.cpu_pct is not None
    monkeypatch.setattr(psutil.Process, "cmdline", lambda self: ["another", "job"])
    assert lookups.read_details(me).command != "another job"  # still listed: read once, kept
    lookups.forget_exited(alive=set())  # left every GPU's list
    assert lookups.read_details(me).command == "another job"
    again = lookups.read_usage(me)
    assert again is not None and again.cpu_pct is None  # a new process: no interval yet


def test_a_process_we_may_not_read_keeps_none_and_is_not_read_on_every_sample(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(0.0)
    lookups = ProcessLookups(clock=clock)
    me = psutil.Process().pid
    reads = []

    def denied(self):  # type: ignore[no-untyped-def]
        reads.append(self.pid)
        raise psutil.AccessDenied(self.pid)

    monkeypatch.setattr(psutil.Process, "cpu_times", denied)
    usage = lookups.read_usage(me)
    assert usage is not None and (usage.cpu_pct, usage.rss_mib, usage.started_s) == (None,) * 3
    clock.advance(0.5)
    assert lookups.read_usage(me) is usage  # n/a, without reading /proc again
    assert reads == [me]
    clock.advance(USAGE_PERIOD_S)
    lookups.read_usage(me)  # tried again at the usual pace
    assert reads == [me, me]


def test_inside_a_container_a_host_pid_names_no_local_process(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 22: NVML lists host pids; in a container of its own pid namespace the same number
    names an unrelated local process, whose name, user and command ``record --processes`` and
    the panels showed as the GPU's. There they are unknown (n/a), never another process's."""
    me = psutil.Process().pid
    monkeypatch.setattr(process_signals, "HOST_PID_NAMESPACE", "pid:[not-this-one]")
    assert ProcessNames().name(me) is None
    assert ProcessLookups().read_details(me) == ProcessDetails(None, None)
    monkeypatch.setattr(process_signals, "HOST_PID_NAMESPACE", os.readlink("/proc/self/ns/pid"))
    assert ProcessNames().name(me) is not None
    assert ProcessLookups().read_details(me).command is not None


def test_details_name_the_job_of_the_process(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 25: the Processes tab and ``record --processes`` show each process's job, read with
    its user and command (``job_owner``); none where the host pid may name another process."""
    me = psutil.Process().pid
    monkeypatch.setattr(process_signals, "HOST_PID_NAMESPACE", os.readlink("/proc/self/ns/pid"))
    owner = read_owner(me)
    assert owner is not None and ProcessLookups().read_details(me).job == owner.job
    monkeypatch.setattr(process_signals, "HOST_PID_NAMESPACE", "pid:[not-this-one]")
    assert ProcessLookups().read_details(me).job is None


def test_a_megabyte_command_line_is_kept_cut(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Review of issue 22: up to 4,096 command lines were cached whole (Linux allows MiBs of
    arguments each); every face shows at most ``COMMAND_KEPT`` characters, so no more is kept."""
    monkeypatch.setattr(process_signals, "HOST_PID_NAMESPACE", os.readlink("/proc/self/ns/pid"))
    monkeypatch.setattr(psutil.Process, "cmdline", lambda self: ["x" * 2_000_000])
    command = ProcessLookups().read_details(psutil.Process().pid).command
    assert command is not None and len(command) == COMMAND_KEPT
    assert command.endswith("…")


class _CountedProcess:
    """psutil.Process's host-usage reads, counted per pid (processes that need not exist)."""

    def __init__(self, pid: int, read: list[int]) -> None:
        self.pid, self._read = pid, read

    def create_time(self) -> float:
        return 3.0

    def cpu_times(self) -> SimpleNamespace:
        self._read.append(self.pid)
        return SimpleNamespace(user=1.0, system=0.0)

    def memory_info(self) -> SimpleNamespace:
        return SimpleNamespace(rss=2 * 1024 * 1024)


def test_host_figures_are_read_only_while_shown_and_only_for_the_rows_in_sight() -> None:
    read: list[int] = []
    clock = FakeClock(0.0)
    lookups = ProcessLookups(
        frozenset({"nvidia:9"}),  # simulated: its pids name nothing here
        details_of=lambda pid: ProcessDetails("al", "job"),
        verify=lambda pid, vendor: None,
        open_process=lambda pid: _CountedProcess(pid, read),  # type: ignore[arg-type,return-value]
        clock=clock,
    )
    listed = tuple(ProcessUsage(pid, "job", 1.0) for pid in (101, 102, 103))
    simulated = (ProcessUsage(109, "demo", 1.0),)
    samples = [
        Sample("nvidia:7", Vendor.NVIDIA, Reading(1.0, 1.0, processes=listed), None, None),
        Sample("nvidia:9", Vendor.NVIDIA, Reading(1.0, 1.0, processes=simulated), None, None),
    ]

    def look(pids_in_sight: frozenset[int] | None) -> None:
        lookups.host_usage_wanted = pids_in_sight
        clock.advance(USAGE_PERIOD_S)
        read.clear()
        lookups.look_up(samples)

    look(None)
    assert read == [] and lookups.cached_details(101) is None  # not shown: nothing is read
    lookups.shown.set()
    look(frozenset({102}))
    assert sorted(read) == [101, 102, 103]  # each process once: its start time
    assert lookups.cached_details(101) == ProcessDetails("al", "job")
    assert lookups.cached_check(101, Vendor.NVIDIA) is None  # it may be signalled
    assert lookups.cached_details(109) is None  # a simulated device's pid: never looked up
    look(frozenset({102}))
    assert read == [102]  # then only the row in sight
    look(None)  # sorted by a host column: all of them
    assert sorted(read) == [101, 102, 103]
    usage = lookups.cached_usage(101)
    assert usage is not None and usage.cpu_pct is not None  # it has an interval now
    lookups.shown.clear()
    look(None)
    assert read == []
    lookups.shown.set()
    look(frozenset())
    assert sorted(read) == [101, 102, 103]  # shown again: read afresh, not an old average
    assert lookups.cached_usage(101) == HostUsage(None, 2.0, 3.0)


def test_the_table_order_puts_n_a_last_both_ways_and_filters_by_any_field() -> None:
    """The Processes tab's order, without a terminal: by SM %, largest first or smallest, and
    a process with no SM % (n/a) is last either way; a filter matches user, job or command."""
    from gpuscope.tui.processes_model import ProcessRow, row_cells, shown_rows
    from gpuscope.tui.processes_view import COLUMNS

    def row(pid: int, sm: float | None, user: str, job: str | None = None) -> ProcessRow:
        return ProcessRow(
            "nvidia:0", pid, user, "C", 100.0, sm, None, None, None, None, "train", job=job
        )

    rows = [row(1, 10.0, "ann", "slurm:7"), row(2, None, "bob"), row(3, 90.0, "ann", "slurm:8")]
    sm, job = COLUMNS.index("SM %"), COLUMNS.index("job")
    assert [r.pid for r in shown_rows(rows, "", sm, reverse=True)] == [3, 1, 2]
    assert [r.pid for r in shown_rows(rows, "", sm, reverse=False)] == [1, 3, 2]
    assert [r.pid for r in shown_rows(rows, "ANN", sm, reverse=True)] == [3, 1]
    assert [r.pid for r in shown_rows(rows, "slurm:8", sm, reverse=True)] == [3]
    assert [r.pid for r in shown_rows(rows, "", job, reverse=True)] == [3, 1, 2]  # n/a last
    cells = row_cells(rows[1], 0.0, "?")
    assert cells[sm] == "n/a" and cells[job] == "n/a" and cells[1] == "2"
    assert cells[-1] == "train"
    pod = row(4, 1.0, "al", "pod:55c6c714-b240-4dec-9a45-57b61696ab6e")
    cell = row_cells(pod, 0.0, "?")[job]
    assert cell.startswith("pod:55c6c714") and cell.endswith("…") and len(cell) <= 24
