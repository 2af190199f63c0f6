"""The CPU backend on this machine's real psutil, and RAPL on a scripted powercap tree."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gpuscope.telemetry.cpu import CpuDevice
from gpuscope.telemetry.rapl import RaplReader


def make_zone(
    root: Path, name: str, energy_uj: int, range_uj: int = 262143328850, limit_uw: int | None = None
) -> Path:
    zone = root / name
    zone.mkdir(parents=True)
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{range_uj}\n")
    if limit_uw is not None:
        (zone / "constraint_0_power_limit_uw").write_text(f"{limit_uw}\n")
    return zone


def test_cpu_reading_on_this_machine(tmp_path: Path) -> None:
    device = CpuDevice(powercap_root=tmp_path / "none")
    busy_until = time.process_time() + 0.15
    while time.process_time() < busy_until:
        pass
    reading = device.read(time.monotonic())
    assert device.info.device_id == "cpu"
    assert reading.util_cpu_pct is not None and 0 < reading.util_cpu_pct <= 100
    assert reading.util_cores_pct is not None and len(reading.util_cores_pct) >= 1
    assert all(0 <= c <= 100 for c in reading.util_cores_pct)
    assert 0 < reading.mem_used_mib < reading.mem_total_mib
    # no RAPL here: power and energy are unknown, not zero
    assert reading.power_w is None and reading.energy_counter_j is None
    assert not device.info.has_energy_counter and "not present" in device.info.notes[0]


def test_rapl_sums_packages_and_unwraps_each_zone(tmp_path: Path) -> None:
    zone0 = make_zone(
        tmp_path, "intel-rapl:0", 990_000_000, range_uj=1_000_000_000, limit_uw=125_000_000
    )
    zone1 = make_zone(
        tmp_path, "intel-rapl:1", 5_000_000, range_uj=1_000_000_000, limit_uw=125_000_000
    )
    make_zone(tmp_path, "intel-rapl:0:0", 1)  # a sub-zone (core): must not be added
    make_zone(tmp_path, "intel-rapl-mmio:0", 1)  # duplicate of the package: must not be added
    reader, reason = RaplReader.open(tmp_path)
    assert reader is not None and reason is None
    assert reader.power_limit_w == pytest.approx(250.0)
    assert reader.read_j() == 0
    (zone0 / "energy_uj").write_text("20000000\n")  # wrapped: 10 J to the top, then 20 J
    (zone1 / "energy_uj").write_text("8000000\n")  # +3 J
    assert reader.read_j() == pytest.approx(33.0)


def test_cpu_power_derived_from_rapl_energy(tmp_path: Path) -> None:
    zone = make_zone(tmp_path, "intel-rapl:0", 0)
    device = CpuDevice(powercap_root=tmp_path)
    assert device.info.has_energy_counter
    first = device.read(100.0)
    assert first.power_w is None  # no interval yet
    (zone / "energy_uj").write_text("65000000\n")  # 65 J in 0.5 s
    second = device.read(100.5)
    assert second.energy_counter_j == pytest.approx(65.0)
    assert second.power_w == pytest.approx(130.0)


def test_unreadable_rapl_gives_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_zone(tmp_path, "intel-rapl:0", 0)
    real_read_text = Path.read_text

    def deny(path: Path, *args: object, **kwargs: object) -> str:
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied")  # root-only since Linux 5.10
        return real_read_text(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", deny)
    reader, reason = RaplReader.open(tmp_path)
    assert reader is None and reason == (
        "RAPL: energy_uj readable by root only (Linux >= 5.10): "
        f"sudo chmod o+r {tmp_path}/intel-rapl:*/energy_uj; or estimate: --cpu-tdp W"
    )
