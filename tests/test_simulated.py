"""The demo's simulated hardware obeys the physics of what it imitates (issue 10): rates from the
peak table times a measured efficiency, power within the limit, energy the integral of power, and
the same parameter checks as a real run."""

from __future__ import annotations

import itertools

import pytest

from gpuscope.measurement.peaks import peak_tflops
from gpuscope.simulated.devices import SimulatedGpu, demo_gpus, idle, training_job
from gpuscope.simulated.runs import (
    GEMM_EFFICIENCY,
    SimulatedRun,
    simulated_facts,
    simulated_rate,
)
from gpuscope.telemetry.gpm import FIRST_SAMPLE, NOT_WANTED
from gpuscope.telemetry.model import ACTIVITY_METRICS, ActivitySampling
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
    # the counter is read as an H100's is: about once a second, the reads between stale
    fresh = [r for r in readings if not r.energy_counter_stale]
    assert 115 <= len(fresh) <= 125
    until = readings.index(fresh[-1]) + 1
    integral = sum(
        (a.power_w + b.power_w) / 2 * (b.time_s - a.time_s)  # type: ignore[operator]
        for a, b in itertools.pairwise(readings[:until])
    )
    counted = fresh[-1].energy_counter_j - readings[0].energy_counter_j  # type: ignore[operator]
    assert counted == pytest.approx(integral, rel=1e-5)  # readings show power to 0.1 W
    edge = gpu.read(120.0, exact_energy=True)  # a window's edge reads it afresh
    assert not edge.energy_counter_stale and edge.energy_counter_j > fresh[-1].energy_counter_j  # type: ignore[operator]
    with pytest.raises(ValueError, match="limit"):
        SimulatedGpu(0, H100, 0.0, max_w=800.0, limit_w=700.0)


PERCENT = [m for m in ACTIVITY_METRICS if m.endswith("_pct")]


def test_simulated_gpm_follows_the_load_and_obeys_physics() -> None:
    """SIMULATED activity: sampled only while wanted (the first read has no interval yet), no
    percentage above 100 or above the GPU's utilization, no pipe busier than the SMs, tensor
    pipes idle without a tensor workload, and none at all on the simulated AMD card."""
    gpus = demo_gpus(0.0)
    nvidia, amd = gpus[0], gpus[2]
    assert isinstance(nvidia, ActivitySampling) and nvidia.info.activity_counters
    assert not amd.info.activity_counters
    assert nvidia.read(0.0).activity_note == NOT_WANTED
    for gpu in gpus:
        gpu.want_activity(True)
    assert nvidia.read(0.5).activity_note == FIRST_SAMPLE
    assert gpus[1].read(0.5).activity_note == FIRST_SAMPLE
    plain = SimulatedGpu(5, H100, 0.0, lambda t: 0.9, nvlink=False)  # no tensor work, PCIe card
    plain.want_activity(True)
    plain.read(0.0)
    for t in range(1, 120):
        for gpu in (*gpus, plain):
            r = gpu.read(t * 1.0)
            if gpu is amd:
                assert all(getattr(r, m) is None for m in ACTIVITY_METRICS)
                assert r.activity_note is None
                continue
            assert r.activity_note is None
            for name in PERCENT:
                assert 0.0 <= getattr(r, name) <= 100.0, name
            assert r.sm_active_pct <= r.util_gpu_pct  # type: ignore[operator]
            for pipe in ("tensor_active_pct", "fp32_active_pct", "fp16_active_pct"):
                assert getattr(r, pipe) <= r.sm_active_pct, pipe
            assert r.tensor_hmma_pct <= r.tensor_active_pct  # type: ignore[operator]
            assert r.pcie_rx_mib_s < 64_000  # type: ignore[operator]
    busy = nvidia.read(10.0)  # training at ~97 %
    assert busy.tensor_active_pct is not None and busy.tensor_active_pct > 50
    assert busy.nvlink_tx_mib_s is not None and busy.nvlink_tx_mib_s > 0
    r = plain.read(200.0)
    assert r.tensor_active_pct == 0.0 and r.sm_active_pct is not None and r.sm_active_pct > 50
    assert r.nvlink_tx_mib_s is None and r.nvlink_rx_mib_s is None
    quiet = SimulatedGpu(6, H100, 0.0, idle, tensor_share=0.75)
    quiet.want_activity(True)
    quiet.read(0.0)
    assert quiet.read(1.0).sm_active_pct == 0.0 and quiet.read(2.0).tensor_active_pct == 0.0
    nvidia.want_activity(False)
    assert nvidia.read(300.0).activity_note == NOT_WANTED


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
