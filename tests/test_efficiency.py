"""Efficiency arithmetic against a fake GPU with a scripted energy counter, and device mapping."""

from __future__ import annotations

import pytest

from gpuscope.measurement.peaks import peak_tflops
from gpuscope.measurement.result_cells import figure_cells
from gpuscope.measurement.run_result import build_result, compare
from gpuscope.measurement.targets import telemetry_for
from gpuscope.sampler import Sampler
from gpuscope.telemetry.discover import discover
from gpuscope.telemetry.model import EnergySource
from gpuscope.units import format_rate
from gpuscope.workloads.events import Result
from tests.fakes.fake_pynvml import FakeGpu, Ramp


def test_report_from_a_scripted_energy_counter(install_nvml, clock) -> None:
    install_nvml([FakeGpu(power=Ramp(600.0))], clock=clock)
    with discover(["nvidia"]) as found:
        sampler = Sampler(found.devices, interval_s=0.1, clock=clock)
        with sampler.window("run") as window:
            for _ in range(100):  # 10 s at 600 W: 6000 J from the counter
                clock.advance(0.1)
                sampler.tick()
        info = found.devices[0].info
    flops = 7.0e15  # 700 TFLOP/s for 10 s
    result = Result(flops, flops, 10.0, 1000)
    report = build_result(
        "gemm",
        "cuda:0",
        "FLOP",
        {"dtype": "bf16"},
        result,
        window.results["nvidia:0"],
        info,
        info.name,
    )
    assert report.energy_j == pytest.approx(6000.0, abs=0.01)
    assert report.avg_power_w == pytest.approx(600.0, rel=1e-6)
    assert report.energy_source is EnergySource.COUNTER
    assert report.throughput == pytest.approx(7.0e14)
    assert report.tflops == pytest.approx(700.0)
    assert report.work_per_joule == pytest.approx(7.0e14 / 600.0)  # FLOP per joule
    assert report.pct_of_peak == pytest.approx(100 * 700.0 / 989.4)  # H100 SXM bf16 dense
    assert report.telemetry_device == "nvidia:0" and report.energy_note is None


def test_no_energy_is_none_with_a_reason() -> None:
    result = Result(100.0, None, 2.0, 10)
    report = build_result("cnn", "cpu", "images", {}, result, None, None, None)
    assert report.throughput == 50.0
    assert report.energy_j is None and report.work_per_joule is None and report.pct_of_peak is None
    assert report.tflops is None
    assert report.energy_note == "no telemetry device matched this torch device"


def test_a_run_stopped_before_it_measured_has_no_figures_not_zero() -> None:
    """Issue 21: it was reported as 0 FLOP/s in bench, JSON, the UI, the CSV and the report."""
    stopped = Result(0.0, None, 0.0, 0, stopped_early=True)
    report = build_result("gemm", "cpu", "FLOP", {"dtype": "fp32"}, stopped, None, None, "cpu")
    assert report.throughput is None and report.work_per_joule is None and report.tflops is None
    assert report.energy_note == "stopped before it measured anything"
    cells = figure_cells(report)
    assert cells["throughput"] == "n/a" and cells["device"] == "cpu (stopped)"
    measured = build_result(
        "gemm", "cuda:0", "FLOP", {}, Result(1.0, None, 1.0, 1), None, None, None
    )
    assert compare(report, measured).speedup is None and compare(measured, report).speedup is None


def test_comparison_ratios() -> None:
    slow = build_result("x", "cpu", "images", {}, Result(10.0, None, 1.0, 1), None, None, None)
    fast = build_result("x", "cuda:0", "images", {}, Result(400.0, None, 1.0, 1), None, None, None)
    comparison = compare(slow, fast)
    assert comparison.speedup == pytest.approx(40.0)
    assert comparison.efficiency_ratio is None  # needs energy on both sides


@pytest.mark.parametrize(
    ("params", "pct"),
    [
        ({"mode": "train", "precision": "bf16"}, 100 * 98.0 / 989.4),  # a model at bf16 autocast
        ({"mode": "train", "precision": "fp16"}, 100 * 98.0 / 989.4),
        ({"mode": "train", "precision": "fp32"}, None),  # cuDNN may run it as TF32: no peak
        ({"dtype": "fp32"}, 100 * 98.0 / 66.9),  # a GEMM says its dtype
    ],
)
def test_a_model_is_held_against_the_peak_of_its_precision(params, pct) -> None:  # type: ignore[no-untyped-def]
    """ResNet-50 and the LSTM name their dtype ``precision``: their % of peak was always n/a."""
    result = Result(4000.0, 98.0e12, 1.0, 10)  # 98 TFLOP/s
    report = build_result(
        "cnn", "cuda:0", "images", params, result, None, None, "NVIDIA H100 80GB HBM3"
    )
    assert report.pct_of_peak == (None if pct is None else pytest.approx(pct))


def test_peaks_lookup() -> None:
    assert peak_tflops("NVIDIA H100 80GB HBM3", "fp8") == 1978.9
    assert peak_tflops("NVIDIA H100 PCIe", "bf16") == 756.0
    assert peak_tflops("AMD Instinct MI300X", "fp16") == 1307.4
    assert peak_tflops("NVIDIA A100-SXM4-80GB", "fp8") is None  # no fp8 on A100
    assert peak_tflops("Some Future GPU", "bf16") is None
    assert peak_tflops("Intel Xeon", None) is None


def test_torch_device_maps_to_telemetry_by_uuid_then_index(install_nvml) -> None:
    install_nvml([FakeGpu(uuid="GPU-aaaa"), FakeGpu(uuid="GPU-bbbb")])
    with discover(["nvidia", "cpu"]) as found:
        # CUDA_VISIBLE_DEVICES=1: torch's cuda:0 is NVML's GPU 1, found by UUID
        by_uuid = telemetry_for("cuda:0", "bbbb", found)
        by_index = telemetry_for("cuda:1", None, found)
        cpu = telemetry_for("cpu", None, found)
    assert by_uuid is not None and by_uuid.device_id == "nvidia:1"
    assert by_index is not None and by_index.device_id == "nvidia:1"
    assert cpu is not None and cpu.device_id == "cpu"


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (7.74e14, "FLOP", "774 TFLOP/s"),
        (3981.4, "images", "3.98 kimages/s"),
        (12.5, "tokens", "12.5 tokens/s"),
    ],
)
def test_format_rate(value: float, unit: str, text: str) -> None:
    assert format_rate(value, unit) == text
