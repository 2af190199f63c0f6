"""Issue 21, item 6: a measured window that others shared says so, with who and how much.

In --demo a simulated training job kept cuda:0 98 % busy and every GEMM there reported 690 W and
603 MFLOP/J at 0.6 % of peak; on a real machine another user's job, or other load on a shared
VM, skews a figure the same way, silently."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from gpuscope.measurement.sharing import SHARED_PCT, cpu_sharing, gpu_sharing
from gpuscope.telemetry.host_load import HostCpu
from gpuscope.telemetry.model import ProcessUsage, Reading, Sample, Vendor
from tests.waiting import wait_until


def cpu_at(t: float, busy: float, steal: float, **processes: float) -> HostCpu:
    listed = {int(pid.removeprefix("p")): (spent, f"proc{pid}") for pid, spent in processes.items()}
    return HostCpu(t, busy, steal, 2, listed)


def test_on_the_cpu_others_are_the_busy_time_less_the_runs_and_gpuscopes() -> None:
    start = cpu_at(0.0, 100.0, 5.0, p10=50.0, p11=0.0, p12=3.0)
    end = cpu_at(10.0, 118.0, 8.0, p10=59.0, p11=1.0, p12=11.0, p13=0.01)
    sharing = cpu_sharing(start, end, ours={10, 11}, device="cpu")
    assert sharing.share_pct == pytest.approx(100 * 8.0 / 20.0)  # 18 s busy, 10 of it ours
    assert [(o.pid, round(o.share_pct or 0)) for o in sharing.others] == [(12, 40)]
    assert sharing.steal_pct == pytest.approx(15.0) and sharing.shared
    assert sharing.note() == (
        "shared: others used 40% of cpu (pid 12 procp12 40%); the hypervisor gave 15% to "
        "other VMs (steal)"
    )
    gone_end = cpu_at(10.0, 118.0, 5.0, p10=59.0, p11=1.0, p12=4.0)
    assert cpu_sharing(start, gone_end, {10, 11}, "cpu").note() == (
        "shared: others used 40% of cpu (pid 12 procp12 5%); 35% by processes that ended "
        "before it did"  # 8 s of others', 1 of them named: the rest ended in the window
    )
    alone = cpu_sharing(
        start, cpu_at(10.0, 110.5, 5.0, p10=59.0, p11=1.0, p12=3.0), {10, 11}, "cpu"
    )
    assert not alone.shared and alone.note() is None and alone.share_pct < SHARED_PCT  # type: ignore[operator]


def sample(*processes: ProcessUsage) -> Sample:
    return Sample("nvidia:0", Vendor.NVIDIA, Reading(0.0, 0.0, processes=processes))


def test_on_a_gpu_others_are_the_processes_the_driver_lists_that_are_not_the_run() -> None:
    ours = {os.getpid()}
    run = ProcessUsage(os.getpid(), "python", 2048.0, "C", 50.0)
    job = ProcessUsage(1, "train.py", 61440.0, "C", 48.0)  # pid 1 is visible in any namespace
    sharing = gpu_sharing([sample(run, job), sample(run, job)], ours, "nvidia:0")
    assert sharing.share_pct == pytest.approx(48.0) and sharing.shared
    assert sharing.note() == "shared: others used 48% of nvidia:0 (pid 1 train.py 48% 60.0 GiB)"
    idle = ProcessUsage(1, "train.py", 512.0, "C", 0.0)  # there, but idle: not worth a note
    assert not gpu_sharing([sample(run, idle)], ours, "nvidia:0").shared


def test_where_the_driver_gives_no_share_another_process_is_still_said() -> None:
    """The H100 on driver 580 says NotSupported for per-process utilization: n/a, never 0."""
    run = ProcessUsage(os.getpid(), "python", 2048.0, "C")
    job = ProcessUsage(1, "train.py", 61440.0, "C")
    sharing = gpu_sharing([sample(run, job)], {os.getpid()}, "nvidia:0")
    assert sharing.share_pct is None and sharing.shared
    assert sharing.note() == (
        "shared: 1 other process(es) on nvidia:0, their share n/a (pid 1 train.py 60.0 GiB)"
    )
    assert not gpu_sharing([sample(run)], {os.getpid()}, "nvidia:0").shared


def test_in_a_container_the_driver_s_pids_name_nothing_here_and_one_of_them_is_the_run() -> None:
    """NVML lists the host's pids; inside a container none of them is the run's. The run is
    then the one whose memory is nearest its own (allocator peak plus a CUDA context)."""
    ours = {os.getpid()}
    alone = gpu_sharing(
        [sample(ProcessUsage(777_001, None, 1524.0, "C", 90.0))], ours, "gpu", 1024.0
    )
    assert not alone.shared and alone.unknown is not None and alone.others == ()
    run = ProcessUsage(777_001, None, 8692.0, "C", 60.0)  # 8 GiB held by the run, + context
    job = ProcessUsage(777_002, None, 40960.0, "C", 35.0)
    two = gpu_sharing([sample(run, job)], ours, "gpu", 8192.0)
    assert [o.pid for o in two.others] == [777_002] and two.share_pct == pytest.approx(35.0)


def test_a_process_of_unknown_share_beside_one_of_known_share_is_still_said() -> None:
    run = ProcessUsage(os.getpid(), "python", 2048.0, "C", 90.0)
    known = ProcessUsage(1, "idle.py", 512.0, "C", 2.0)
    unknown = ProcessUsage(2, "job.py", 4096.0, "C")
    sharing = gpu_sharing([sample(run, known, unknown)], {os.getpid()}, "nvidia:0")
    assert sharing.share_pct == pytest.approx(2.0) and sharing.shared
    assert sharing.note() is not None and "and 1 more an unknown share" in sharing.note()  # type: ignore[operator]


def test_the_cpu_counted_is_the_cores_gpuscope_may_run_on(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Under taskset or a cpuset, load on other cores is not others' share of ours."""
    from collections import namedtuple

    from gpuscope.telemetry import host_load

    times = namedtuple("times", "user system idle steal")
    cores = [times(10.0, 0.0, 0.0, 0.0), times(0.0, 0.0, 10.0, 0.0), times(5.0, 0.0, 5.0, 1.0)]
    monkeypatch.setattr(host_load.psutil, "cpu_times", lambda percpu: cores)
    monkeypatch.setattr(host_load.os, "cpu_count", lambda: 3)
    monkeypatch.setattr(host_load.os, "sched_getaffinity", lambda pid: {1, 2})
    counters = host_load.host_cpu()
    assert counters.cores == 2 and counters.busy_s == pytest.approx(5.0)
    assert counters.steal_s == pytest.approx(1.0)


def test_a_demo_gemm_beside_the_simulated_training_job_is_marked_shared(tmp_path: Path) -> None:
    from gpuscope.session import Launch, Session, SessionSetup
    from gpuscope.simulated.devices import SimulatedCpu, demo_gpus
    from gpuscope.simulated.runs import SimulatedRun
    from gpuscope.telemetry.discover import Discovery
    from gpuscope.workloads.registry import find_workloads

    start = time.monotonic()
    gpus = demo_gpus(start)
    gpus[0].process_shares = True  # a driver that samples processes (the demo's H100s do not)
    setup = SessionSetup(
        discover=lambda: Discovery(devices=[*gpus, SimulatedCpu(start)]),
        run_factory=lambda spec, _: SimulatedRun(spec, gpus[0], progress_period_s=0.05),
        find_catalog=lambda: find_workloads(plugin_dirs=[], use_entry_points=False),
        record_dir=tmp_path,
        interval_s=0.1,
    )
    session = Session(setup)
    session.probe()
    session.start()
    try:
        gemm = session.find_catalog().workloads["gemm"]
        (run,) = session.launch(Launch(gemm, {}, ("cuda:0",), 1.0, 0.2, False))
        wait_until(lambda: run.finished, "the run never finished")
    finally:
        session.close()
    assert run.result is not None and run.result.shared is not None
    assert run.result.shared.startswith("shared: others used ")
    assert "pid 4242 python" in run.result.shared
    assert 40 < (run.result.shared_pct or 0) < 60  # the job and the run split the GPU


def test_a_cpu_run_beside_a_busy_process_says_who_took_the_cpu(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A real CPU run (a workload that counts in Python: no torch to import) with a real
    competitor: the table, the JSON and the note say so."""
    from gpuscope.cli import main
    from tests.plugin_files import counting_workload

    counter = str(counting_workload(tmp_path))
    # a thread per core, each hashing with the GIL released: the busiest process here, even
    # beside other load (a CPU hog, other tests), so the note names it among the first
    spin = (
        "import hashlib, os, threading\n"
        "data = b'x' * (1 << 20)\n"
        "def spin():\n"
        "    while True: hashlib.sha256(data).digest()\n"
        "for _ in range(os.cpu_count() or 2): threading.Thread(target=spin).start()\n"
    )
    spinner = subprocess.Popen([sys.executable, "-c", spin])
    try:
        busy = psutil.Process(spinner.pid)
        wait_until(lambda: sum(busy.cpu_times()[:2]) > 0.1, "the spinner never spun")
        assert main(["bench", "counter", "--plugin", counter, "--device", "cpu",
                     "--duration", "1", "--warmup", "0", "--json"]) == 0  # fmt: skip
    finally:
        spinner.kill()
        spinner.wait()
    (report,) = json.loads(capsys.readouterr().out)["reports"]
    assert report["shared"] is not None and report["shared_pct"] >= SHARED_PCT, report
    assert f"pid {spinner.pid} python" in report["shared"]


def test_a_sweep_table_keeps_the_shared_mark(capsys) -> None:  # type: ignore[no-untyped-def]
    """Trial of issue 21: the sweep's table wrote the bare device over the marked one."""
    from dataclasses import replace

    from gpuscope.commands.bench_output import print_sweep
    from gpuscope.measurement.sweep import PointStatus, Sweep, SweepPoint
    from tests.compare_runs import measured

    run = measured("gemm", "cpu", None, 1e9, None, {"dtype": "fp32", "size": 64})
    assert run.result is not None
    shared = replace(run.result, shared="shared: others used 55% of cpu", shared_pct=55.0)
    points = [SweepPoint("cpu", 64, PointStatus.MEASURED, shared)]
    print_sweep("gemm", Sweep("size", (64,)), points, "table")
    assert "cpu (shared 55%)" in capsys.readouterr().out


def test_a_sweep_table_keeps_each_points_own_reason_for_no_energy(capsys) -> None:  # type: ignore[no-untyped-def]
    """New-user trial of issue 23: a sweep Ctrl-C'd at its second point said only that one's
    reason ("stopped before it measured anything") under the table, for the first point's row
    too, whose own reason (no RAPL) was gone."""
    from dataclasses import replace

    from gpuscope.commands.bench_output import print_sweep
    from gpuscope.measurement.sweep import PointStatus, Sweep, SweepPoint
    from tests.compare_runs import measured

    run = measured("gemm", "cpu", None, 1e9, None, {"dtype": "fp32", "size": 64})
    assert run.result is not None
    no_rapl = replace(run.result, energy_note="RAPL is not readable here")
    stopped = replace(run.result, energy_note="stopped before it measured anything")
    points = [
        SweepPoint("cpu", 64, PointStatus.MEASURED, no_rapl),
        SweepPoint("cpu", 128, PointStatus.MEASURED, stopped),
    ]
    print_sweep("gemm", Sweep("size", (64, 128)), points, "table")
    out = capsys.readouterr().out
    assert "no energy on cpu: RAPL is not readable here" in out  # the first row's, below
    assert "n/a: stopped before it measured anything" in out  # the second keeps its own
    assert "no energy on cpu: stopped" not in out
