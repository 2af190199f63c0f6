"""scripts/gpu_check.py without a GPU: its runner, its writers, its comparison of readings with
nvidia-smi and its energy section (on the pynvml fake), and its refusal to run without a GPU."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from gpuscope.telemetry.discover import discover
from gpuscope.telemetry.model import ACTIVITY_METRICS, DeviceInfo, Reading, Vendor
from scripts.gpu_check import DEFAULT_BUDGET_S
from scripts.gpucheck import gpm_section, telemetry_sections, workload_sections
from scripts.gpucheck.context import REPO, Context, settle_idle
from scripts.gpucheck.gpm_cost import (
    GPM_METRIC_NAMES,
    GpmCallCost,
    energy_reads_while_recording,
    time_device_reads,
    time_gpm_calls,
)
from scripts.gpucheck.readings import (
    METRICS,
    Pair,
    compare_pairs,
    parse_smi_csv,
)
from scripts.gpucheck.report import (
    CheckReport,
    SectionResult,
    Status,
    Table,
    render_markdown,
    write_json,
)
from scripts.gpucheck.runner import Section, Unsupported, run_sections
from scripts.gpucheck.sections import SECTIONS, all_sections
from scripts.gpucheck.telemetry_sections import power_verdict
from scripts.gpucheck.ui_section import summarise_ui
from tests.fakes.fake_pynvml import FakeGpu, Ramp
from tests.waiting import wait_until

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.py"


class StepClock:
    """Each call moves time by ``step`` seconds: a section 'takes' a known time."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_runner_keeps_going_after_a_failure_and_skips_what_cannot_fit() -> None:
    def broken(result: SectionResult, left_s: float) -> None:
        raise ValueError("bad value\nsecond line")

    def no_peer(result: SectionResult, left_s: float) -> None:
        raise Unsupported("nvitop not importable")

    def fine(result: SectionResult, left_s: float) -> None:
        result.figure("answer", 42.0, "W")
        result.summary = "fine"

    saved: list[list[str]] = []
    results = run_sections(
        [
            Section("broken", "Broken", 1, broken),
            Section("no-peer", "No peer", 1, no_peer),
            Section("fine", "Fine", 1, fine),
            Section("huge", "Too long", 1000, fine),
            Section("unasked", "Not asked", 1, fine),
        ],
        budget_s=100,
        log=lambda line: None,
        clock=StepClock(1.0),
        only={"broken", "no-peer", "fine", "huge"},
        after_each=lambda done: saved.append([r.name for r in done]),
    )
    statuses = {r.name: r.status for r in results}
    assert statuses == {
        "broken": Status.FAILED,
        "no-peer": Status.UNSUPPORTED,
        "fine": Status.OK,
        "huge": Status.SKIPPED,
        "unasked": Status.SKIPPED,
    }
    assert results[0].error == "ValueError: bad value"  # one line
    assert "needs about 1000 s" in results[3].error
    assert results[2].figures["answer"].value == 42.0 and not results[2].figures["answer"].note
    assert results[3].figures == {}  # a skipped section reports nothing it did not measure
    assert saved[0] == ["broken"] and saved[-1][:3] == ["broken", "no-peer", "fine"]


def _report() -> CheckReport:
    ok = SectionResult("energy", "Energy", summary="window within 0.2 %")
    ok.figure("window vs raw counter", 0.2, "%", "target within 1 %: met")
    ok.figure("nvitop", None, "µs", "not measured: not installed")
    ok.figure("ratio", float("nan"), "x")
    ok.tables.append(Table("t", ["metric", "value"], [["power", 1.5], ["pstate", None]]))
    ok.texts["capture"] = "line | with a pipe\n"
    failed = SectionResult("ui", "UI", status=Status.FAILED, error="tmux: not found")
    return CheckReport("2026-11-26", {"gpu": "NVIDIA H200", "driver": "580"}, 510, [ok, failed])


def test_json_has_every_figure_with_its_unit_and_no_nan(tmp_path: Path) -> None:
    path = tmp_path / "gpu-check.json"
    write_json(_report(), path)
    payload = json.loads(path.read_text())  # strict JSON: NaN would not parse back as null
    energy, ui = payload["sections"]
    assert payload["machine"]["gpu"] == "NVIDIA H200"
    assert energy["figures"]["window vs raw counter"] == {
        "value": 0.2,
        "unit": "%",
        "note": "target within 1 %: met",
    }
    assert energy["figures"]["ratio"]["value"] is None
    assert energy["tables"][0]["rows"][1] == ["pstate", None]
    assert ui["status"] == "failed" and ui["error"] == "tmux: not found" and ui["figures"] == {}


def test_markdown_shows_na_statuses_and_escapes_pipes() -> None:
    text = render_markdown(_report())
    assert "## Energy: ok" in text and "## UI: failed" in text
    assert "| window vs raw counter | 0.2 % | target within 1 %: met |" in text
    assert "| nvitop | n/a | not measured: not installed |" in text
    assert "| pstate | n/a |" in text
    assert "**failed**: tmux: not found" in text
    assert "line | with a pipe" in text  # inside a code block, kept as is


def test_nvidia_smi_csv_is_parsed_with_na_as_none() -> None:
    line = (
        "0, 0, 0, 81559, 74.93, 700.00, 37, 345, 2619, P0\n"
        "3, [N/A], 1, 81559, [Not Supported], 700.00, 30, 345, 2619, P8\n"
    )
    first, second = parse_smi_csv(line)
    assert first["power.draw.instant"] == 74.93 and first["pstate"] == 0.0
    assert second["utilization.memory"] is None and second["power.draw.instant"] is None
    assert second["pstate"] == 8.0
    with pytest.raises(ValueError, match="fields"):
        parse_smi_csv("1, 2, 3\n")


def _smi_row_for(gpu: FakeGpu) -> dict[str, float | None]:
    """What nvidia-smi prints for the fake, in its units (MiB, W, MHz)."""
    return {
        "utilization.gpu": float(gpu.util_gpu),
        "utilization.memory": float(gpu.util_mem),
        "memory.used": gpu.mem_used / 2**20,
        "memory.total": gpu.mem_total / 2**20,
        "power.draw.instant": gpu.power.start_w,
        "enforced.power.limit": gpu.power_limit_mw / 1000,
        "temperature.gpu": float(gpu.temperature),
        "clocks.sm": float(gpu.sm_clock),
        "clocks.mem": float(gpu.mem_clock),
        "pstate": float(gpu.pstate),
    }


@pytest.fixture
def fake_h100(install_nvml) -> Iterator[tuple[FakeGpu, object]]:  # type: ignore[no-untyped-def]
    gpu = FakeGpu(power=Ramp(312.5), util_gpu=100, mem_used=40 * 2**30, sm_clock=1980)
    install_nvml([gpu])
    with discover(["nvidia"]) as found:
        yield gpu, found.devices[0]


def test_readings_from_the_driver_agree_and_a_wrong_unit_is_caught(fake_h100) -> None:  # type: ignore[no-untyped-def]
    gpu, device = fake_h100
    smi = _smi_row_for(gpu)
    pairs = [Pair(device.read(time.monotonic()), smi, device.read(time.monotonic()))]
    diffs = {d.metric.smi_field: d for d in compare_pairs(pairs)}
    assert len(diffs) == len(METRICS)
    assert all(d.agrees for d in diffs.values()), {k: d.max_abs_diff for k, d in diffs.items()}
    assert diffs["memory.used"].gpuscope_median == 40 * 1024

    wrong = {**smi, "power.draw.instant": smi["power.draw.instant"] * 1000}  # mW taken for W
    diffs = {
        d.metric.smi_field: d for d in compare_pairs([Pair(pairs[0].before, wrong, pairs[0].after)])
    }
    assert diffs["power.draw.instant"].agrees is False
    assert diffs["temperature.gpu"].agrees is True


def test_a_metric_nobody_reports_is_not_compared() -> None:
    empty = Reading(time_s=0.0, wall_time_s=0.0)
    smi = dict.fromkeys((m.smi_field for m in METRICS), None)
    smi["temperature.gpu"] = 40.0
    diffs = {d.metric.smi_field: d for d in compare_pairs([Pair(empty, smi, empty)])}
    assert diffs["temperature.gpu"].agrees is None
    assert diffs["temperature.gpu"].missing == "gpuscope n/a"
    assert diffs["clocks.sm"].missing == "gpuscope n/a, nvidia-smi n/a"


def test_energy_section_compares_the_window_with_the_raw_counter(
    fake_h100, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(Context, "gemm_load", lambda self, seconds: contextlib.nullcontext(0.0))
    result = SectionResult("energy", "Energy")
    ctx = Context(out=tmp_path, index=0, log=lambda line: None)
    telemetry_sections.energy(ctx, result, left_s=60, window_s=2.0)
    figures = {key: f.value for key, f in result.figures.items()}
    assert result.figures["sampler window energy"].note == "source: counter"
    assert figures["raw counter average power"] == pytest.approx(312.5, rel=0.01)
    assert figures["window average power"] == pytest.approx(312.5, rel=0.1)
    assert abs(figures["window vs raw counter"]) < 10  # the edges are read within 0.1 s
    assert figures["trapezoid of sampled power"] is not None
    assert "window" in result.summary and "raw counter" in result.summary


def test_without_a_gpu_it_says_so_in_one_line_and_exits_1(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # no nvidia-smi there on CI
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("gpu_check: no NVIDIA GPU here:")
    assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""
    assert not (tmp_path / "out").exists()  # no report of figures it did not measure


def test_a_torch_wheel_is_refused(tmp_path: Path) -> None:
    (tmp_path / "torch-2.13.0-cp311-none-any.whl").write_bytes(b"")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--wheels", str(tmp_path), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "refusing a torch wheel" in done.stderr


def test_settle_idle_waits_for_steady_power_and_gives_up_in_time() -> None:
    falling = iter([700.0, 400.0, 150.0, 90.0, 86.0, 85.0])
    slept: list[float] = []
    assert settle_idle(lambda: next(falling), sleep=slept.append) == 86.0
    assert len(slept) == 4
    never = iter([700.0, 100.0] * 20)
    assert settle_idle(lambda: next(never), timeout_s=5, sleep=lambda s: None) is None


def test_context_run_echoes_progress_and_reports_failures_in_one_line(tmp_path: Path) -> None:
    logged: list[str] = []
    ctx = Context(out=tmp_path, index=0, log=logged.append)
    output = ctx.run([sys.executable, "-c", "print('case 1'); print('case 2')"], 30, echo=True)
    assert output == "case 1\ncase 2\n" and logged == ["    case 1", "    case 2"]
    failing = [sys.executable, "-c", "import sys; print('x'); sys.exit('bad input: size')"]
    with pytest.raises(RuntimeError, match=r"exited 1: bad input: size$"):
        ctx.run(failing, 30)
    with pytest.raises(RuntimeError, match="timed out after 1 s"):
        ctx.run([sys.executable, "-c", "import time; time.sleep(30)"], 1)


def test_every_section_is_bound_and_fits_the_default_budget_alone() -> None:
    ctx = Context(out=Path("."), index=0, log=lambda line: None)
    sections = all_sections(ctx)
    assert [s.name for s in sections][:3] == ["sample-cost", "readings", "energy"]
    assert len({s.name for s in sections}) == len(sections)
    assert all(s.estimate_s < DEFAULT_BUDGET_S for s in sections)


def test_a_whole_check_is_two_commands_inside_a_15_minute_loan() -> None:
    """Each section taking its estimate: the first command runs what fits, the second what it
    skipped, and both with a machine start and two wheel installs (~2 min) fit 15 minutes."""
    now = [0.0]

    def taking(seconds: float) -> Callable[[SectionResult, float], None]:
        return lambda result, left_s: now.__setitem__(0, now[0] + seconds)

    sections = [Section(name, title, s, taking(s)) for name, title, s, _ in SECTIONS]
    first = run_sections(sections, DEFAULT_BUDGET_S, log=lambda line: None, clock=lambda: now[0])
    skipped = {r.name for r in first if r.status is Status.SKIPPED}
    assert skipped == {"ui", "memory-probe"} and now[0] <= DEFAULT_BUDGET_S
    second = run_sections(
        sections, DEFAULT_BUDGET_S, log=lambda line: None, clock=lambda: now[0], only=skipped
    )
    assert all(r.status is Status.OK for r in second if r.name in skipped)
    assert now[0] == sum(s.estimate_s for s in sections) == 750
    assert now[0] + 120 <= 15 * 60


def test_a_timeout_ends_the_childs_own_children_too(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    program = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    ctx = Context(out=tmp_path, index=0, log=lambda line: None)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="timed out"):
        ctx.run([sys.executable, "-c", program], 2)
    assert time.monotonic() - started < 15
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(grandchild):
        time.sleep(0.05)
    assert not _alive(grandchild)  # a bench's workload child must not keep the GPU busy


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_section_may_take_twice_its_estimate_at_most() -> None:
    given: list[float] = []
    run_sections(
        [Section("a", "A", 10, lambda result, left_s: given.append(left_s))],
        budget_s=500,
        log=lambda line: None,
        clock=StepClock(0.0),
    )
    assert given == [20]


def _case(ratio: float, target: float = 0.97) -> dict[str, object]:
    report = {"work_per_joule": 9.4e11, "unit": "FLOP", "avg_power_w": 700.0}
    report |= {"pct_of_peak": 67.0, "energy_source": "counter"}
    return {
        "unit": "FLOP/s",
        "plain": 6.6e14,
        "gpuscope": 6.6e14 * ratio,
        "ratio": ratio,
        "target": target,
        "meets": ratio >= target,
        "report": report,
        "wall_s": 20.0,
    }


def test_workloads_summary_names_misses_and_cases_that_never_ran() -> None:
    cases = {
        "gemm bf16 n=8192": _case(1.002),
        "gemm fp16 n=8192": _case(0.95),
        "gemm fp8 n=8192": {"error": "fp8 needs compute capability 8.9", "target": 0.97},
    }
    result = SectionResult("workloads", "Workloads")
    table = Table("t", ["case"] * 11)
    workload_sections.summarise_workloads(result, table, cases)
    assert result.summary.startswith("1 of 8 cases meet their target; MISSES: gemm fp16 n=8192")
    assert "not measured: gemm tf32 n=8192" in result.summary and "gemm fp8" in result.summary
    assert result.status is Status.FAILED  # a case that never ran is not a pass
    assert result.figures["gemm bf16 n=8192 ratio to plain torch"].note == "target 97%: meets"
    assert [row[5] for row in table.rows] == ["meets", "MISSES", ""]


def test_the_check_expects_exactly_the_gpu_cases_the_benchmark_runs() -> None:
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "workload_overhead.py"
    spec = importlib.util.spec_from_file_location("workload_overhead", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert list(module.CASES["cuda"]) == list(workload_sections.H100_PLAIN)


def test_exported_power_is_judged_with_the_readings_tolerance() -> None:
    assert power_verdict([(82.9, 81.9), (83.0, 82.0)]).startswith("agrees: 83.0 W")
    assert power_verdict([(132.3, 108.3)]).startswith("DIFFERS")
    assert power_verdict([]).startswith("not compared")


def test_an_output_path_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    taken = tmp_path / "report.md"
    taken.write_text("earlier results\n")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(taken)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        done.returncode == 2
        and done.stderr == f"gpu_check: --out {taken} is a file, not a folder\n"
    )
    assert taken.read_text() == "earlier results\n"


@pytest.mark.parametrize("budget", ["0", "-5", "nan", "inf"])
def test_a_budget_that_is_not_a_positive_time_is_a_usage_error(budget: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--budget", budget],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert (
        done.stderr
        == f"gpu_check: --budget must be a positive number of seconds, got {float(budget)}\n"
    )


def test_an_unknown_section_name_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--only", "energy,enrgy"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("gpu_check: unknown section enrgy (sections: sample-cost,")


def test_machine_facts_come_from_gpuscopes_own_probe(fake_h100) -> None:  # type: ignore[no-untyped-def]
    from scripts.gpu_check import machine_facts

    facts = machine_facts(0)
    assert facts["gpu"] == "NVIDIA H100 80GB HBM3" and facts["driver"] == "580.159.04"
    assert facts["nvml"] == "13.580.159.04" and facts["cuda driver"] == "13.0"
    assert facts["gpu memory MiB"] == pytest.approx(81559, abs=1)
    assert facts["power limit W"] == 700.0 and facts["gpus on host"] == 1
    assert facts["torch"]  # a version, or "not importable": never missing


# -- the gpm section, on a scripted device with GPM ------------------------------------------

# A PCIe card: no NVLink traffic offered, so n/a in every phase.
_IDLE: dict[str, float | None] = dict.fromkeys(ACTIVITY_METRICS, 0.0)
_IDLE |= {"pcie_tx_mib_s": 3.0, "pcie_rx_mib_s": 2.0, "nvlink_tx_mib_s": None,
          "nvlink_rx_mib_s": None}  # fmt: skip
_PHASES: dict[str, dict[str, float | None]] = {
    "idle": _IDLE,
    "gemm": _IDLE | {"sm_active_pct": 98.0, "sm_occupancy_pct": 20.0, "tensor_active_pct": 70.0,
                     "tensor_hmma_pct": 70.0, "dram_active_pct": 30.0, "fp32_active_pct": 1.0},
    "axpy": _IDLE | {"sm_active_pct": 90.0, "dram_active_pct": 88.0, "fp32_active_pct": 5.0},
}  # fmt: skip


class ScriptedGpm:
    """An H100 with GPM whose activity follows the phase the scripted bench sets; with
    ``held``, GPM is offered but every read says why it is n/a (another tool holds it)."""

    def __init__(self, activity_counters: bool = True, notes: tuple[str, ...] = (),
                 held: str | None = None, name: str = "NVIDIA H100 80GB HBM3") -> None:  # fmt: skip
        self.info = DeviceInfo("nvidia:0", Vendor.NVIDIA, 0, name, notes=notes,
                               activity_counters=activity_counters)  # fmt: skip
        self.phase, self.wanted, self.held = "idle", False, held
        self.reads: Counter[str] = Counter()

    def want_activity(self, wanted: bool) -> None:
        self.wanted = wanted

    def read(self, now_s: float, exact_energy: bool = False) -> Reading:
        phase = self.phase
        self.reads[phase] += 1
        activity = _PHASES[phase] if self.wanted and not self.held else {}
        return Reading(now_s, time.time(), power_w=690.0, power_limit_w=700.0,
                       clock_core_mhz=1455.0, throttle_reasons=("sw_power_cap",),
                       activity_note=self.held if self.wanted else None, **activity)  # fmt: skip


def _scripted_bench(device: ScriptedGpm, gemm_tflops: float, asked: list[str]) -> Any:
    def bench(workload: Sequence[str]) -> dict[str, Any]:
        asked.append(" ".join(workload))
        device.phase = workload[0]
        start, reads = time.time(), device.reads[workload[0]]
        wait_until(lambda: device.reads[workload[0]] >= reads + 6, f"{workload[0]} sampled")
        end = time.time()
        device.phase = "idle"
        rate = gemm_tflops * 1e12 if workload[0] == "gemm" else 3.0e12
        return {"measured_from_s": start, "measured_to_s": end, "throughput": rate,
                "tflops": rate / 1e12, "energy_source": "counter"}  # fmt: skip

    return bench


def _run_gpm(device: ScriptedGpm, gemm_tflops: float = 676.0) -> tuple[SectionResult, list[str]]:
    asked: list[str] = []
    raw = GpmCallCost([60e-6] * 20, [40e-6] * 20, ["NVML_GPM_METRIC_NVLINK_TOTAL_TX_PER_SEC"])
    section = Section(
        "gpm", "GPM", 60,
        lambda result, left_s: gpm_section.run_gpm(
            result, device, _scripted_bench(device, gemm_tflops, asked),
            wait_idle=lambda: wait_until(lambda: device.reads["idle"] >= 6, "idle sampled"),
            raw_cost=lambda: raw, energy_reads=lambda: 7, interval_s=0.05, cost_spacing_s=0.0,
        ),
    )  # fmt: skip
    (result,) = run_sections([section], budget_s=100, log=lambda line: None)
    return result, asked


def test_gpm_section_judges_each_phase_and_the_estimate_against_the_measured_gemm(
    tmp_path: Path,
) -> None:
    device = ScriptedGpm()
    result, asked = _run_gpm(device)
    assert result.status is Status.OK, result.error
    assert asked == ["gemm --dtype bf16 --size 8192", f"axpy --plugin {REPO}/plugins/axpy.py"]
    figures = result.figures
    assert figures["GEMM: SM active"].value == pytest.approx(98.0)
    assert figures["GEMM: tensor active (HMMA)"].note == "target >= 50 %: met"
    assert figures["axpy: DRAM bandwidth active"].value == pytest.approx(88.0)
    assert figures["axpy: tensor active"].note == "target <= 2 %: met"
    assert figures["idle: largest traffic (pcie_tx_mib_s)"].value == pytest.approx(3.0)
    # HMMA 70 % of the H100's 989.4 TFLOP/s and fp32 1 % of 66.9, against 676 measured
    estimate = 0.70 * 989.4 + 0.01 * 66.9
    assert figures["GEMM achieved estimate, mean over its measured window"].value == (
        pytest.approx(estimate)
    )
    assert figures["estimate / measured"].value == pytest.approx(estimate / 676.0)
    assert figures["estimate / measured"].note == "target within 15%: met"
    assert figures["gpuscope NvidiaDevice.read, activity wanted, median"].value is not None
    assert figures["GPM sample + metrics, median"].value == pytest.approx(100.0)
    energy = figures["nvmlDeviceGetTotalEnergyConsumption calls, gpuscope record -i 0.1 -d 5"]
    assert energy.value == 7 and energy.note.startswith("target <= 8 (about once a second")
    assert "estimate 693.2 vs measured 676 TFLOP/s" in result.summary and "MISSED" not in (
        result.summary
    )
    assert device.wanted is False  # nothing left sampling GPM after the section
    (table,) = result.tables
    assert [row[0] for row in table.rows] == list(ACTIVITY_METRICS)
    assert table.columns == ["metric", "unit", "idle 5 s", "bf16 GEMM n=8192", "axpy fp32"]
    write_json(CheckReport("2026-12-07", {"gpu": "H100"}, 520, [result]), tmp_path / "c.json")
    (section,) = json.loads((tmp_path / "c.json").read_text())["sections"]
    assert section["figures"]["estimate / measured"]["unit"] == "x"
    assert section["figures"]["GEMM: SM active"] == {
        "value": 98.0, "unit": "%", "note": "target >= 80 %: met"
    }  # fmt: skip
    text = render_markdown(CheckReport("2026-12-07", {"gpu": "H100"}, 520, [result]))
    assert "| GEMM: SM active | 98 % | target >= 80 %: met |" in text
    assert "| nvlink_tx_mib_s | MiB/s | n/a | n/a | n/a |" in text  # not offered: n/a, never 0
    assert "GPM samples under the bf16 GEMM on nvidia:0 (first rows)" in text


def test_an_estimate_off_by_more_than_15_percent_says_why() -> None:
    result, _ = _run_gpm(ScriptedGpm(), gemm_tflops=400.0)
    note = result.figures["estimate / measured"].note
    assert note.startswith("target within 15%: MISSED (estimate: pipe activity x datasheet peak")
    assert "mean SM clock 1455 MHz, power 690 W of 700 W limit, clock events sw_power_cap" in note
    assert "(1.733 x, target within 15%: MISSED)" in result.summary


def test_a_gpu_without_gpm_is_one_line_and_nothing_else() -> None:
    note = "activity counters (GPM) need Hopper or newer: compute capability 8.0"
    device = ScriptedGpm(activity_counters=False, notes=("energy counter ok", note), name="A100")
    result, asked = _run_gpm(device)
    assert result.status is Status.UNSUPPORTED and result.error == f"A100: {note}"
    assert asked == [] and result.figures == {} and result.tables == [] and not result.texts
    text = render_markdown(CheckReport("2026-12-07", {}, 520, [result]))
    assert f"**unsupported**: A100: {note}\n" in text


def test_gpm_offered_but_held_elsewhere_is_one_line_with_the_devices_reason() -> None:
    held = "GPM counters in use by another tool (DCGM profiling?)"
    result, _ = _run_gpm(ScriptedGpm(held=held))
    assert result.status is Status.UNSUPPORTED and result.figures == {}
    assert result.error == f"NVIDIA H100 80GB HBM3: GPM offered, but no activity was read: {held}"


def test_device_read_cost_is_timed_with_activity_off_then_on_and_left_off() -> None:
    device = ScriptedGpm()
    off, on = time_device_reads(device, reads=5, spacing_s=0.0)
    assert len(off) == len(on) == 5 and device.wanted is False
    assert device.reads["idle"] == 12  # one untimed read after each switch


def test_energy_reads_of_a_recording_are_counted_through_pynvml(install_nvml) -> None:  # type: ignore[no-untyped-def]
    fake = install_nvml([FakeGpu(power=Ramp(300.0))])
    before = fake.calls["nvmlDeviceGetTotalEnergyConsumption"]
    count = energy_reads_while_recording("nvidia:0", seconds=0.5, interval_s=0.1)
    assert count >= 1
    assert count == fake.calls["nvmlDeviceGetTotalEnergyConsumption"] - before
    import pynvml

    assert pynvml.nvmlDeviceGetTotalEnergyConsumption.__name__ != "counted"  # unwrapped after


def test_raw_gpm_calls_are_timed_against_the_nvml_api(install_nvml) -> None:  # type: ignore[no-untyped-def]
    install_nvml([FakeGpu()])
    import pynvml as nv

    if not hasattr(nv, "nvmlGpmSampleAlloc"):
        pytest.skip("the pynvml fake has no GPM yet")
    nv.nvmlInit()
    try:
        cost = time_gpm_calls(nv, nv.nvmlDeviceGetHandleByIndex(0), reads=3, spacing_s=0.0)
    finally:
        nv.nvmlShutdown()
    assert len(cost.sample_get_s) == len(cost.metrics_get_s) == 3
    assert set(cost.not_supported) <= set(GPM_METRIC_NAMES)


# -- the ui section's figures, from tui_cpu.py --json ------------------------------------------


def _tui(cpu: float, steady: float | None, first_s: float = 0.4) -> dict[str, Any]:
    figures: dict[str, Any] = {"first_frame_s": first_s, "full_screen_s": 0.9,
                               "cpu_pct_one_core": cpu}  # fmt: skip
    if steady is not None:
        figures |= {"steady_cpu_pct_one_core": steady, "steady_after_s": 120.0}
    return figures


def test_ui_is_judged_at_steady_state_against_nvitop_in_the_same_run() -> None:
    result = SectionResult("ui", "UI")
    summarise_ui(result, [_tui(2.6, 1.1), _tui(1.2, 1.2, 0.05)], True, "GEMM on cuda:0")
    figures = result.figures
    steady = "steady, 20 s from 120 s on"
    assert figures[f"gpuscope / nvitop CPU, {steady}"].value == pytest.approx(1.1 / 1.2)
    assert figures[f"gpuscope / nvitop CPU, {steady}"].note.endswith("(<= 1x): met")
    assert figures["gpuscope / nvitop CPU, first 20 s"].value == pytest.approx(2.6 / 1.2)
    assert figures["gpuscope first frame"].note == "target < 0.5 s: met"
    assert result.summary.startswith("steady state (from 120 s): gpuscope 1.1 % vs nvitop 1.2 %")

    slow = SectionResult("ui", "UI")
    summarise_ui(slow, [_tui(2.6, 1.9, 1.4), _tui(1.2, 1.2)], True, "GEMM on cuda:0")
    assert slow.figures[f"gpuscope / nvitop CPU, {steady}"].note.endswith("MISSED")
    assert slow.figures["gpuscope first frame"].note == "target < 0.5 s: MISSED"


def test_ui_without_a_steady_figure_or_a_peer_says_so() -> None:
    result = SectionResult("ui", "UI")
    summarise_ui(result, [_tui(2.0, None), {"tool": "nvitop", "error": "exited 1"}], True, "x")
    assert result.figures["gpuscope CPU, steady, 20 s from 120 s on"].value is None
    assert result.figures["nvitop CPU"].note == "not measured: exited 1"
    alone = SectionResult("ui", "UI")
    summarise_ui(alone, [_tui(2.0, 1.5)], False, "x")
    assert "nvitop not importable" in alone.summary and alone.figures["nvitop CPU"].value is None
