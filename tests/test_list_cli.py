"""``gpuscope list``: devices, supported metrics and absent-backend lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from gpuscope.cli import main
from gpuscope.commands.listing import summarize
from gpuscope.telemetry.discover import discover
from gpuscope.telemetry.model import ACTIVITY_METRICS
from tests.fakes.fake_amdsmi import FakeAmdGpu
from tests.fakes.fake_gpm import FakeGpm
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
    assert blocks[2].strip() == "native: fp8, bf16, fp16, tf32, fp32 (compute capability 9.0)"
    assert "fan_pct" in blocks[4] and blocks[4].strip().startswith("n/a:")
    assert "nvidia:1" in out and "energy: integrated from power" in out
    assert "amd:0     AMD Instinct MI300X" in out
    assert out.index("amd:0") < out.index("\ncpu ")  # GPUs first, then the CPU
    assert "absent" not in out


def test_list_says_per_nvidia_gpu_whether_gpm_is_available(install_nvml, capsys) -> None:
    """The 14 activity metrics are one group: "GPM activity: ..." with its reason, never 14
    names in a device's "n/a" line (the CPU's included); and list samples no GPM to say so."""
    fake = install_nvml([FakeGpu(), FakeGpu(uuid="GPU-a100", gpm=FakeGpm(supported=False))])
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    gpu0, rest = out.split("\nnvidia:1")
    gpu1, cpu = rest.split("\ncpu")
    assert "GPM activity: available, 14 metrics (sampled only while shown or recorded)" in gpu0
    assert "GPM activity: n/a (this GPU has no GPM: Hopper or newer)" in gpu1
    assert "energy: hardware counter\n" in gpu1  # the GPM note is not an energy note
    assert "GPM" not in cpu and "sm_active_pct" not in out
    assert set(fake.calls) & {"nvmlGpmSampleAlloc", "nvmlGpmSampleGet"} == set()
    assert main(["list", "--json"]) == 0
    h100, a100, host = json.loads(capsys.readouterr().out)["devices"]
    assert h100["activity_counters"] is True and h100["activity_reason"] is None
    assert h100["activity_metrics"] == list(ACTIVITY_METRICS)
    assert a100["activity_counters"] is False and a100["activity_metrics"] == []
    assert a100["activity_reason"] == "this GPU has no GPM: Hopper or newer"
    assert host["activity_reason"] == "not an NVIDIA GPU"
    for device in (h100, a100, host):
        listed = set(device["supported_metrics"]) | set(device["unsupported_metrics"])
        assert not listed & set(ACTIVITY_METRICS)
        assert {"supported_metrics", "unsupported_metrics", "notes", "lost"} <= set(device)


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


def test_each_device_is_read_once_with_no_wait_and_delta_metrics_count_as_supported(
    monkeypatch,
) -> None:
    """Issue 21: list read every device twice with a 50 ms sleep between, for the CPU's
    utilization; a metric computed from the change between reads is now supported from one."""
    import time as time_module

    from gpuscope.telemetry.cpu import CpuDevice

    slept: list[float] = []
    monkeypatch.setattr(time_module, "sleep", slept.append)
    cpu = CpuDevice()
    reads: list[float] = []
    real_read = cpu.read

    def read_without_utilization(now_s: float):  # type: ignore[no-untyped-def]
        reads.append(now_s)
        from dataclasses import replace

        return replace(real_read(now_s), util_cpu_pct=None, util_cores_pct=None)  # no tick yet

    cpu.read = read_without_utilization  # type: ignore[method-assign]
    (summary,) = summarize([cpu])
    assert len(reads) == 1 and slept == []
    assert {"util_cpu_pct", "util_cores_pct", "mem_used_mib"} <= set(summary.supported)


def test_list_imports_only_what_listing_needs() -> None:
    """Issue 21: list must start within 100 ms; nvidia-ml-py (15-20 ms) and amdsmi (5-7 ms)
    are not imported where their library does not load, nor platformdirs, tomllib or json
    without a reason."""
    code = (
        "import sys, ctypes\n"
        "def loads(name):\n    try:\n        ctypes.CDLL(name); return True\n"
        "    except OSError:\n        return False\n"
        "nvml, rocm = loads('libnvidia-ml.so.1'), loads('/opt/rocm/lib/libamd_smi.so')\n"
        "from gpuscope.cli import main\n"
        "assert main(['list']) == 0\n"
        "unwanted = ['platformdirs', 'tomllib', 'json'] + ([] if nvml else ['pynvml'])\n"
        "unwanted += [] if rocm else ['amdsmi']\n"
        "print('imported:', [m for m in unwanted if m in sys.modules])\n"
    )
    env = {**os.environ, "XDG_CONFIG_HOME": "/nonexistent-gpuscope-test"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "imported: []" in done.stdout, done.stdout


def test_the_users_folder_is_xdgs_and_platformdirs_only_off_linux(monkeypatch, tmp_path) -> None:
    import platformdirs

    from gpuscope import user_dirs

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert user_dirs.user_config_dir() == tmp_path / "gpuscope"
    monkeypatch.setenv("XDG_CONFIG_HOME", " ")
    monkeypatch.setattr(user_dirs.sys, "platform", "linux")
    assert user_dirs.user_config_dir() == user_dirs.Path.home() / ".config" / "gpuscope"
    assert user_dirs.user_config_dir() == user_dirs.Path(
        platformdirs.user_config_dir("gpuscope", appauthor=False)
    )  # the same folder platformdirs names on Linux
    monkeypatch.setattr(user_dirs.sys, "platform", "darwin")
    monkeypatch.setattr(platformdirs, "user_config_dir", lambda *a, **k: "/mac/gpuscope")
    assert user_dirs.user_config_dir() == user_dirs.Path("/mac/gpuscope")
