"""The NVML backend on a fake pynvml: units, unsupported metrics, absent driver, lost GPU."""

from __future__ import annotations

import os

import pytest

from gpuscope.telemetry.discover import discover
from gpuscope.telemetry.model import DeviceLost, Vendor
from gpuscope.telemetry.nvidia import ENERGY_PERIOD_S, POWER_PERIOD_S, clock_event_names
from tests.fakes.fake_pynvml import FakeGpu, Ramp

MIB = 1024 * 1024


def two_gpus() -> list[FakeGpu]:
    return [
        FakeGpu(
            power=Ramp(300.0),
            util_gpu=97,
            util_mem=41,
            mem_used=40 * 1024 * MIB,
            clock_events=0x4 | 0x20,
            processes=[(os.getpid(), 2048 * MIB), (999_999_999, None)],
        ),
        FakeGpu(uuid="GPU-second", bus_id="00000000:00:07.0", power=Ramp(75.0)),
    ]


def test_two_gpu_box_is_discovered_with_static_info(install_nvml, clock) -> None:
    install_nvml(two_gpus(), clock=clock)
    with discover(["nvidia"]) as found:
        infos = [d.info for d in found.devices]
    assert [i.device_id for i in infos] == ["nvidia:0", "nvidia:1"]
    assert found.absent == []
    first = infos[0]
    assert first.vendor is Vendor.NVIDIA and first.name == "NVIDIA H100 80GB HBM3"
    assert first.pci_bus_id == "00000000:00:06.0"  # bytes in pynvml, str here
    assert first.driver == "580.159.04"
    assert first.mem_total_mib == pytest.approx(85520809984 / MIB)
    assert first.has_energy_counter
    assert infos[1].uuid == "GPU-second"


def test_reading_converts_nvml_units(install_nvml, clock) -> None:
    install_nvml(two_gpus(), clock=clock)
    with discover(["nvidia"]) as found:
        reading = found.devices[0].read(clock())
    assert reading.util_gpu_pct == 97 and reading.util_mem_pct == 41
    assert reading.mem_used_mib == pytest.approx(40 * 1024)
    assert reading.power_w == pytest.approx(300.0)  # from mW
    assert reading.power_limit_w == pytest.approx(700.0)
    assert reading.energy_counter_j == pytest.approx(
        2726.435 + 300.0 * clock(), abs=1e-3
    )  # from mJ
    assert reading.temp_c == 37 and reading.clock_core_mhz == 885 and reading.clock_mem_mhz == 2619
    assert reading.pstate == 0
    assert reading.throttle_reasons == ("sw_power_cap", "sw_thermal")
    mine, gone = reading.processes
    assert mine.pid == os.getpid() and mine.name and mine.gpu_mem_mib == pytest.approx(2048)
    assert gone.name is None and gone.gpu_mem_mib is None  # exited pid, memory not attributed


def test_unsupported_metric_is_none_and_never_asked_again(install_nvml, clock) -> None:
    fake = install_nvml(two_gpus(), clock=clock)
    with discover(["nvidia"]) as found:
        device = found.devices[0]
        for _ in range(5):
            clock.advance(0.5)
            assert device.read(clock()).fan_pct is None
    assert fake.calls["nvmlDeviceGetFanSpeed"] == 1


def test_deprecated_temperature_call_used_only_when_v_call_missing(install_nvml, clock) -> None:
    gpu = FakeGpu(unsupported={"nvmlDeviceGetTemperatureV"})
    fake = install_nvml([gpu], clock=clock)
    with discover(["nvidia"]) as found:
        for _ in range(3):
            assert found.devices[0].read(clock()).temp_c == 37
    assert fake.calls["nvmlDeviceGetTemperatureV"] == 1
    assert fake.calls["nvmlDeviceGetTemperature"] == 3


def test_power_and_energy_not_read_faster_than_hardware_updates(install_nvml, clock) -> None:
    fake = install_nvml([FakeGpu()], clock=clock)
    with discover(["nvidia"]) as found:
        fake.calls.clear()
        for _ in range(50):  # 1 s at 20 Hz
            found.devices[0].read(clock())
            clock.advance(0.02)
    reads = 1.0 / POWER_PERIOD_S
    assert fake.calls["nvmlDeviceGetTotalEnergyConsumption"] <= 1.0 / ENERGY_PERIOD_S + 1
    assert fake.calls["nvmlDeviceGetFieldValues"] <= reads + 1
    assert fake.calls["nvmlDeviceGetUtilizationRates"] == 50


def test_gpu_without_energy_counter_says_so(install_nvml, clock) -> None:
    install_nvml([FakeGpu(unsupported={"nvmlDeviceGetTotalEnergyConsumption"})], clock=clock)
    with discover(["nvidia"]) as found:
        device = found.devices[0]
        reading = device.read(clock())
    assert not device.info.has_energy_counter
    assert reading.energy_counter_j is None and reading.power_w == pytest.approx(75.0)
    assert any("integrated" in note for note in device.info.notes)


def test_lost_gpu_raises_device_lost(install_nvml, clock) -> None:
    install_nvml([FakeGpu(lost_at=clock() + 1.0)], clock=clock)
    with discover(["nvidia"]) as found:
        device = found.devices[0]
        device.read(clock())
        clock.advance(1.0)
        with pytest.raises(DeviceLost, match="GPU is lost"):
            device.read(clock())


@pytest.mark.parametrize(
    ("error_code", "reason"),
    [
        (12, "NVML: driver not found"),
        (9, "NVML: NVIDIA driver not loaded"),
        (999, "NVML: init failed"),
    ],
)
def test_no_driver_means_backend_absent_with_one_line(install_nvml, error_code, reason) -> None:
    install_nvml([], init_error=error_code)
    with discover(["nvidia"]) as found:
        assert found.devices == []
        assert len(found.absent) == 1 and found.absent[0].startswith(reason)
        assert "\n" not in found.absent[0]


def test_library_not_installed_means_backend_absent() -> None:
    with discover(["nvidia"]) as found:  # the autouse fixture hides pynvml
        assert found.devices == [] and found.absent == [
            "NVML: nvidia-ml-py not importable (ModuleNotFoundError)"
        ]


def test_zero_gpus_is_absent_and_shuts_nvml_down(install_nvml) -> None:
    fake = install_nvml([])
    with discover(["nvidia"]) as found:
        assert found.absent == ["NVML: driver loaded but no NVIDIA GPU found"]
    assert not fake.initialised


def test_discovery_close_shuts_nvml_down(install_nvml) -> None:
    fake = install_nvml([FakeGpu()])
    with discover(["nvidia"]):
        assert fake.initialised
    assert not fake.initialised and fake.calls["nvmlShutdown"] == 1


def test_clock_event_names() -> None:
    assert clock_event_names(0) == ()
    assert clock_event_names(0x1 | 0x40 | 0x100) == ("gpu_idle", "hw_thermal", "display_clock")


def test_sampling_at_the_hardware_rate_reads_power_every_time(install_nvml, clock) -> None:
    # 0.1 s steps on a float clock land a hair under 0.1 s apart; jitter must not halve the rate.
    fake = install_nvml([FakeGpu()], clock=clock)
    with discover(["nvidia"]) as found:
        fake.calls.clear()
        for _ in range(20):
            clock.advance(0.1)
            found.devices[0].read(clock() - 0.001 * (fake.calls["nvmlDeviceGetFieldValues"] % 2))
    assert fake.calls["nvmlDeviceGetFieldValues"] == 20
    assert fake.calls["nvmlDeviceGetTotalEnergyConsumption"] == 2  # once a second (2 s)


def test_energy_counter_carried_between_reads_and_read_fresh_when_exact(
    install_nvml, clock
) -> None:
    """A reading between counter reads carries the last value, marked stale (the exporter still
    has a counter to show; the energy meter does not account it); ``exact_energy`` reads it."""
    fake = install_nvml([FakeGpu(power=Ramp(100.0))], clock=clock)
    with discover(["nvidia"]) as found:
        device = found.devices[0]
        first = device.read(clock())
        clock.advance(0.5)
        carried = device.read(clock())
        exact = device.read(clock(), exact_energy=True)
    assert not first.energy_counter_stale
    assert carried.energy_counter_stale and carried.energy_counter_j == first.energy_counter_j
    assert not exact.energy_counter_stale
    assert exact.energy_counter_j == pytest.approx(first.energy_counter_j + 50.0, abs=0.002)
    assert fake.calls["nvmlDeviceGetTotalEnergyConsumption"] == 3  # discovery, first, exact


def test_power_is_instant_not_the_one_second_average(install_nvml, clock) -> None:
    install_nvml([FakeGpu(power=Ramp(100.0, 200.0, origin_s=clock()))], clock=clock)
    with discover(["nvidia"]) as found:
        clock.advance(2.0)
        reading = found.devices[0].read(clock())
    assert reading.power_w == pytest.approx(500.0)  # nvmlDeviceGetPowerUsage would say 400


def test_older_gpu_without_instant_field_uses_power_usage(install_nvml, clock) -> None:
    gpu = FakeGpu(
        power=Ramp(80.0), unsupported={"NVML_FI_DEV_POWER_INSTANT"}, power_usage_is_1s_average=False
    )
    fake = install_nvml([gpu], clock=clock)
    with discover(["nvidia"]) as found:
        for _ in range(3):
            clock.advance(0.5)
            assert found.devices[0].read(clock()).power_w == pytest.approx(80.0)
    assert fake.calls["nvmlDeviceGetFieldValues"] == 1  # unsupported once, then never asked


def test_memory_used_excludes_driver_reserved_memory(install_nvml, clock) -> None:
    install_nvml([FakeGpu(mem_used=1024 * MIB)], clock=clock)
    with discover(["nvidia"]) as found:
        reading = found.devices[0].read(clock())
    assert reading.mem_used_mib == pytest.approx(1024)  # _v2 "used", as nvidia-smi 580 shows
    assert reading.mem_total_mib == pytest.approx(85520809984 / MIB)


def test_driver_without_memory_v2_falls_back_to_v1(install_nvml, clock) -> None:
    gpu = FakeGpu(mem_used=1024 * MIB, unsupported={"nvmlDeviceGetMemoryInfo_v2"})
    fake = install_nvml([gpu], clock=clock)
    with discover(["nvidia"]) as found:
        for _ in range(3):
            reading = found.devices[0].read(clock())
    assert reading.mem_used_mib == pytest.approx(1024 + 480)  # v1 folds reserved into used
    assert fake.calls["nvmlDeviceGetMemoryInfo"] == 1 + 4  # _v2 tried once (at open), then v1


# -- processes: kind and per-process utilization -----------------------------------------------


def test_on_an_h100_per_process_utilization_is_na_and_never_asked_again(
    install_nvml, clock
) -> None:
    """Driver 580 on the H100 samples no processes: both calls say NotSupported."""
    fake = install_nvml(two_gpus(), clock=clock)
    with discover(["nvidia"]) as found:
        device = found.devices[0]
        for _ in range(4):
            clock.advance(1.5)
            mine = device.read(clock()).processes[0]
            assert mine.kind == "C" and mine.sm_pct is None and mine.mem_bus_pct is None
    assert fake.calls["nvmlDeviceGetProcessesUtilizationInfo"] == 1
    assert fake.calls["nvmlDeviceGetProcessUtilization"] == 1


def sampling_gpu(**kwargs: object) -> FakeGpu:
    return FakeGpu(unsupported={"nvmlDeviceGetFanSpeed"}, **kwargs)  # type: ignore[arg-type]


def test_per_process_shares_are_the_mean_of_new_samples_and_idle_is_zero(
    install_nvml, clock
) -> None:
    gpu = sampling_gpu(
        processes=[(101, 4096 * MIB), (202, 1024 * MIB)],
        process_samples=[(101, 1_000_000, 80, 40), (101, 1_500_000, 90, 50)],
    )
    fake = install_nvml([gpu], clock=clock)
    with discover(["nvidia"]) as found:
        device = found.devices[0]
        busy, idle = device.read(clock()).processes
        assert (busy.sm_pct, busy.mem_bus_pct) == (85.0, 45.0)
        assert (idle.sm_pct, idle.mem_bus_pct) == (0.0, 0.0)  # listed, no samples: idle
        clock.advance(0.5)
        device.read(clock())  # within a second: the driver is not asked again
        assert fake.calls["nvmlDeviceGetProcessesUtilizationInfo"] == 1
        clock.advance(1.0)  # no new sample (NotFound): the last share holds, no flicker to 0
        busy, idle = device.read(clock()).processes
        assert busy.sm_pct == 85.0 and idle.sm_pct == 0.0
        gpu.process_samples.append((202, 2_000_000, 30, 10))
        clock.advance(1.0)
        busy, idle = device.read(clock()).processes
        assert busy.sm_pct == 85.0 and idle.sm_pct == 30.0  # only samples newer than the last
        clock.advance(2.5)  # over 3 s without a sample of 101: idle, not n/a
        busy, idle = device.read(clock()).processes
        assert busy.sm_pct == 0.0 and idle.sm_pct == 30.0


def test_an_older_driver_falls_back_to_the_older_utilization_call(install_nvml, clock) -> None:
    gpu = sampling_gpu(processes=[(101, None)], process_samples=[(101, 1_000_000, 70, 20)])
    gpu.unsupported.add("nvmlDeviceGetProcessesUtilizationInfo")
    fake = install_nvml([gpu], clock=clock)
    with discover(["nvidia"]) as found:
        (process,) = found.devices[0].read(clock()).processes
    assert process.sm_pct == 70.0 and fake.calls["nvmlDeviceGetProcessUtilization"] == 1


def test_a_process_in_both_lists_is_compute_and_graphics(install_nvml, clock) -> None:
    gpu = sampling_gpu(
        processes=[(101, 512 * MIB), (303, None)],
        graphics_processes=[(101, 512 * MIB), (404, 256 * MIB)],
    )
    install_nvml([gpu], clock=clock)
    with discover(["nvidia"]) as found:
        processes = {p.pid: p for p in found.devices[0].read(clock()).processes}
    assert {pid: p.kind for pid, p in processes.items()} == {101: "C+G", 303: "C", 404: "G"}
    assert processes[101].gpu_mem_mib == pytest.approx(512)  # one allocation, not twice


def test_a_driver_with_no_samples_at_all_means_idle(install_nvml, clock) -> None:
    """nvidia-ml-py raises NVMLError with NVML_SUCCESS when the driver's buffer is empty."""
    gpu = sampling_gpu(processes=[(101, None)])
    fake = install_nvml([gpu], clock=clock)
    with discover(["nvidia"]) as found:
        (process,) = found.devices[0].read(clock()).processes
    assert process.sm_pct == 0.0 and fake.calls["nvmlDeviceGetProcessesUtilizationInfo"] == 1


def test_process_rows_follow_the_drivers_lists_read_after_read(install_nvml, clock) -> None:
    """The rows are rebuilt only when the lists change: every change must still show."""
    gpu = FakeGpu(processes=[(101, 512 * MIB)])
    install_nvml([gpu], clock=clock)
    with discover(["nvidia"]) as found:
        device = found.devices[0]

        def rows() -> list[tuple[int, float | None, str | None]]:
            clock.advance(0.1)
            processes = device.read(clock()).processes
            assert processes is not None
            return [(p.pid, p.gpu_mem_mib, p.kind) for p in processes]

        assert rows() == rows() == [(101, 512.0, "C")]
        gpu.processes = [(101, 1024 * MIB)]
        assert rows() == [(101, 1024.0, "C")]
        gpu.graphics_processes = [(404, None)]
        assert rows() == [(101, 1024.0, "C"), (404, None, "G")]
        gpu.processes = []
        assert rows() == [(404, None, "G")]
        gpu.graphics_processes = []
        assert rows() == []
