"""The achieved-throughput estimate from pipe activity: each busy pipe at its datasheet peak."""

from __future__ import annotations

import pytest

from gpuscope.measurement.achieved import achieved_estimate, no_estimate_reason
from gpuscope.telemetry.model import DeviceInfo, Reading, Vendor

H100 = DeviceInfo("nvidia:0", Vendor.NVIDIA, 0, "NVIDIA H100 80GB HBM3", activity_counters=True)


def reading(**fields: float | str | None) -> Reading:
    return Reading(time_s=1.0, wall_time_s=1.0, **fields)  # type: ignore[arg-type]


def test_a_bf16_gemm_reads_as_hmma_activity_times_the_dense_peak() -> None:
    estimate = achieved_estimate(
        reading(tensor_active_pct=70.0, tensor_hmma_pct=70.0, fp32_active_pct=2.0, power_w=650.0),
        H100,
    )
    assert estimate is not None
    expected = 0.70 * 989.4 + 0.02 * 66.9
    assert estimate.tflops == pytest.approx(expected)
    assert estimate.gflop_per_j == pytest.approx(expected * 1000 / 650.0)
    assert estimate.method.startswith("estimate:")
    assert "HMMA 989.4" in estimate.method and "fp32 66.9" in estimate.method


def test_fp64_pipes_use_their_own_peaks_and_integer_mma_is_not_counted() -> None:
    estimate = achieved_estimate(
        reading(
            tensor_hmma_pct=0.0, tensor_dfma_pct=50.0, fp64_active_pct=10.0, tensor_imma_pct=90.0
        ),
        H100,
    )
    assert estimate is not None
    assert estimate.tflops == pytest.approx(0.5 * 66.9 + 0.1 * 33.5)
    assert estimate.gflop_per_j is None  # no power read: no work per joule, not 0


def test_any_tensor_activity_stands_in_for_hmma_and_says_so() -> None:
    estimate = achieved_estimate(reading(tensor_active_pct=50.0, power_w=400.0), H100)
    assert estimate is not None
    assert estimate.tflops == pytest.approx(0.5 * 989.4)
    assert "any tensor pipe as HMMA" in estimate.method


def test_no_activity_or_an_unknown_part_gives_no_figure_and_a_reason() -> None:
    idle_note = reading(activity_note="GPM not sampled: nothing shows it", power_w=70.0)
    assert achieved_estimate(idle_note, H100) is None
    assert no_estimate_reason(idle_note, H100) == "GPM not sampled: nothing shows it"
    assert "no pipe activity" in no_estimate_reason(reading(), H100)
    other = DeviceInfo("nvidia:0", Vendor.NVIDIA, 0, "NVIDIA GeForce RTX 5090")
    busy = reading(tensor_hmma_pct=40.0, power_w=300.0)
    assert achieved_estimate(busy, other) is None
    assert no_estimate_reason(busy, other) == "no datasheet peaks known for NVIDIA GeForce RTX 5090"


def test_an_idle_gpu_achieves_zero_not_nothing() -> None:
    estimate = achieved_estimate(
        reading(tensor_hmma_pct=0.0, fp32_active_pct=0.0, power_w=70.0), H100
    )
    assert estimate is not None and estimate.tflops == 0.0 and estimate.gflop_per_j == 0.0


def test_without_any_tensor_figure_there_is_no_estimate_rather_than_a_tiny_one() -> None:
    """A GEMM whose tensor pipes read n/a must not show as 1.3 TFLOP/s from its fp32 pipe."""
    gemm = reading(fp32_active_pct=2.0, sm_active_pct=90.0, power_w=650.0)
    assert achieved_estimate(gemm, H100) is None
    assert no_estimate_reason(gemm, H100).startswith("no tensor-pipe activity read")
