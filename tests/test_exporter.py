"""``gpuscope serve``: metric names, units and absences on fake devices, promtool's verdict, the
command line. A real Prometheus scraping two exporters is tests/test_cluster.py's."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gpuscope.measurement.run_result import RunResult
from gpuscope.sampler import Sampler
from gpuscope.sinks.prometheus import TelemetryCollector
from gpuscope.telemetry.discover import discover
from gpuscope.telemetry.exported_metrics import FIELD_GAUGES
from gpuscope.telemetry.model import EnergySource
from tests.fakes.fake_pynvml import FakeGpu, Ramp

ROOT = Path(__file__).resolve().parents[1]
NO_COUNTER = {"nvmlDeviceGetFanSpeed", "nvmlDeviceGetTotalEnergyConsumption"}


def scrape(registry: CollectorRegistry) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """name -> {sorted labels: value}, as Prometheus would store it."""
    text = generate_latest(registry).decode()
    series: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return series


def value(series, name: str, **labels: str) -> float | None:  # type: ignore[no-untyped-def]
    for key, number in series.get(name, {}).items():
        if set(labels.items()) <= set(key):
            return number
    return None


def exporter(install_nvml, clock, gpus, results=None):  # type: ignore[no-untyped-def]
    install_nvml(gpus, clock=clock)
    found = discover(["nvidia"])
    sampler = Sampler(found.devices, clock=clock)
    registry = CollectorRegistry(auto_describe=False)
    collector = TelemetryCollector(sampler, [d.info for d in found.devices], "hostA", results)
    registry.register(collector)
    return found, sampler, registry


def test_metrics_in_base_units_with_host_and_device_labels(install_nvml, clock) -> None:
    gpu = FakeGpu(power=Ramp(300.0), util_gpu=75, util_mem=40, mem_used=8 << 30, temperature=61)
    found, sampler, registry = exporter(install_nvml, clock, [gpu])
    with found:
        sampler.tick()
        clock.advance(1.0)
        sampler.tick()
        series = scrape(registry)
    at = {"host": "hostA", "device": "nvidia:0"}
    assert value(series, "gpuscope_power_watts", **at) == pytest.approx(300.0)
    assert value(series, "gpuscope_power_limit_watts", **at) == 700.0
    assert value(series, "gpuscope_utilization_ratio", **at) == 0.75
    assert value(series, "gpuscope_memory_bandwidth_utilization_ratio", **at) == 0.40
    assert value(series, "gpuscope_memory_used_bytes", **at) == 8 << 30
    assert value(series, "gpuscope_memory_total_bytes", **at) == 85520809984
    assert value(series, "gpuscope_temperature_celsius", **at) == 61
    assert value(series, "gpuscope_clock_hertz", clock="core", **at) == 885e6
    # the hardware counter, as NVML counts it (since the driver loaded), in joules
    assert value(series, "gpuscope_energy_joules_total", **at) == pytest.approx(
        (gpu.energy_offset_mj + 300_000 * clock()) / 1000,
        abs=0.01,  # the ramp starts at t=0
    )
    info = value(series, "gpuscope_device_info", vendor="nvidia", uuid=gpu.uuid, **at)
    assert info == 1.0


def test_unsupported_is_absent_never_zero_and_integrated_energy_is_named(
    install_nvml, clock
) -> None:
    found, sampler, registry = exporter(
        install_nvml, clock, [FakeGpu(power=Ramp(100.0), unsupported=NO_COUNTER)]
    )
    with found:
        sampler.tick()
        clock.advance(2.0)
        sampler.tick()
        series = scrape(registry)
    assert "gpuscope_fan_ratio" not in series  # no fan on this GPU: no series at all
    assert "gpuscope_energy_joules_total" not in series  # no hardware counter
    integrated = value(series, "gpuscope_integrated_energy_joules_total", device="nvidia:0")
    assert integrated == pytest.approx(200.0)  # 100 W for 2 s


def test_lost_device_drops_out_and_the_others_stay(install_nvml, clock) -> None:
    found, sampler, registry = exporter(
        install_nvml, clock, [FakeGpu(lost_at=1001.0), FakeGpu(uuid="GPU-other")]
    )
    with found:
        sampler.tick()
        assert value(scrape(registry), "gpuscope_power_watts", device="nvidia:0") is not None
        clock.advance(2.0)
        sampler.tick()
        series = scrape(registry)
    devices = {dict(k)["device"] for k in series["gpuscope_power_watts"]}
    assert devices == {"nvidia:1"}
    assert {dict(k)["device"] for k in series["gpuscope_device_info"]} == {"nvidia:1"}


def _report(device: str, throughput: float, per_joule: float | None) -> RunResult:
    return RunResult(
        workload="gemm", device=device, telemetry_device=None, device_name=None,
        params={"dtype": "bf16"}, unit="FLOP", units=1.0, seconds=1.0, steps=1,
        throughput=throughput, tflops=None, energy_j=None, avg_power_w=None,
        work_per_joule=per_joule, energy_source=EnergySource.COUNTER if per_joule else None,
        pct_of_peak=None,
    )  # fmt: skip


def test_last_workload_results_are_exported(install_nvml, clock) -> None:
    reports = [
        _report("cuda:0", 1e14, 5e11),
        _report("cuda:0", 2e14, 6e11),
        _report("cpu", 1e12, None),
    ]
    found, sampler, registry = exporter(install_nvml, clock, [FakeGpu()], lambda: reports)
    with found:
        sampler.tick()
        series = scrape(registry)
    labels = {"workload": "gemm", "unit": "FLOP", "dtype": "bf16"}
    assert value(series, "gpuscope_workload_throughput", device="cuda:0", **labels) == 2e14
    assert value(series, "gpuscope_workload_work_per_joule", device="cuda:0", **labels) == 6e11
    assert value(series, "gpuscope_workload_throughput", device="cpu", **labels) == 1e12
    assert value(series, "gpuscope_workload_work_per_joule", device="cpu") is None  # n/a: absent


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed (Debian: prometheus)"
)
def test_output_passes_promtool(install_nvml, clock) -> None:
    found, sampler, registry = exporter(
        install_nvml,
        clock,
        [FakeGpu(), FakeGpu(uuid="GPU-b", unsupported=NO_COUNTER)],
        lambda: [_report("cuda:0", 1e14, 5e11)],
    )
    with found:
        sampler.tick()
        clock.advance(1.0)
        sampler.tick()
        text = generate_latest(registry)
    done = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == b"" and done.stderr.strip() == b""  # no lint warnings either


# -- the command line -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(port: int, host_label: str, *more: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.serve_with_fakes", "serve", "--listen",
         f"127.0.0.1:{port}", "--host-label", host_label, "--interval", "0.2", *more],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def http_get(url: str, timeout_s: float = 20.0) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return str(response.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def metrics_once_sampled(port: int, device: str, timeout_s: float = 20.0) -> str:
    """The exporter's text once ``device`` is in it: the server answers from its start, before
    the sampler's first tick (a scrape then lists no device), which a loaded machine delays."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = http_get(f"http://127.0.0.1:{port}/metrics", timeout_s)
        if f'gpuscope_device_info{{device="{device}"' in text or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


@pytest.mark.parametrize(
    "listen", ["nope", "127.0.0.1:0", "127.0.0.1:70000", "127.0.0.1:", "bad host!:9400"]
)
def test_bad_listen_is_one_line_and_exit_2(listen: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gpuscope", "serve", "--listen", listen],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("gpuscope serve: --listen") and done.stderr.count("\n") == 1


def test_port_in_use_is_one_line_and_exit_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "gpuscope", "serve", "--listen", f"127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == (
        f"gpuscope serve: cannot listen on 127.0.0.1:{port}: the port is in use "
        "(another gpuscope serve?)\n"
    )


def test_serve_serves_until_sigterm_and_exits_0() -> None:
    port = free_port()
    process = serve(port, "hostA")
    try:
        text = metrics_once_sampled(port, "nvidia:0")
        assert 'gpuscope_power_watts{device="nvidia:0",host="hostA"} 250.0' in text
        assert "textual" not in text
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr


def test_serve_gpm_without_a_gpm_device_says_so_in_one_line_and_serves() -> None:
    """An exporter on a fleet may run where no GPU has GPM: said, not refused."""
    port = free_port()
    process = serve(port, "hostA", "--gpm", "--devices", "cpu")
    try:
        text = metrics_once_sampled(port, "cpu")
        assert (
            'gpuscope_device_info{device="cpu"' in text and "gpuscope_sm_active_ratio{" not in text
        )
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    note = [line for line in stderr.splitlines() if "--gpm" in line]
    assert note == [
        "gpuscope serve: --gpm: none of the selected devices has activity counters (NVML GPM "
        "needs an NVIDIA Hopper or newer GPU, not a vGPU or MIG slice; gpuscope list says why "
        "for each); serving without them"
    ]


def test_activity_gauges_and_the_achieved_estimate_only_while_asked(clock) -> None:
    from gpuscope.measurement.achieved import achieved_estimate
    from tests.activity_device import GEMM_ACTIVITY, ActivityDevice

    device = ActivityDevice()
    sampler = Sampler([device], clock=clock)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TelemetryCollector(sampler, [device.info], "hostA"))
    sampler.tick()
    series = scrape(registry)
    assert "gpuscope_sm_active_ratio" not in series  # not asked (serve without --gpm): absent
    assert "gpuscope_estimated_achieved_flops" not in series
    sampler.want_activity("exporter")
    clock.advance(1.0)
    sampler.tick()
    series = scrape(registry)
    at = {"host": "hostA", "device": "nvidia:0"}
    assert value(series, "gpuscope_sm_active_ratio", **at) == pytest.approx(0.97)
    assert value(series, "gpuscope_tensor_hmma_active_ratio", **at) == pytest.approx(0.70)
    assert value(series, "gpuscope_dram_active_ratio", **at) == pytest.approx(0.35)
    assert value(series, "gpuscope_pcie_rx_bytes_per_second", **at) == 40 * 2**20
    estimate = achieved_estimate(sampler.latest("nvidia:0").reading, device.info)  # type: ignore[union-attr]
    assert estimate is not None and estimate.gflop_per_j is not None
    flops = value(series, "gpuscope_estimated_achieved_flops", **at)
    assert flops == pytest.approx(estimate.tflops * 1e12)
    per_joule = value(series, "gpuscope_estimated_achieved_flop_per_joule", **at)
    assert per_joule == pytest.approx(estimate.gflop_per_j * 1e9)
    exported = {spec.field for spec in FIELD_GAUGES if f"gpuscope_{spec.name}" in series}
    assert set(GEMM_ACTIVITY) <= exported  # every activity field has its gauge
