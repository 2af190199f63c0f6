"""The demo's simulated hardware obeys the physics of what it imitates (issue 10): rates from the
peak table times a measured efficiency, power within the limit, energy the integral of power, and
the same parameter checks as a real run."""

from __future__ import annotations

import itertools

import pytest

from gpuscope.measurement.peaks import peak_tflops
from gpuscope.simulated.devices import SimulatedGpu, demo_gpus, training_job
from gpuscope.simulated.runs import (
    GEMM_EFFICIENCY,
    SimulatedRun,
    simulated_facts,
    simulated_rate,
)
from gpuscope.workloads.child import RunSpec
from gpuscope.workloads.events import ErrorKind, Failed, Started
from gpuscope.workloads.gemm import DTYPES
from gpuscope.workloads.registry import WorkloadRef

H100 = "Simulated H100 80GB HBM3"


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_simulated_gemm_stays_below_its_dtypes_peak(dtype: str) -> None:
    rate, flops_per_unit = simulated_rate("gemm", {"dtype": dtype, "size": 8192}, H100)
    peak = peak_tflops(H100, dtype)
    assert peak is not None and flops_per_unit == 1.0
    share = rate / (peak * 1e12)
    assert 0.5 * GEMM_EFFICIENCY[dtype] < share <= GEMM_EFFICIENCY[dtype] < 1.0


def test_fp32_is_far_slower_than_bf16_and_a_tiny_gemm_is_launch_bound() -> None:
    fp32, _ = simulated_rate("gemm", {"dtype": "fp32", "size": 8192}, H100)
    bf16, _ = simulated_rate("gemm", {"dtype": "bf16", "size": 8192}, H100)
    assert fp32 < bf16 / 10  # fp32 reported 756 TFLOP/s ("% peak 1130.6") before
    tiny, _ = simulated_rate("gemm", {"dtype": "bf16", "size": 64}, H100)
    assert tiny < 0.01 * bf16


@pytest.mark.parametrize(
    ("workload", "params"),
    [
        ("cnn", {"mode": "train", "precision": "bf16", "batch": 256, "image_size": 224}),
        ("cnn", {"mode": "infer", "precision": "fp32", "batch": 32, "image_size": 224}),
        ("rnn", {"precision": "fp32", "batch": 64, "seq": 128, "hidden": 1024, "layers": 2,
                 "vocab": 10000}),
    ],
)  # fmt: skip
def test_simulated_models_stay_below_the_peak_they_run_at(
    workload: str, params: dict[str, object]
) -> None:
    rate, flops_per_unit = simulated_rate(workload, params, H100)
    dtype = {"bf16": "bf16", "fp32": "tf32"}[str(params["precision"])]
    assert 0 < rate * flops_per_unit < (peak_tflops(H100, dtype) or 0) * 1e12


def test_power_is_never_above_the_limit_and_energy_is_its_integral() -> None:
    gpu = SimulatedGpu(0, H100, 0.0, training_job)
    readings = [gpu.read(t / 10) for t in range(0, 1200)]
    assert all(r.power_w is not None and r.power_w <= r.power_limit_w for r in readings)  # type: ignore[operator]
    integral = sum(
        (a.power_w + b.power_w) / 2 * (b.time_s - a.time_s)  # type: ignore[operator]
        for a, b in itertools.pairwise(readings)
    )
    counted = readings[-1].energy_counter_j - readings[0].energy_counter_j  # type: ignore[operator]
    assert counted == pytest.approx(integral, rel=1e-5)  # readings show power to 0.1 W
    with pytest.raises(ValueError, match="limit"):
        SimulatedGpu(0, H100, 0.0, max_w=800.0, limit_w=700.0)


def _events(params: dict[str, object], module: str = "gpuscope.workloads.gemm") -> list[str]:
    gpu = demo_gpus(0.0)[0]
    qualname = {"gpuscope.workloads.gemm": "Gemm"}.get(module, "X")
    spec = RunSpec(WorkloadRef(qualname, module), "cuda:0", params, duration_s=0.2, warmup_s=0)
    return [
        e.message if isinstance(e, Failed) else type(e).__name__
        for e in SimulatedRun(spec, gpu, progress_period_s=0.1).events()
    ]


def test_a_simulated_run_refuses_what_a_real_one_refuses() -> None:
    assert _events({"dtype": "bf16", "size": -5}) == ["size must be at least 1, got -5"]
    assert _events({"dtype": "int4", "size": 64})[0].startswith("dtype must be one of")
    assert _events({"dtype": "bf16", "size": 64})[-1] == "Result"


def test_only_the_bundled_workloads_are_simulated() -> None:
    gpu = demo_gpus(0.0)[0]
    ref = WorkloadRef("Plugin", "gpuscope_plugin_x_spin", "/tmp/spin.py", "--plugin")
    (event,) = SimulatedRun(RunSpec(ref, "cuda:0", {}), gpu).events()
    assert isinstance(event, Failed) and event.kind is ErrorKind.USAGE
    assert "simulated GPUs run only the bundled gemm, cnn, rnn" in event.message


def test_a_simulated_cnn_reports_its_batch() -> None:
    """As the real CNN does (its facts): the compare view shows it."""
    gpu = demo_gpus(0.0)[0]
    ref = WorkloadRef("ResNet50", "gpuscope.workloads.cnn")
    spec = RunSpec(ref, "cuda:0", {}, duration_s=0.1, warmup_s=0)
    started = next(iter(SimulatedRun(spec, gpu).events()))
    assert isinstance(started, Started) and started.facts == {"simulated": True, "batch": 256}
    assert simulated_facts("cnn", {"batch": 64}) == {"batch": 64}
