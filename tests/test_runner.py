"""The child-process runner against plugins that fail in every way it must survive."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import psutil
import pytest

from gpuscope.workloads.child import RunSpec
from gpuscope.workloads.events import (
    ErrorKind,
    Failed,
    FirstStep,
    Phase,
    Progress,
    Result,
    RunEvent,
    Started,
    WarmupDone,
)
from gpuscope.workloads.registry import find_workloads
from gpuscope.workloads.runner import WorkloadRun
from tests.plugin_files import workload_with_step


def run(
    path: Path, name: str, hang_timeout_s: float = 30.0, **spec: object
) -> tuple[list[RunEvent], int | None]:
    catalog = find_workloads(plugin_files=[path], plugin_dirs=[], use_entry_points=False)
    assert not catalog.broken, catalog.broken
    ref = catalog.workloads[name].ref
    options = {"duration_s": 0.6, "warmup_s": 0.1, **spec}
    workload_run = WorkloadRun(RunSpec(ref, "cpu", {}, **options), hang_timeout_s=hang_timeout_s)  # type: ignore[arg-type]
    events = list(workload_run.events())
    return events, workload_run.pid


def failed(events: list[RunEvent]) -> Failed:
    """The run's final event, which must be a failure."""
    assert isinstance(events[-1], Failed), events[-1]
    return events[-1]


def assert_no_leftover(pid: int | None) -> None:
    assert pid is not None
    assert not psutil.pid_exists(pid), "child process left behind"


def test_good_plugin_streams_events_and_a_result(tmp_path: Path) -> None:
    path = workload_with_step(
        tmp_path, "sleepy", "import time; time.sleep(0.01); return Work(units=3, flops=7)"
    )
    events, pid = run(path, "sleepy", duration_s=1.2)
    kinds = [type(e) for e in events]
    assert kinds[:3] == [Started, FirstStep, WarmupDone] and kinds[-1] is Result
    assert Progress in kinds
    result = events[-1]
    assert isinstance(result, Result)
    assert result.steps >= 50 and result.units == 3 * result.steps
    assert result.flops == 7 * result.steps
    assert result.seconds == pytest.approx(1.2, abs=0.3)
    progress = [e for e in events if isinstance(e, Progress)]
    assert all(a.units <= b.units for a, b in itertools.pairwise(progress))
    assert all(e.received_s > 0 for e in events)  # stamped on arrival
    assert_no_leftover(pid)


def test_exception_is_reported_with_its_message(tmp_path: Path) -> None:
    path = workload_with_step(tmp_path, "raiser", "raise RuntimeError('kaboom in step')")
    events, pid = run(path, "raiser")
    error = failed(events)
    assert error.kind is ErrorKind.EXCEPTION
    assert error.message == "RuntimeError: kaboom in step"
    assert "raiser.py" in error.traceback
    assert_no_leftover(pid)


def test_workload_error_in_setup_is_a_usage_error(tmp_path: Path) -> None:
    path = workload_with_step(
        tmp_path, "picky", "return 1", setup_body="raise WorkloadError('size too big')"
    )
    events, pid = run(path, "picky")
    assert len(events) == 1
    error = failed(events)
    assert error.kind is ErrorKind.USAGE and "size too big" in error.message
    assert_no_leftover(pid)


def test_os_exit_is_a_crash(tmp_path: Path) -> None:
    path = workload_with_step(
        tmp_path,
        "quitter",
        "import os, sys; print('bye now', file=sys.stderr, flush=True); os._exit(3)",
    )
    events, pid = run(path, "quitter")
    error = failed(events)
    assert error.kind is ErrorKind.CRASHED
    assert "exited with code 3" in error.message
    assert "bye now" in error.last_words
    assert_no_leftover(pid)


def test_segfault_is_a_crash_with_a_python_traceback(tmp_path: Path) -> None:
    path = workload_with_step(tmp_path, "segv", "import ctypes; ctypes.string_at(0)")
    events, pid = run(path, "segv")
    error = failed(events)
    assert error.kind is ErrorKind.CRASHED and "SIGSEGV" in error.message
    assert "Segmentation fault" in error.last_words and "segv.py" in error.last_words
    assert_no_leftover(pid)


def test_hang_is_detected_and_killed(tmp_path: Path) -> None:
    path = workload_with_step(tmp_path, "stuck", "import time; time.sleep(3600)")
    start = time.monotonic()
    events, pid = run(path, "stuck", hang_timeout_s=2.0)
    hung = failed(events)
    assert hung.kind is ErrorKind.HUNG
    # set up, then its first step never ended: said so, for the message to name what was slow
    assert hung.phase is Phase.FIRST_STEP and hung.limit_s == 2.0
    assert time.monotonic() - start < 15
    assert_no_leftover(pid)
    slow_setup = workload_with_step(
        tmp_path, "slowsetup", "return 1", "import time; time.sleep(60)"
    )
    events, _ = run(slow_setup, "slowsetup", hang_timeout_s=1.0)
    assert failed(events).phase is Phase.SETUP


def test_memory_error_is_reported_as_oom(tmp_path: Path) -> None:
    setup = """
    import resource, psutil
    limit = psutil.Process().memory_info().vms + 512 * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    self.hoard = []
    """
    path = workload_with_step(
        tmp_path, "hog", "self.hoard.append(bytearray(64 * 2**20)); return 1", setup
    )
    events, pid = run(path, "hog", duration_s=60.0)  # ends at the MemoryError, not the clock
    assert failed(events).kind is ErrorKind.OOM
    assert "MemoryError" in failed(events).message
    assert_no_leftover(pid)


def test_stop_ends_the_run_with_a_partial_result(tmp_path: Path) -> None:
    path = workload_with_step(tmp_path, "forever", "import time; time.sleep(0.01); return 1")
    catalog = find_workloads(plugin_files=[path], plugin_dirs=[], use_entry_points=False)
    workload_run = WorkloadRun(
        RunSpec(catalog.workloads["forever"].ref, "cpu", {}, duration_s=3600, warmup_s=0.1)
    )
    events = []
    for event in workload_run.events():
        events.append(event)
        if isinstance(event, Progress):
            workload_run.stop()
    result = events[-1]
    assert isinstance(result, Result) and result.stopped_early and result.steps > 0
    assert_no_leftover(workload_run.pid)


def test_stop_that_is_ignored_kills_after_grace(tmp_path: Path) -> None:
    path = workload_with_step(tmp_path, "deaf", "import time; time.sleep(3600)")
    catalog = find_workloads(plugin_files=[path], plugin_dirs=[], use_entry_points=False)
    workload_run = WorkloadRun(RunSpec(catalog.workloads["deaf"].ref, "cpu", {}, warmup_s=0.1))
    events = []
    for event in workload_run.events():
        events.append(event)
        if isinstance(event, Started):
            workload_run.stop(grace_s=1.0)
    assert failed(events).kind is ErrorKind.STOPPED
    assert_no_leftover(workload_run.pid)


def test_missing_torch_says_how_to_install_it(tmp_path: Path) -> None:
    setup = "import sys; sys.modules['torch'] = None; import torch"
    path = workload_with_step(tmp_path, "needs_torch", "return 1", setup_body=setup)
    events, pid = run(path, "needs_torch")
    assert (
        failed(events).message == "torch is not installed here: pip install 'gpuscope[workloads]'"
    )
    assert_no_leftover(pid)


def test_a_ctrl_c_while_the_child_starts_up_does_not_kill_it(tmp_path: Path) -> None:
    """Issue 21: a terminal's Ctrl-C reaches the child too; while it was still starting up (before
    it could ignore SIGINT) it died of it with a KeyboardInterrupt traceback from multiprocessing,
    and the run read "child killed by SIGINT". The parent decides what a Ctrl-C means."""
    import os
    import signal
    import threading

    path = workload_with_step(tmp_path, "quick", "return Work(units=1)")
    catalog = find_workloads(plugin_files=[path], plugin_dirs=[], use_entry_points=False)
    spec = RunSpec(catalog.workloads["quick"].ref, "cpu", {}, duration_s=0.3, warmup_s=0.0)
    workload_run = WorkloadRun(spec, hang_timeout_s=60.0)
    events: list[RunEvent] = []
    reader = threading.Thread(target=lambda: events.extend(workload_run.events()), daemon=True)
    reader.start()
    deadline = time.monotonic() + 30
    while workload_run.pid is None:  # the child exists: it is starting up right now
        assert time.monotonic() < deadline and reader.is_alive()
        time.sleep(0.001)
    os.kill(workload_run.pid, signal.SIGINT)
    reader.join(60)
    assert events and isinstance(events[-1], Result), events[-1:]
    assert_no_leftover(workload_run.pid)


def test_the_child_numbers_cuda_gpus_in_bus_order_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So gpuscope's process knows which GPU cuda:N is (measurement.targets) without CUDA."""
    facts = 'import os; return {"order": os.environ.get("CUDA_DEVICE_ORDER")}'
    path = workload_with_step(tmp_path, "order", "return 1", facts_body=facts)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    events, _ = run(path, "order", duration_s=0.1, warmup_s=0.0)
    assert isinstance(events[0], Started) and events[0].facts == {"order": "PCI_BUS_ID"}
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "FASTEST_FIRST")
    events, _ = run(path, "order", duration_s=0.1, warmup_s=0.0)
    assert isinstance(events[0], Started) and events[0].facts == {"order": "FASTEST_FIRST"}


def test_a_stop_during_setup_ends_it_saying_nothing_was_measured(tmp_path: Path) -> None:
    """A child sees a stop only between steps: one stopped while it sets up (a torch import
    and a model build take many seconds on a loaded machine) is killed after the grace, and
    says it measured nothing, not that it refused to stop."""
    path = workload_with_step(tmp_path, "slowsetup", "return 1", "import time; time.sleep(60)")
    catalog = find_workloads(plugin_files=[path], plugin_dirs=[], use_entry_points=False)
    workload_run = WorkloadRun(RunSpec(catalog.workloads["slowsetup"].ref, "cpu", {}))
    workload_run.stop(grace_s=0.5)  # as a user's stop right after the launch
    stopped = failed(list(workload_run.events()))
    assert stopped.kind is ErrorKind.STOPPED and stopped.phase is Phase.SETUP
    assert stopped.message == "stopped during setup, before it measured anything; killed"
    assert_no_leftover(workload_run.pid)
