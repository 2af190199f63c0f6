"""The amdsmi backend on a fake amdsmi: units, "N/A", sensor fallback, absent library."""

from __future__ import annotations

import importlib.abc
import sys

import pytest

from gpuscope.telemetry.amd import number
from gpuscope.telemetry.discover import discover
from gpuscope.telemetry.model import Vendor
from tests.fakes.fake_amdsmi import AmdSmiTemperatureType, FakeAmdGpu
from tests.fakes.fake_pynvml import Ramp

MIB = 1024 * 1024


def test_amd_box_static_info(install_amdsmi, clock) -> None:
    install_amdsmi([FakeAmdGpu(), FakeAmdGpu(bdf="0000:c2:00.0")], clock=clock)
    with discover(["amd"]) as found:
        infos = [d.info for d in found.devices]
    assert [i.device_id for i in infos] == ["amd:0", "amd:1"]
    assert infos[0].vendor is Vendor.AMD and infos[0].name == "AMD Instinct MI300X"
    assert infos[0].pci_bus_id == "0000:c1:00.0" and infos[0].driver == "6.10.5"
    assert infos[0].mem_total_mib == pytest.approx(206141652992 / MIB)
    assert infos[0].has_energy_counter


def test_amd_reading_units_and_na(install_amdsmi, clock) -> None:
    install_amdsmi(
        [
            FakeAmdGpu(
                power=Ramp(300.0),
                gfx_activity=88,
                processes=[
                    {
                        "name": "python3",
                        "pid": 4242,
                        "mem": 0,
                        "engine_usage": {"gfx": 0, "enc": 0},
                        "memory_usage": {"gtt_mem": 0, "cpu_mem": 0, "vram_mem": 512 * MIB},
                        "cu_occupancy": "N/A",
                    }
                ],
            )
        ],
        clock=clock,
    )
    with discover(["amd"]) as found:
        reading = found.devices[0].read(clock())
    assert reading.util_gpu_pct == 88
    assert reading.util_mem_pct is None  # "N/A" from the library, never 0
    assert reading.mem_used_mib == pytest.approx(299761664 / MIB)
    assert reading.power_w == pytest.approx(300.0)
    assert reading.power_limit_w == pytest.approx(750.0)
    # accumulator x 15.259 µJ resolution -> J
    assert reading.energy_counter_j == pytest.approx(300.0 * clock(), rel=1e-6)
    assert reading.temp_c == 41  # EDGE unsupported, HOTSPOT used
    assert reading.clock_core_mhz == 132 and reading.clock_mem_mhz == 900
    assert reading.fan_pct is None and reading.pstate is None and reading.throttle_reasons is None
    (proc,) = reading.processes
    assert proc.pid == 4242 and proc.name == "python3" and proc.gpu_mem_mib == pytest.approx(512)


def test_unsupported_sensor_asked_once_then_fallback_used(install_amdsmi, clock) -> None:
    no_hotspot = {("amdsmi_get_temp_metric", AmdSmiTemperatureType.HOTSPOT)}
    fake = install_amdsmi([FakeAmdGpu(unsupported=no_hotspot)], clock=clock)
    with discover(["amd"]) as found:
        temps = [found.devices[0].read(clock()).temp_c for _ in range(4)]
    assert temps == [41, 41, 41, 41]
    assert fake.calls["amdsmi_get_temp_metric"] == 1 + 4  # HOTSPOT once, EDGE each read


def test_older_cards_report_average_power_and_microwatt_limits(install_amdsmi, clock) -> None:
    install_amdsmi(
        [FakeAmdGpu(power_key="average_socket_power", power_limit_w=300_000_000)], clock=clock
    )
    with discover(["amd"]) as found:
        reading = found.devices[0].read(clock())
    assert reading.power_w == pytest.approx(140.0)
    assert reading.power_limit_w == pytest.approx(300.0)


def test_no_power_reading_is_none_not_zero(install_amdsmi, clock) -> None:
    install_amdsmi([FakeAmdGpu(power_key="mem_voltage", power_limit_w="N/A")], clock=clock)  # type: ignore[arg-type]
    with discover(["amd"]) as found:
        reading = found.devices[0].read(clock())
    assert reading.power_w is None and reading.power_limit_w is None


def test_init_failure_means_absent(install_amdsmi) -> None:
    install_amdsmi([], init_error=34)
    with discover(["amd"]) as found:
        assert found.devices == []
        (reason,) = found.absent
        assert reason.startswith("amdsmi: init failed") and "\n" not in reason


def test_no_amd_gpu_means_absent(install_amdsmi) -> None:
    install_amdsmi([])
    with discover(["amd"]) as found:
        assert found.absent == ["amdsmi: no AMD GPU found"]


class _RocmMissing(importlib.abc.MetaPathFinder):
    """Behaves like the real amdsmi on a machine without ROCm: import raises KeyError."""

    def find_spec(self, name, path, target=None):  # type: ignore[no-untyped-def]
        if name == "amdsmi":
            raise KeyError("libamd_smi.so")
        return None


def test_import_keyerror_without_rocm_means_absent(monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, "amdsmi")
    monkeypatch.setattr(sys, "meta_path", [_RocmMissing(), *sys.meta_path])
    with discover(["amd"]) as found:
        assert found.devices == []
        assert found.absent == ["amdsmi: ROCm library not loadable (KeyError: 'libamd_smi.so')"]


def test_not_installed_means_absent() -> None:
    with discover(["amd"]) as found:
        assert found.absent == ["amdsmi: not installed (pip install 'gpuscope[amd]')"]


@pytest.mark.parametrize(
    ("value", "expected"), [(5, 5.0), (2.5, 2.5), ("N/A", None), (None, None), (True, None)]
)
def test_number(value, expected) -> None:
    assert number(value) == expected


def test_a_process_share_is_its_graphics_busy_time_over_the_interval(install_amdsmi, clock) -> None:
    """amdsmi gives each process's cumulative graphics-engine busy time (ns): its share of an
    interval is the growth over the interval's length; n/a on the first read."""
    process = {
        "name": "python3", "pid": 4242, "mem": 0,
        "engine_usage": {"gfx": 5_000_000_000, "enc": 0},
        "memory_usage": {"gtt_mem": 0, "cpu_mem": 0, "vram_mem": 512 * MIB},
        "cu_occupancy": "N/A",
    }  # fmt: skip
    gpu = FakeAmdGpu(processes=[process])
    install_amdsmi([gpu], clock=clock)
    with discover(["amd"]) as found:
        device = found.devices[0]
        (first,) = device.read(clock()).processes
        clock.advance(2.0)
        process["engine_usage"] = {"gfx": 5_000_000_000 + 1_500_000_000, "enc": 0}  # 1.5 s busy
        (second,) = device.read(clock()).processes
    assert first.sm_pct is None  # no interval yet: n/a, not 0
    assert second.sm_pct == pytest.approx(75.0)


def test_without_rocms_library_amdsmi_is_not_even_imported(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 21: importing amdsmi costs 5-7 ms of a 100 ms gpuscope list, and prints to stdout,
    to fail with a KeyError where ROCm is absent; the library is looked for where amdsmi looks."""
    import importlib.machinery
    import importlib.util

    from gpuscope.telemetry import amd

    package = tmp_path / "amdsmi"
    package.mkdir()
    spec = importlib.machinery.ModuleSpec("amdsmi", None, origin=str(package / "__init__.py"))
    monkeypatch.delitem(sys.modules, "amdsmi")
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: spec if name == "amdsmi" else None
    )
    monkeypatch.setenv("ROCM_PATH", str(tmp_path / "no-rocm"))
    monkeypatch.setattr(sys, "platform", "linux")
    result = amd.probe()
    assert result.absent_reason == "amdsmi: ROCm library not loadable (libamd_smi.so not found)"
    assert "amdsmi" not in sys.modules
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert amd.probe().absent_reason == "amdsmi: not installed (pip install 'gpuscope[amd]')"
