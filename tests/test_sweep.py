"""Sweeps: value lists and ranges parsed as the parameter parses them, and the memory
boundary that skips larger values on the device that ran out."""

from __future__ import annotations

import pytest

from gpuscope.measurement.sweep import PointStatus, SweepBoundary, SweepPoint, parse_sweep
from gpuscope.workloads.api import Param, WorkloadError

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
    ],
)
def test_values_and_ranges(spec: str, values: tuple[object, ...]) -> None:
    sweep = parse_sweep(spec, PARAMS)
    assert sweep.values == values and sweep.param == spec.split("=")[0].lstrip("-")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("size", "--sweep wants NAME=V1,V2"),
        ("batch=1,2", "no parameter 'batch' (parameters: size, scale, dtype)"),
        ("size=8,16", "size must be at least 16"),
        ("size=64,sixty", "size must be int, got 'sixty'"),
        ("dtype=fp8", "dtype must be one of"),
        ("size=64..16x2", "the range must grow"),
        ("size=16..64x1", "the range must grow"),
        ("dtype=a..bx2", "a range needs a number parameter"),
        ("size=16,16", "listed twice"),
        ("size=16..100000+1", "more than 64 values"),
        ("size=16..1024x1.01", "more than 64 values"),  # not cut short in silence
    ],
)
def test_bad_sweeps_say_why_in_one_line(spec: str, message: str) -> None:
    with pytest.raises(WorkloadError, match=None) as raised:
        parse_sweep(spec, PARAMS)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_a_value_that_ran_out_of_memory_skips_the_larger_ones_on_that_device_only() -> None:
    boundary = SweepBoundary()
    boundary.ran_out("cuda:0", 4096)
    assert boundary.skip_reason("cuda:0", 2048) is None
    assert boundary.skip_reason("cuda:0", 4096) is None  # it is the point that ran out
    assert boundary.skip_reason("cuda:0", 8192) == (
        "larger than 4096, which ran out of memory on cuda:0"
    )
    assert boundary.skip_reason("cpu", 8192) is None
    boundary.ran_out("cuda:0", 2048)  # a smaller one: the boundary moves down
    assert boundary.skip_reason("cuda:0", 4096) is not None
    boundary.ran_out("cuda:1", "bf16")  # not a number: nothing to skip by
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
    error: BaseException, kind: str
) -> None:
    """torch's CPU allocator raises RuntimeError, not MemoryError: a sweep's boundary all the
    same (found by a review: a CPU sweep recorded it as failed and ran the larger sizes)."""
    from gpuscope.workloads.child import _failure

    assert _failure(error).kind.value == kind
