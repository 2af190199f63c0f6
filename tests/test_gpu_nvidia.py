"""On a machine with an NVIDIA GPU: gpuscope's readings against ``nvidia-smi --query-gpu``.

Skipped without a GPU (CI has none). Run with ``pytest -m gpu`` on a GPU machine.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpuscope.sampler import Sampler
from gpuscope.telemetry.discover import discover
from gpuscope.telemetry.model import EnergySource

pytestmark = pytest.mark.gpu

QUERY = (
    "uuid,name,pci.bus_id,driver_version,memory.total,memory.used,power.draw,"
    "power.limit,temperature.gpu,clocks.sm,clocks.mem,pstate"
)


def nvidia_smi() -> list[dict[str, str]]:
    if shutil.which("nvidia-smi") is None:
        pytest.skip("nvidia-smi not found: no NVIDIA driver here")
    result = subprocess.run(
        ["nvidia-smi", f"--query-gpu={QUERY}", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if result.returncode != 0:
        pytest.skip(f"nvidia-smi failed: {result.stderr.strip() or result.stdout.strip()}")
    keys = QUERY.split(",")
    return [
        dict(zip(keys, (v.strip() for v in row), strict=True))
        for row in csv.reader(result.stdout.splitlines())
    ]


@pytest.fixture
def nvidia_devices():  # type: ignore[no-untyped-def]
    smi = nvidia_smi()
    with discover(["nvidia"]) as found:
        if not found.devices:
            pytest.skip(f"NVML found no GPU: {found.absent}")
        yield smi, found.devices


def test_static_info_matches_nvidia_smi(nvidia_devices) -> None:  # type: ignore[no-untyped-def]
    smi, devices = nvidia_devices
    assert len(devices) == len(smi)
    for row, device in zip(smi, devices, strict=True):
        info = device.info
        assert info.uuid == row["uuid"]
        assert info.name == row["name"]
        assert info.pci_bus_id.lower() == row["pci.bus_id"].lower()
        assert info.driver == row["driver_version"]
        assert info.mem_total_mib == pytest.approx(float(row["memory.total"]), abs=1)
        assert info.has_energy_counter  # Volta and newer


def test_live_readings_match_nvidia_smi(nvidia_devices) -> None:  # type: ignore[no-untyped-def]
    _, devices = nvidia_devices
    readings = [d.read(time.monotonic()) for d in devices]
    smi = nvidia_smi()  # right after, so slowly moving values agree
    for row, reading in zip(smi, readings, strict=True):
        assert reading.mem_used_mib == pytest.approx(float(row["memory.used"]), abs=256)
        assert reading.power_limit_w == pytest.approx(float(row["power.limit"]), abs=1)
        assert reading.power_w == pytest.approx(
            float(row["power.draw"]), abs=max(30, 0.25 * reading.power_w)
        )
        assert reading.temp_c == pytest.approx(float(row["temperature.gpu"]), abs=3)
        assert reading.clock_mem_mhz == pytest.approx(float(row["clocks.mem"]), rel=0.1)
        assert f"P{reading.pstate}" == row["pstate"]
        assert reading.util_gpu_pct is not None and reading.throttle_reasons is not None
        assert reading.processes is not None


def test_energy_window_agrees_with_power(nvidia_devices) -> None:  # type: ignore[no-untyped-def]
    _, devices = nvidia_devices
    sampler = Sampler(devices, interval_s=0.1)
    sampler.start()
    try:
        with sampler.window("idle") as window:
            time.sleep(3.0)
    finally:
        sampler.stop()
    for device in devices:
        result = window.results[device.info.device_id]
        powers = [
            s.reading.power_w for s in sampler.history(device.info.device_id) if s.reading.power_w
        ]
        assert result.source is EnergySource.COUNTER
        assert result.duration_s == pytest.approx(3.0, abs=0.3)
        assert result.avg_power_w == pytest.approx(sum(powers) / len(powers), rel=0.25)


def test_record_on_gpu_writes_counter_energy(tmp_path: Path, nvidia_devices) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "gpu.csv"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gpuscope",
            "record",
            "-o",
            str(out),
            "-d",
            "2",
            "-i",
            "0.1",
            "--devices",
            "nvidia",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    first_gpu = [r for r in rows if r["device"] == "nvidia:0"]
    assert abs(len(first_gpu) - 20) <= 1
    # the counter is read once a second: power bridges the rows between (integrated before the
    # first second's read, counter+integrated after), and every read makes a row exactly counter
    sources = [r["energy_source"] for r in first_gpu]
    assert set(sources) <= {"counter", "counter+integrated", "integrated"}
    assert sources.count("counter") >= 2
    assert float(first_gpu[-1]["energy_j"]) > 0 and float(first_gpu[-1]["power_w"]) > 0
