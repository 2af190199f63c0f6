"""NVML GPM on a fake pynvml: activity between two samples, read only while wanted, each reason
it is n/a in one line, per-metric NotSupported, counters held by another tool, samples freed."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from gpuscope.sampler import Sampler
from gpuscope.telemetry import gpm
from gpuscope.telemetry.discover import discover
from gpuscope.telemetry.model import ACTIVITY_METRICS, DeviceLost
from tests.fakes import fake_gpm as g
from tests.fakes.fake_gpm import FakeGpm
from tests.fakes.fake_pynvml import FakeGpu, FakeNvml


def installed() -> Any:
    """The fake module the conftest put where ``import pynvml`` finds it."""
    return sys.modules["pynvml"]


def gpm_calls(fake: FakeNvml) -> dict[str, int]:
    return {name: n for name, n in fake.calls.items() if name.startswith("nvmlGpm")}


def wanted_reads(clock: Any, times: int) -> list[Any]:
    """The one fake NVIDIA GPU, asked for its activity, read ``times`` times 0.5 s apart."""
    with discover(["nvidia"]) as found:
        (device,) = found.devices
        device.want_activity(True)  # type: ignore[attr-defined]
        readings = []
        for _ in range(times):
            readings.append(device.read(clock()))
            clock.advance(0.5)
    return readings


def busy_gpu(**kwargs: Any) -> FakeGpu:
    """An H100 under a bf16 GEMM, scripted: HMMA activity grows with the interval's length."""
    activity: dict[int, g.Activity] = {
        g.NVML_GPM_METRIC_SM_UTIL: 87.5,
        g.NVML_GPM_METRIC_SM_OCCUPANCY: 31.0,
        g.NVML_GPM_METRIC_ANY_TENSOR_UTIL: 64.0,
        g.NVML_GPM_METRIC_HMMA_TENSOR_UTIL: lambda t1, t2: 60.0 + (t2 - t1),
        g.NVML_GPM_METRIC_DRAM_BW_UTIL: 22.5,
        g.NVML_GPM_METRIC_FP32_UTIL: 3.0,
        g.NVML_GPM_METRIC_PCIE_RX_PER_SEC: 1234.5,
        g.NVML_GPM_METRIC_NVLINK_TOTAL_TX_PER_SEC: 40000.0,
    }
    return FakeGpu(gpm=FakeGpm(activity=activity, **kwargs))


def test_fields_between_two_samples_are_the_scripted_activity(install_nvml, clock) -> None:
    install_nvml([busy_gpu()], clock=clock)
    with discover(["nvidia"]) as found:
        (device,) = found.devices
        assert device.info.activity_counters
        device.want_activity(True)  # type: ignore[attr-defined]
        first = device.read(clock())
        clock.advance(0.5)
        second = device.read(clock())
    assert all(getattr(first, name) is None for name in ACTIVITY_METRICS)
    assert first.activity_note == gpm.FIRST_SAMPLE
    assert second.activity_note is None
    assert second.sm_active_pct == 87.5 and second.sm_occupancy_pct == 31.0
    assert second.tensor_active_pct == 64.0
    assert second.tensor_hmma_pct == pytest.approx(60.5)  # scripted over t1..t2, 0.5 s apart
    assert second.tensor_imma_pct == 0.0 and second.tensor_dfma_pct == 0.0
    assert second.dram_active_pct == 22.5 and second.fp32_active_pct == 3.0
    assert second.pcie_rx_mib_s == 1234.5 and second.nvlink_tx_mib_s == 40000.0


def test_no_gpm_call_while_not_wanted_and_a_restart_begins_anew(install_nvml, clock) -> None:
    fake = install_nvml([busy_gpu()], clock=clock)
    with discover(["nvidia"]) as found:
        (device,) = found.devices
        opened = gpm_calls(fake)
        for _ in range(3):
            clock.advance(0.5)
            reading = device.read(clock())
            assert reading.activity_note == gpm.NOT_WANTED and reading.sm_active_pct is None
        assert gpm_calls(fake) == opened == {"nvmlGpmQueryDeviceSupport": 1}
        device.want_activity(True)  # type: ignore[attr-defined]
        device.read(clock())
        clock.advance(0.5)
        assert device.read(clock()).sm_active_pct == 87.5
        device.want_activity(False)  # type: ignore[attr-defined]
        before = gpm_calls(fake)
        clock.advance(0.5)
        assert device.read(clock()).activity_note == gpm.NOT_WANTED
        assert gpm_calls(fake) == before
        device.want_activity(True)  # type: ignore[attr-defined]
        clock.advance(0.5)
        assert device.read(clock()).activity_note == gpm.FIRST_SAMPLE  # no stale interval


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ({"supported": False}, gpm.NO_SUPPORT),
        (
            {"supported": False, "virtualization_mode": g.NVML_GPU_VIRTUALIZATION_MODE_VGPU},
            gpm.VGPU,
        ),
        ({"mig_mode": g.NVML_DEVICE_MIG_ENABLE}, gpm.MIG),
        ({"driver_has_gpm": False}, gpm.NO_DRIVER),
    ],
)
def test_a_gpu_without_usable_gpm_says_why_in_one_line(
    install_nvml, clock, script: dict[str, Any], reason: str
) -> None:
    fake = install_nvml([FakeGpu(gpm=FakeGpm(**script))], clock=clock)
    with discover(["nvidia"]) as found:
        (device,) = found.devices
        device.want_activity(True)  # type: ignore[attr-defined]
        readings = [device.read(clock()), device.read(clock() + 1)]
    assert not device.info.activity_counters
    assert gpm.device_note(reason) in device.info.notes
    assert device.info.notes[-1] == f"GPM activity: n/a ({reason})"
    for reading in readings:
        assert all(getattr(reading, name) is None for name in ACTIVITY_METRICS)
        assert reading.activity_note is None  # the device's note says it, once
        assert reading.power_w is not None  # the other metrics are untouched
    assert set(gpm_calls(fake)) <= {"nvmlGpmQueryDeviceSupport"}


def test_bindings_without_gpm_say_so(install_nvml, monkeypatch, clock) -> None:
    """An old nvidia-ml-py lacks the GPM functions altogether (AttributeError, not an NVML
    error)."""
    install_nvml([busy_gpu()], clock=clock)
    monkeypatch.delattr(installed(), "nvmlGpmMetricsGet")
    with discover(["nvidia"]) as found:
        (device,) = found.devices
    assert device.info.notes == (gpm.device_note(gpm.NO_BINDINGS),)


def test_a_metric_not_supported_here_is_none_and_never_asked_again(
    install_nvml, monkeypatch, clock
) -> None:
    """NVLink on a PCIe card: its two fields stay None, and the request leaves them out."""
    nvlink = {g.NVML_GPM_METRIC_NVLINK_TOTAL_TX_PER_SEC, g.NVML_GPM_METRIC_NVLINK_TOTAL_RX_PER_SEC}
    install_nvml([busy_gpu(unsupported_metrics=set(nvlink))], clock=clock)
    module = installed()
    asked: list[set[int]] = []
    real = module.nvmlGpmMetricsGet

    def recording(request: Any) -> Any:
        asked.append({m.metricId for m in request.metrics[: request.numMetrics]})
        return real(request)

    monkeypatch.setattr(module, "nvmlGpmMetricsGet", recording)
    readings = wanted_reads(clock, 4)
    assert len(asked) == 3 and nvlink <= asked[0]
    assert all(not (nvlink & ids) and len(ids) == 12 for ids in asked[1:])
    for reading in readings[1:]:
        assert reading.nvlink_tx_mib_s is None and reading.nvlink_rx_mib_s is None
        assert reading.sm_active_pct == 87.5 and reading.activity_note is None


def test_counters_held_by_another_tool_back_off_and_retry(install_nvml, clock) -> None:
    """DCGM's profiling holds the counters (NVML_ERROR_IN_USE) for 15 s: GPM is asked again
    only every IN_USE_RETRY_S, saying why, and starts afresh once they are free."""
    start = clock()
    fake = install_nvml([busy_gpu(in_use_until=start + 15.0)], clock=clock)
    with discover(["nvidia"]) as found:
        (device,) = found.devices
        device.want_activity(True)  # type: ignore[attr-defined]
        assert device.read(clock()).activity_note == gpm.IN_USE
        tries = fake.calls["nvmlGpmSampleGet"]
        clock.advance(gpm.IN_USE_RETRY_S / 2)
        assert device.read(clock()).activity_note == gpm.IN_USE
        assert fake.calls["nvmlGpmSampleGet"] == tries  # backing off: not asked
        clock.advance(gpm.IN_USE_RETRY_S / 2)
        assert device.read(clock()).activity_note == gpm.IN_USE  # asked again, still held
        assert fake.calls["nvmlGpmSampleGet"] == tries + 1
        clock.advance(gpm.IN_USE_RETRY_S)
        assert device.read(clock()).activity_note == gpm.FIRST_SAMPLE
        clock.advance(0.5)
        assert device.read(clock()).sm_active_pct == 87.5
    assert "IN_USE" not in gpm.IN_USE and "DCGM" in gpm.IN_USE


def test_samples_are_freed_at_shutdown_before_nvml_goes(install_nvml, monkeypatch, clock) -> None:
    fake = install_nvml([busy_gpu(), busy_gpu()], clock=clock)
    found = discover(["nvidia"])
    for device in found.devices:
        device.want_activity(True)  # type: ignore[attr-defined]
        device.read(clock())
        clock.advance(0.5)
        device.read(clock())
    assert len(fake.gpm_samples) == 4
    freed_while_up: list[bool] = []
    real_free = installed().nvmlGpmSampleFree

    def free(sample: Any) -> None:
        freed_while_up.append(fake.initialised)
        real_free(sample)

    monkeypatch.setattr(installed(), "nvmlGpmSampleFree", free)
    found.close()
    assert fake.gpm_samples == {} and fake.calls["nvmlShutdown"] == 1
    assert freed_while_up == [True] * 4  # freed before nvmlShutdown


def test_a_failed_second_allocation_frees_the_first(install_nvml, monkeypatch, clock) -> None:
    fake = install_nvml([busy_gpu()], clock=clock)
    module = installed()
    real_alloc = module.nvmlGpmSampleAlloc
    made: list[Any] = []

    def alloc() -> Any:
        if made:
            raise module.NVMLError(module.NVML_ERROR_UNKNOWN)
        made.append(real_alloc())
        return made[-1]

    monkeypatch.setattr(module, "nvmlGpmSampleAlloc", alloc)
    with discover(["nvidia"]) as found:
        (device,) = found.devices
        device.want_activity(True)  # type: ignore[attr-defined]
        reading = device.read(clock())
        assert reading.activity_note is not None and "failed this time" in reading.activity_note
        assert fake.gpm_samples == {}


def test_a_transient_failure_loses_one_reading_not_the_interval(
    install_nvml, monkeypatch, clock
) -> None:
    install_nvml([busy_gpu()], clock=clock)
    module = installed()
    real = module.nvmlGpmMetricsGet
    failures = [module.NVMLError(module.NVML_ERROR_UNKNOWN)]

    def flaky(request: Any) -> Any:
        if failures:
            raise failures.pop()
        return real(request)

    monkeypatch.setattr(module, "nvmlGpmMetricsGet", flaky)
    readings = wanted_reads(clock, 3)
    notes = [reading.activity_note for reading in readings]
    assert notes == [gpm.FIRST_SAMPLE, "GPM read failed this time (Unknown Error)", None]
    assert readings[-1].sm_active_pct == 87.5


def test_a_gpu_lost_during_gpm_raises_device_lost(install_nvml, monkeypatch, clock) -> None:
    install_nvml([busy_gpu()], clock=clock)
    module = installed()
    with discover(["nvidia"]) as found:
        (device,) = found.devices
        device.want_activity(True)  # type: ignore[attr-defined]
        device.read(clock())

        def lost(*args: Any) -> None:
            raise module.NVMLError(module.NVML_ERROR_GPU_IS_LOST)

        monkeypatch.setattr(module, "nvmlGpmSampleGet", lost)
        clock.advance(0.5)
        with pytest.raises(DeviceLost, match="GPM: GPU is lost"):
            device.read(clock())


def test_gpm_the_driver_stops_supporting_says_so_and_frees(install_nvml, clock) -> None:
    fake = install_nvml([busy_gpu()], clock=clock)
    with discover(["nvidia"]) as found:
        (device,) = found.devices
        device.want_activity(True)  # type: ignore[attr-defined]
        device.read(clock())
        fake.gpus[0].gpm.mig_mode = g.NVML_DEVICE_MIG_ENABLE  # NotSupported from now on
        clock.advance(0.5)
        notes = {device.read(clock() + i).activity_note for i in range(3)}
        assert fake.gpm_samples == {}
    assert notes == {"GPM stopped: the driver says Not Supported"}


def test_the_samplers_want_activity_turns_gpm_on_and_off(install_nvml, clock) -> None:
    fake = install_nvml([busy_gpu()], clock=clock)
    with discover(["nvidia"]) as found:
        sampler = Sampler(found.devices, clock=clock)
        (off,) = sampler.tick()
        sampler.want_activity("panel")
        (first,) = sampler.tick()
        clock.advance(0.5)
        (on,) = sampler.tick()
        sampler.want_activity("panel", wanted=False)
        before = gpm_calls(fake)
        clock.advance(0.5)
        (off_again,) = sampler.tick()
        assert gpm_calls(fake) == before
    assert off.reading.activity_note == gpm.NOT_WANTED
    assert first.reading.activity_note == gpm.FIRST_SAMPLE
    assert on.reading.sm_active_pct == 87.5 and on.reading.tensor_active_pct == 64.0
    assert off_again.reading.activity_note == gpm.NOT_WANTED
    assert off_again.reading.sm_active_pct is None


def test_a_window_edge_takes_no_gpm_sample_so_the_next_tick_covers_its_whole_interval(
    install_nvml, clock
) -> None:
    """HMMA is scripted as 60 + the interval's length: a GPM sample taken at the window's edge
    would make the next tick's interval 0.05 s (60.05) instead of 1 s (61.0)."""
    fake = install_nvml([busy_gpu()], clock=clock)
    with discover(["nvidia"]) as found:
        sampler = Sampler(found.devices, interval_s=1.0, clock=clock)
        sampler.want_activity("test")
        sampler.tick()
        clock.advance(1.0)
        sampler.tick()
        clock.advance(0.95)
        gets = fake.calls["nvmlGpmSampleGet"]
        sampler.begin_window("run")
        assert fake.calls["nvmlGpmSampleGet"] == gets  # the edge reads no GPM sample
        clock.advance(0.05)
        sampler.tick()
        sampler.end_window("run")
    history = sampler.history("nvidia:0")
    assert history[-1].reading.tensor_hmma_pct == pytest.approx(61.0)  # the end edge: repeated
    ticks = [s for s in history if s.reading.tensor_hmma_pct is not None]
    assert [round(s.reading.tensor_hmma_pct, 2) for s in ticks] == [61.0, 61.0, 61.0, 61.0]
