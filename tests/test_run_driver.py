"""Issue 23, item 1: runs are driven in one place (``measurement.run_driver``), by bench, suite
and the session alike: a run stopped before its turn never starts a child, gpuscope's own
failure fails the run and not the caller, and one stop reaches every sweep and run."""

from __future__ import annotations

from typing import Any

from gpuscope.measurement.measured_run import MeasuredRun, RunState, new_run
from gpuscope.measurement.run_driver import RunDriver
from gpuscope.measurement.run_params import RunParams
from gpuscope.measurement.sweep import PointStatus, Sweep
from gpuscope.measurement.targets import RunTarget
from gpuscope.sampler import Sampler
from gpuscope.simulated.devices import SimulatedCpu, demo_gpus
from gpuscope.simulated.runs import SimulatedRun
from gpuscope.telemetry.discover import Discovery
from gpuscope.workloads.api import ParamValue
from gpuscope.workloads.events import ErrorKind, Failed, Result, RunEvent
from gpuscope.workloads.registry import bundled_workloads
from tests.conftest import FakeClock

GEMM = bundled_workloads().workloads["gemm"]


def driver(made: list[Any], heard: list[RunEvent]) -> RunDriver:
    gpu = demo_gpus(1000.0)[0]
    found = Discovery(devices=[gpu, SimulatedCpu(1000.0)])
    sampler = Sampler(found.devices, 0.5, clock=FakeClock(1000.0))

    def factory(spec: Any, hang_timeout_s: float | None) -> SimulatedRun:
        made.append(spec)
        if spec.params["size"] == 13:
            raise RuntimeError("a bug of gpuscope's own")
        return SimulatedRun(spec, gpu, progress_period_s=0.01)

    return RunDriver(sampler, found, lambda run, event: heard.append(event), factory)


def run(size: int, device: str = "cuda:0") -> MeasuredRun:
    params = RunParams({"dtype": "fp32", "size": size})
    return new_run(GEMM, RunTarget(device), params, duration_s=0.05, warmup_s=0.0)


def test_runs_in_turn_a_stopped_one_never_starts_and_a_bug_fails_only_its_run() -> None:
    made: list[Any] = []
    heard: list[RunEvent] = []
    runs = [run(64), run(13), run(128)]
    runs[2].stop()  # stopped before its turn
    drive = driver(made, heard)
    drive.add(runs)
    drive.drive_in_turn(runs)
    assert [spec.params["size"] for spec in made] == [64, 13]  # no child for the stopped one
    assert runs[0].result is not None and isinstance(heard[-3], Result)
    assert runs[1].error is not None and "gpuscope could not drive it" in runs[1].error.message
    assert "a bug of gpuscope's own" in runs[1].error.traceback  # what --debug prints
    assert runs[2].error is not None and runs[2].error.kind is ErrorKind.STOPPED
    assert isinstance(heard[-1], Failed) and all(r.finished for r in runs)
    assert drive.runs == runs and drive.stop() == 0  # nothing left running


def test_a_sweep_walks_each_target_in_turn_and_one_stop_ends_it() -> None:
    made: list[Any] = []
    drive = driver(made, [])
    sweep_run = drive.new_sweep("gemm", Sweep("size", (32, 64)), ("cuda:0", "cpu"))
    seen: list[tuple[str, ParamValue]] = []

    def make_run(target: RunTarget, value: ParamValue) -> MeasuredRun:
        seen.append((target.torch_device, value))
        return run(int(value), target.torch_device)

    def stop_after_first(point: MeasuredRun) -> None:
        drive.drive(point)
        assert drive.stop() == 0  # the point had ended: no run left to ask
        assert point.state is RunState.DONE

    targets = [RunTarget("cuda:0"), RunTarget("cpu")]
    drive.walk(sweep_run, targets, make_run, stop_after_first)
    assert seen == [("cuda:0", 32)]  # stopped: no point started after it
    assert [(p.device, p.value, p.status) for p in sweep_run.points] == [
        ("cuda:0", 32, PointStatus.MEASURED),
        ("cuda:0", 64, PointStatus.STOPPED),
        ("cpu", 32, PointStatus.STOPPED),
        ("cpu", 64, PointStatus.STOPPED),
    ]
    assert drive.sweeps == [sweep_run] and [r.device for r in drive.runs] == ["cuda:0"]
