"""Sweeps: value lists and ranges parsed as the parameter parses them, and the memory
boundary that skips larger values on the device that ran out."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from gpuscope.measurement.measured_run import MeasuredRun, RunState
from gpuscope.measurement.sweep import (
    PointStatus,
    Sweep,
    SweepBoundary,
    SweepPoint,
    SweepRun,
    parse_sweep,
)
from gpuscope.workloads.api import Param, WorkloadError
from gpuscope.workloads.events import ErrorKind, Failed
from gpuscope.workloads.registry import find_workloads
from tests.compare_runs import measured

PARAMS = (
    Param("size", 1024, minimum=16),
    Param("scale", 1.0),
    Param("dtype", "fp32", choices=("fp32", "bf16")),
)


@pytest.mark.parametrize(
    ("spec", "values"),
    [
        ("size=512,128,256", (128, 256, 512)),  # smallest first
        ("size=256..8192x2", (256, 512, 1024, 2048, 4096, 8192)),
        ("size=256..1000x2", (256, 512)),  # stops within the end
        ("--size=16..64+16", (16, 32, 48, 64)),
        ("scale=0.5..2x2", (0.5, 1.0, 2.0)),
        ("dtype=bf16,fp32", ("bf16", "fp32")),  # not a number: as given
        ("size=16..20x1.1", (16, 18, 19)),  # an int range with a small factor: no repeats
        ("scale=0.1..0.5+0.1", (0.1, 0.2, 0.3, 0.4, 0.5)),  # not 0.30000000000000004
    ],
)
def test_values_and_ranges(spec: str, values: tuple[object, ...]) -> None:
    sweep = parse_sweep(spec, PARAMS)
    assert sweep.values == values and sweep.param == spec.split("=")[0].lstrip("-")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("size", "--sweep wants NAME=V1,V2"),
        ("batch=1,2", "no parameter 'batch' (parameters: size, scale, dtype, workers)"),
        ("size=8,16", "size must be at least 16"),
        ("size=64,sixty", "size must be int, got 'sixty'"),
        ("dtype=fp8", "dtype must be one of"),
        ("size=64..16x2", "the range must grow"),
        ("size=16..64x1", "the range must grow"),
        ("dtype=a..bx2", "a range needs a number parameter"),
        ("size=16,16", "listed twice"),
        ("size=16..100000+1", "more than 64 steps"),
        ("size=16..1024x1.01", "more than 64 steps"),  # not cut short in silence
        # ranges that never grow: each spun forever (issue 21)
        ("workers=0..256x2", "must start above 0"),
        ("size=16..8192x1.0000001", "more than 64 steps"),  # an int that rounds to itself
        ("scale=1e20..2e20+1", "too small to change"),  # below the float's precision
        ("scale=1..2x1.0000000000000001", "the range must grow"),  # 1.0 as a float
    ],
)
def test_bad_sweeps_say_why_in_one_line(spec: str, message: str) -> None:
    def parse() -> None:
        with pytest.raises(WorkloadError, match=None) as raised:
            parse_sweep(spec, (*PARAMS, Param("workers", 0, minimum=0)))
        caught.append(str(raised.value))

    caught: list[str] = []
    worker = threading.Thread(target=parse, daemon=True)
    worker.start()
    worker.join(5.0)  # a range that never ends must fail this test, not hang it
    assert caught, f"parse_sweep({spec!r}) did not return within 5 s"
    assert message in caught[0] and "\n" not in caught[0]


def test_a_value_that_ran_out_of_memory_skips_the_larger_ones_on_that_device_only() -> None:
    boundary = SweepBoundary()
    boundary.mark_oom("cuda:0", 4096)
    assert boundary.skip_reason("cuda:0", 2048) is None
    assert boundary.skip_reason("cuda:0", 4096) is None  # it is the point that ran out
    assert boundary.skip_reason("cuda:0", 8192) == (
        "larger than 4096, which ran out of memory on cuda:0"
    )
    assert boundary.skip_reason("cpu", 8192) is None
    boundary.mark_oom("cuda:0", 2048)  # a smaller one: the boundary moves down
    assert boundary.skip_reason("cuda:0", 4096) is not None
    boundary.mark_oom("cuda:1", "bf16")  # not a number: nothing to skip by
    assert boundary.skip_reason("cuda:1", "fp32") is None


def test_a_point_as_json_names_its_value_under_the_parameter() -> None:
    point = SweepPoint("cpu", 512, PointStatus.OOM, note="MemoryError")
    assert point.as_dict("size") == {
        "device": "cpu", "size": 512, "status": "oom", "note": "MemoryError", "report": None,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: "
                      "can't allocate memory: you tried to allocate 68719476736 bytes."), "oom"),
        (MemoryError("no room"), "oom"),
        (RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate"),
         "device_oom"),
        (RuntimeError("shape mismatch"), "exception"),
    ],
)  # fmt: skip
def test_the_child_knows_an_allocator_failure_for_running_out_of_memory(
    error: BaseException, kind: str, tmp_path: Path
) -> None:
    """torch's CPU allocator raises RuntimeError, not MemoryError: a sweep's boundary all the
    same (found by a review: a CPU sweep recorded it as failed and ran the larger sizes). The
    error is raised in a child's setup, as a workload's would be."""
    from gpuscope.workloads.child import RunSpec
    from gpuscope.workloads.runner import WorkloadRun
    from tests.plugin_files import workload_with_step

    plugin = workload_with_step(tmp_path, "fails", "return 1", f"raise {error!r}")
    catalog = find_workloads(plugin_files=[plugin], plugin_dirs=[], use_entry_points=False)
    spec = RunSpec(catalog.workloads["fails"].ref, "cpu", {}, duration_s=0.1, warmup_s=0.0)
    *_, last = WorkloadRun(spec, hang_timeout_s=60.0).events()
    assert isinstance(last, Failed) and last.kind.value == kind, last


# -- SweepRun: the walk that bench --sweep and the UI share ----------------------------------

GEMM = find_workloads(plugin_dirs=[], use_entry_points=False).workloads["gemm"]


def _walk(
    devices: tuple[str, ...], ends: Callable[[MeasuredRun], None], values: tuple[int, ...]
) -> tuple[SweepRun, list[MeasuredRun]]:
    """Walk each device in turn; ``ends`` decides how each run ends (its report or error)."""
    walk = SweepRun("gemm", Sweep("size", values, "given"), devices)
    driven: list[MeasuredRun] = []

    def make_run(device: str, value: object) -> MeasuredRun:
        return MeasuredRun(GEMM, device, {"dtype": "fp32", "size": value}, swept="size")

    def drive(run: MeasuredRun) -> None:
        driven.append(run)
        ends(run)

    for device in devices:
        walk.walk_device(device, functools.partial(make_run, device), drive)
    return walk, driven


def _measured(run: MeasuredRun, stopped: bool = False) -> None:
    size = run.params["size"]
    run.result = measured(
        "gemm", run.device, None, 1e9 * size, 100.0, run.params, stopped=stopped
    ).result


def test_a_sweep_runs_each_value_in_turn_and_stops_a_device_at_its_memory_boundary() -> None:
    def ends(run: MeasuredRun) -> None:
        if run.device == "cuda:0" and run.params["size"] >= 1024:
            run.fail(Failed(ErrorKind.DEVICE_OOM, "CUDA out of memory. Tried to allocate 4 GiB"))
        else:
            _measured(run)

    walk, driven = _walk(("cpu", "cuda:0"), ends, (256, 512, 1024, 2048))
    statuses = [(p.device, p.value, p.status.value) for p in walk.points]
    assert statuses == [
        ("cpu", 256, "measured"), ("cpu", 512, "measured"), ("cpu", 1024, "measured"),
        ("cpu", 2048, "measured"), ("cuda:0", 256, "measured"), ("cuda:0", 512, "measured"),
        ("cuda:0", 1024, "oom"), ("cuda:0", 2048, "skipped"),
    ]  # fmt: skip
    assert len(driven) == 7 and walk.runs == driven  # the skipped value never ran
    assert walk.points[-1].note == "larger than 1024, which ran out of memory on cuda:0"
    assert walk.points[-2].note and "CUDA out of memory" in walk.points[-2].note
    assert walk.oom_at("cuda:0") == 1024 and walk.oom_at("cpu") is None
    assert walk.finished and walk.total == 8
    assert driven[6].label == "gemm size=1024 on cuda:0"  # a point's run names its value
    assert walk.points[0].result is not None and walk.points[0].result.params["size"] == 256


def test_a_kill_by_sigkill_is_the_boundary_and_any_other_failure_is_not() -> None:
    def ends(run: MeasuredRun) -> None:
        size = run.params["size"]
        if size == 512:
            run.fail(Failed(ErrorKind.EXCEPTION, "shape mismatch"))
        elif size == 2048:
            run.fail(Failed(ErrorKind.CRASHED, "the workload died: killed by SIGKILL"))
        else:
            _measured(run)

    walk, _ = _walk(("cpu",), ends, (256, 512, 1024, 2048, 4096))
    assert [p.status.value for p in walk.points] == [
        "measured", "failed", "measured", "oom", "skipped",
    ]  # fmt: skip
    assert walk.points[1].note == "shape mismatch"
    assert walk.points[3].note and walk.points[3].note.endswith(
        "(most likely the kernel's OOM killer)"
    )


def test_a_stopped_sweep_keeps_what_ran_and_starts_nothing_more() -> None:
    walk: SweepRun | None = None
    asked_to_stop: list[bool] = []

    def ends(run: MeasuredRun) -> None:
        assert walk is not None
        asked_to_stop.append(run.stop_requested)
        if run.params["size"] == 512:  # the user stops during the second point
            walk.stop()
            _measured(run, stopped=True)
        else:
            _measured(run)

    walk = SweepRun("gemm", Sweep("size", (256, 512, 1024), ""), ("cpu", "cuda:0"))
    for device in walk.devices:
        walk.walk_device(
            device,
            lambda v, d=device: MeasuredRun(GEMM, d, {"dtype": "fp32", "size": v}, swept="size"),
            ends,
        )
    assert [(p.device, p.value, p.status.value) for p in walk.points] == [
        ("cpu", 256, "measured"), ("cpu", 512, "stopped"), ("cpu", 1024, "stopped"),
        ("cuda:0", 256, "stopped"), ("cuda:0", 512, "stopped"), ("cuda:0", 1024, "stopped"),
    ]  # fmt: skip
    assert len(walk.runs) == 2 and walk.finished and walk.stopped
    assert asked_to_stop == [False, False]  # both started before the stop
    assert walk.points[1].result is not None  # the partial result of the point it stopped in


def test_a_point_made_as_the_sweep_stops_is_stopped_before_it_starts() -> None:
    walk = SweepRun("gemm", Sweep("size", (256,), ""), ("cpu",))
    seen: list[bool] = []

    def make_run(value: object) -> MeasuredRun:
        walk.stop()  # between the check and the run: the race stop_runs must not lose
        return MeasuredRun(GEMM, "cpu", {"dtype": "fp32", "size": value}, swept="size")

    def drive(run: MeasuredRun) -> None:
        seen.append(run.stop_requested)
        run.cancel()

    walk.walk_device("cpu", make_run, drive)
    assert seen == [True] and walk.points[0].status is PointStatus.STOPPED


def test_a_run_that_ended_is_a_settled_point_before_its_walk_records_it() -> None:
    """A result arrives before the child has exited (up to 5 s): a save in between must find
    the point in the sweep, not lose it (found by a review: it went to the plain results)."""
    walk = SweepRun("gemm", Sweep("size", (256, 512), ""), ("cpu",))
    done = MeasuredRun(GEMM, "cpu", {"dtype": "fp32", "size": 256}, swept="size")
    _measured(done)
    done.state = RunState.DONE
    running = MeasuredRun(GEMM, "cpu", {"dtype": "fp32", "size": 512}, swept="size")
    walk.runs += [done, running]
    (point,) = walk.settled()
    assert point.value == 256 and point.status is PointStatus.MEASURED and point.result
    assert walk.points == []  # settled() only reads


def test_the_points_of_a_sweep_saved_while_it_ran_say_so_in_the_report(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gpuscope.report.document import render_report
    from gpuscope.report.inputs import load_inputs
    from gpuscope.sinks.results import sweep_json

    run = MeasuredRun(GEMM, "cpu", {"dtype": "fp32", "size": 256}, swept="size")
    _measured(run)
    point = SweepPoint("cpu", 256, PointStatus.MEASURED, run.result)
    sweep = Sweep("size", (256, 512, 1024))
    for finished in (True, False):
        path = tmp_path / f"sweep-{finished}.json"
        path.write_text(sweep_json("gemm", sweep, [point], finished))
        (loaded,) = load_inputs([path])
        page = render_report([loaded], tmp_path / f"report-{finished}.html").text
        said = "Saved while the sweep ran, with the points so far (1) of 3 values" in page
        assert said is not finished
