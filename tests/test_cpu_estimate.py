"""The CPU estimate where RAPL cannot be read: the model, its TDP, where it comes from (option,
then config file), and that everything made from it says ``estimate``."""

from __future__ import annotations

import csv
import io
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpuscope.config import cpu_power_model, load_config
from gpuscope.errors import UsageError
from gpuscope.measurement.run_result import RunResult, compare
from gpuscope.sampler import Sampler
from gpuscope.simulated.devices import SimulatedCpu
from gpuscope.telemetry.cpu_estimate import (
    CpuPowerModel,
    EstimatedCpu,
    apply_cpu_estimate,
    check_tdp_w,
    with_cpu_estimate,
)
from gpuscope.telemetry.discover import Discovery
from gpuscope.telemetry.model import DeviceInfo, EnergySource, Reading, Vendor
from gpuscope.telemetry.rapl import RaplReader

GPUSCOPE = [sys.executable, "-m", "gpuscope"]


# -- the model ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("util_pct", "watts"),
    [(0.0, 25.0), (50.0, 75.0), (100.0, 125.0), (-3.0, 25.0), (140.0, 125.0)],
)
def test_power_is_linear_from_a_fifth_of_tdp_idle_to_tdp(util_pct: float, watts: float) -> None:
    assert CpuPowerModel(125.0).power_w(util_pct) == pytest.approx(watts)


def test_the_idle_fraction_is_part_of_the_stated_model() -> None:
    model = CpuPowerModel(100.0, idle_fraction=0.5)
    assert model.power_w(0.0) == pytest.approx(50.0) and model.power_w(50.0) == 75.0
    assert "20% of TDP 125 W" in CpuPowerModel(125.0).describe()


@pytest.mark.parametrize("value", [0, -5, 2001, math.nan, math.inf, "125", "125W", True, None])
def test_an_implausible_tdp_is_refused_in_one_line(value: object) -> None:
    with pytest.raises(ValueError, match=r"^--cpu-tdp must be") as caught:
        check_tdp_w(value, "--cpu-tdp")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("value", [125, 65.5, 2000])
def test_a_plausible_tdp_is_taken_as_watts(value: float) -> None:
    assert check_tdp_w(value, "--cpu-tdp") == float(value)


# -- which devices are estimated ----------------------------------------------------------------


class CpuWithRapl:
    """A CPU whose RAPL is readable (a counter, and the power derived from it)."""

    info = DeviceInfo("cpu", Vendor.CPU, 0, "cpu with RAPL", has_energy_counter=True)

    def read(self, now_s: float, exact_energy: bool = False) -> Reading:
        return Reading(now_s, now_s, util_cpu_pct=50.0, power_w=80.0, energy_counter_j=now_s * 80)


class Gpu:
    info = DeviceInfo("nvidia:0", Vendor.NVIDIA, 0, "gpu without power")

    def read(self, now_s: float, exact_energy: bool = False) -> Reading:
        return Reading(now_s, now_s, util_gpu_pct=50.0)


def test_only_a_cpu_without_rapl_is_estimated(clock) -> None:  # type: ignore[no-untyped-def]
    no_rapl = SimulatedCpu(clock())
    gpu, rapl = Gpu(), CpuWithRapl()
    model = CpuPowerModel(100.0)
    wrapped = with_cpu_estimate([gpu, no_rapl, rapl], model)
    assert wrapped[0] is gpu and wrapped[2] is rapl  # measured beats estimate
    assert isinstance(wrapped[1], EstimatedCpu)
    assert with_cpu_estimate([no_rapl], None) == [no_rapl]
    assert wrapped[1].info.notes[-1] == model.describe()


def test_a_discovery_gets_the_estimate_in_place(clock) -> None:  # type: ignore[no-untyped-def]
    """The one step every command and the session take after discovery."""
    gpu, cpu = Gpu(), SimulatedCpu(clock())
    found = Discovery([gpu, cpu])
    apply_cpu_estimate(found, CpuPowerModel(100.0))
    assert found.devices[0] is gpu and isinstance(found.devices[1], EstimatedCpu)
    apply_cpu_estimate(found, None)  # no model: nothing changes
    assert isinstance(found.devices[1], EstimatedCpu)


def test_an_estimated_cpu_says_estimate_in_samples_and_windows(clock) -> None:  # type: ignore[no-untyped-def]
    cpu = SimulatedCpu(clock(), timeline=lambda t: 0.5)  # 50 % busy throughout
    sampler = Sampler(with_cpu_estimate([cpu], CpuPowerModel(100.0)), clock=clock)
    sampler.tick()
    with sampler.window("run") as window:
        for _ in range(4):
            clock.advance(0.5)
            sampler.tick()
    sample = sampler.latest("cpu")
    assert sample is not None and sample.reading.power_w is None  # the measured column stays empty
    assert sample.reading.power_estimate_w == pytest.approx(60.0)
    assert sample.energy_source is EnergySource.ESTIMATE
    result = window.results["cpu"]
    assert result.source is EnergySource.ESTIMATE
    assert result.energy_j == pytest.approx(60.0 * 2.0)


def _report(device: str, source: EnergySource | None) -> RunResult:
    return RunResult(
        workload="gemm", device=device, telemetry_device=None, device_name=None, params={},
        unit="FLOP", units=10.0, seconds=1.0, steps=1, throughput=10.0, tflops=None,
        energy_j=5.0, avg_power_w=5.0, work_per_joule=2.0, energy_source=source, pct_of_peak=None,
    )  # fmt: skip


def test_a_comparison_says_which_side_is_estimated() -> None:
    counter, estimate = EnergySource.COUNTER, EnergySource.ESTIMATE
    both_measured = compare(_report("cpu", counter), _report("cuda:0", counter))
    assert both_measured.estimated == () and both_measured.estimated_note() == ""
    cpu_estimated = compare(_report("cpu", estimate), _report("cuda:0", counter))
    assert cpu_estimated.estimated == ("cpu",)
    assert cpu_estimated.estimated_note() == " (cpu estimated)"


# -- where the TDP comes from --------------------------------------------------------------------


def write_config(folder: Path, text: str) -> Path:
    path = folder / "gpuscope" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_no_config_file_and_no_option_means_no_estimate(tmp_path: Path) -> None:
    assert load_config(tmp_path / "absent.toml").cpu_tdp_w is None
    assert cpu_power_model(None, tmp_path / "absent.toml") is None


def test_the_option_beats_the_config_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, "cpu_tdp_w = 125\n")
    from_file = cpu_power_model(None, path)
    assert from_file is not None and from_file.tdp_w == 125.0
    from_option = cpu_power_model(65.0, path)
    assert from_option is not None and from_option.tdp_w == 65.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cpu_tdp_w = \n", "is not valid TOML"),
        ("cpu_tdp = 125\n", "unknown key 'cpu_tdp' (known: cpu_tdp_w)"),
        ('cpu_tdp_w = "125W"\n', "cpu_tdp_w in"),
        ("cpu_tdp_w = -5\n", "must be the CPU's TDP in watts"),
        ("cpu_tdp_w = 125000\n", "<= 2000"),
    ],
)
def test_a_bad_config_file_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = write_config(tmp_path, text)
    with pytest.raises(UsageError) as caught:
        cpu_power_model(65.0, path)  # broken even when the option would have won
    assert message in str(caught.value) and "\n" not in str(caught.value)


def gpuscope(*args: str, config_home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(config_home)}
    return subprocess.run([*GPUSCOPE, *args], capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.parametrize(
    "args",
    [
        ["record", "-d", "0.2"],
        ["serve", "--listen", "127.0.0.1:19400"],
        ["bench", "gemm"],
        ["list"],
        [],  # the UI
    ],
)
def test_a_bad_config_stops_every_sampling_command_with_exit_2(
    tmp_path: Path, args: list[str]
) -> None:
    write_config(tmp_path, "cpu_tdp_w = 0\n")
    result = gpuscope(*args, config_home=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "cpu_tdp_w in" in result.stderr and "must be the CPU's TDP" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("tdp", ["0", "nan", "abc"])
def test_a_bad_option_is_one_line_and_exit_2(tmp_path: Path, tdp: str) -> None:
    result = gpuscope("record", "-d", "0.2", "--cpu-tdp", tdp, config_home=tmp_path)
    assert result.returncode == 2
    assert "--cpu-tdp" in result.stderr and len(result.stderr.strip().splitlines()) == 1


# -- end to end: gpuscope record -----------------------------------------------------------------

RAPL_READABLE = RaplReader.open()[0] is not None
needs_no_rapl = pytest.mark.skipif(
    RAPL_READABLE, reason="this machine's RAPL is readable: measured beats estimate"
)


def cpu_rows(stdout: str) -> list[dict[str, str]]:
    return [row for row in csv.DictReader(io.StringIO(stdout)) if row["device"] == "cpu"]


@needs_no_rapl
@pytest.mark.parametrize(
    ("option", "config", "tdp_w"),
    [(["--cpu-tdp", "90"], "", 90.0), ([], "cpu_tdp_w = 40\n", 40.0)],
)
def test_record_labels_the_cpu_energy_estimate(
    tmp_path: Path, option: list[str], config: str, tdp_w: float
) -> None:
    write_config(tmp_path, config)
    result = gpuscope(
        "record", "--devices", "cpu", "-d", "1.5", "-i", "0.25", *option, config_home=tmp_path
    )
    assert result.returncode == 0, result.stderr
    rows = [row for row in cpu_rows(result.stdout) if row["energy_source"]]
    assert len(rows) >= 4
    assert {row["energy_source"] for row in rows} == {"estimate"}
    assert all(row["power_w"] == "" for row in rows)  # never passed off as measured power
    watts = [float(row["power_estimate_w"]) for row in rows]
    assert all(0.2 * tdp_w - 1e-6 <= w <= tdp_w + 1e-6 for w in watts)
    energy = [float(row["energy_j"]) for row in rows]
    assert energy == sorted(energy) and energy[-1] > 0


@needs_no_rapl
def test_without_a_tdp_the_cpu_energy_stays_na_and_list_says_how(tmp_path: Path) -> None:
    result = gpuscope("record", "--devices", "cpu", "-d", "0.6", "-i", "0.2", config_home=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = cpu_rows(result.stdout)
    assert rows and all(r["energy_j"] == r["energy_source"] == r["power_estimate_w"] == ""
                        for r in rows)  # fmt: skip
    listed = gpuscope("list", config_home=tmp_path)
    energy_line = next(line for line in listed.stdout.splitlines() if "energy:" in line)
    assert "energy: n/a (RAPL: " in energy_line and energy_line.endswith("estimate: --cpu-tdp W)")


@needs_no_rapl
@pytest.mark.parametrize(
    ("option", "config"), [(["--cpu-tdp", "65"], ""), ([], "cpu_tdp_w = 65\n")]
)
def test_list_shows_the_estimate_the_other_commands_will_use(
    tmp_path: Path, option: list[str], config: str
) -> None:
    """``list`` kept saying "estimate: --cpu-tdp W" to a user who had already given it."""
    write_config(tmp_path, config)
    listed = gpuscope("list", *option, config_home=tmp_path)
    assert listed.returncode == 0, listed.stderr
    energy_line = next(line for line in listed.stdout.splitlines() if "energy:" in line)
    assert "energy: estimate" in energy_line and "TDP 65 W" in energy_line
    assert "--cpu-tdp" not in energy_line  # the advice already taken is not repeated
