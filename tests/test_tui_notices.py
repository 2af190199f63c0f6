"""What the app tells the user about runs and sweeps (``tui.notices``), without a terminal."""

from __future__ import annotations

from gpuscope.measurement.sweep import PointStatus, Sweep, SweepPoint, SweepRun
from gpuscope.telemetry.model import DeviceInfo, Vendor
from gpuscope.tui.notices import Notice, SweepEnds, run_notice
from gpuscope.workloads.events import ErrorKind, Failed, Result
from tests.compare_runs import failed, measured

GPU = DeviceInfo("nvidia:0", Vendor.NVIDIA, 0, "Test GPU")


def test_a_run_is_told_once_done_or_failed_and_a_stop_asked_for_is_no_news() -> None:
    done = measured("gemm", "cuda:0", GPU, 1e12, 500.0, {"size": 256})
    assert run_notice(done, Result(1.0, 1.0, 1.0, 1)) == Notice("gemm on cuda:0 done")
    oom = failed("gemm", "cuda:0", {"size": 65536}, "CUDA out of memory")
    told = run_notice(oom, Failed(ErrorKind.DEVICE_OOM, "CUDA out of memory"))
    assert told is not None and told.severity == "error"
    assert told.text.startswith("gemm on cuda:0 failed: ") and "CUDA out of memory" in told.text
    assert run_notice(oom, Failed(ErrorKind.STOPPED, "stopped")) is None


def test_a_sweeps_points_are_not_told_its_end_once() -> None:
    walk = SweepRun("gemm", Sweep("size", (256,), "256"), ("cuda:0",))
    point = measured("gemm", "cuda:0", GPU, 1e12, 500.0, {"size": 256})
    point.swept = "size"
    assert run_notice(point, Result(1.0, 1.0, 1.0, 1)) is None
    ends = SweepEnds()
    assert ends.newly_ended([walk]) == []  # not finished yet
    walk.record(SweepPoint("cuda:0", 256, PointStatus.MEASURED, point.result))
    (told,) = ends.newly_ended([walk])
    assert told.text.startswith("sweep gemm size done: 1 measured")
    assert ends.newly_ended([walk]) == []
