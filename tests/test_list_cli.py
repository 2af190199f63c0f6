"""``gpuscope list``: devices, supported metrics and absent-backend lines."""

from __future__ import annotations

import json
import subprocess
import sys

from gpuscope.cli import main
from gpuscope.commands.listing import summarize
from gpuscope.telemetry.discover import discover
from tests.fakes.fake_amdsmi import FakeAmdGpu
from tests.fakes.fake_pynvml import FakeGpu


def test_list_json_on_this_machine() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gpuscope", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)  # stdout is pure JSON even when amdsmi prints on import
    cpu = next(d for d in listing["devices"] if d["device"] == "cpu")
    assert "util_cpu_pct" in cpu["supported_metrics"] and "mem_used_mib" in cpu["supported_metrics"]
    assert "util_gpu_pct" in cpu["unsupported_metrics"]
    if not any(d["vendor"] == "nvidia" for d in listing["devices"]):
        assert any(line.startswith("NVML: ") for line in listing["absent"])


def test_list_mixed_box_text(install_nvml, install_amdsmi, capsys) -> None:
    install_nvml(
        [
            FakeGpu(),
            FakeGpu(
                uuid="GPU-b",
                unsupported={"nvmlDeviceGetFanSpeed", "nvmlDeviceGetTotalEnergyConsumption"},
            ),
        ]
    )
    install_amdsmi([FakeAmdGpu()])
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    blocks = out.split("\n")
    assert blocks[0].startswith("nvidia:0  NVIDIA H100 80GB HBM3  driver 580.159.04")
    assert "energy: hardware counter" in blocks[1]
    assert "fan_pct" in blocks[3] and blocks[3].strip().startswith("n/a:")
    assert "nvidia:1" in out and "energy: integrated from power" in out
    assert "amd:0     AMD Instinct MI300X" in out
    assert out.index("amd:0") < out.index("\ncpu ")  # GPUs first, then the CPU
    assert "absent" not in out


def test_gpu_lost_before_discovery_is_reported_and_others_listed(install_nvml, capsys) -> None:
    install_nvml([FakeGpu(lost_at=0.0), FakeGpu(uuid="GPU-b")])
    assert main(["list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [d["device"] for d in listing["devices"]] == ["nvidia:1", "cpu"]
    assert listing["absent"][0].startswith("NVML: GPU 0 unusable (")
    assert listing["absent"][0].endswith("GPU is lost)")


def test_gpu_lost_after_open_is_marked_lost(install_nvml) -> None:
    fake = install_nvml([FakeGpu()])
    with discover(["nvidia"]) as found:
        fake.gpus[0].lost_at = 0.0  # after open, before the reads
        (summary,) = summarize(found.devices)
    assert "GPU is lost" in summary.as_dict()["lost"]
    assert summary.supported == []
