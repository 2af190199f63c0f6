"""A result file reads back into the ``RunResult`` that wrote it (``from_dict``), the energy
source stays an ``EnergySource`` until written, and bench, the report and Compare share one
rule for cells, ratios and groups."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest

from gpuscope.measurement.result_cells import figure_cells
from gpuscope.measurement.run_result import (
    RunResult,
    comparisons,
    group_results,
    ratio,
)
from gpuscope.measurement.sweep import PointStatus, Sweep, SweepPoint
from gpuscope.report.document import build_sections
from gpuscope.report.inputs import bench_results, load_input, sweep_results
from gpuscope.report.summary import summary_lines
from gpuscope.sinks.results import results_json, sweep_json
from gpuscope.telemetry.model import EnergySource

# every field set, none to its default: a field added to RunResult must be added here
FULL = RunResult(
    workload="gemm", device="cuda:0", telemetry_device="nvidia:0", device_name="H100",
    params={"dtype": "bf16", "size": 4096}, unit="FLOP", units=8.0e15, seconds=10.0, steps=100,
    throughput=8.0e14, tflops=800.0, energy_j=5000.0, avg_power_w=500.0, work_per_joule=1.6e12,
    energy_source=EnergySource.MIXED, pct_of_peak=80.9, energy_note="a note",
    facts={"batch": 64, "simulated": False}, notes=["dropped: too long"], stopped_early=True,
    peak_mem_mib=1024.0, peak_mem_source="allocator", measured_from_s=1.0, measured_to_s=11.0,
    chosen={"size": "per device"}, emulated="bf16 is emulated", shared_pct=45.0,
    shared="shared: pid 812 stress 44%", precision_param="dtype",
)  # fmt: skip
EMPTY = RunResult(
    workload="gemm", device="cpu", telemetry_device=None, device_name=None, params={},
    unit="FLOP", units=0.0, seconds=0.0, steps=0, throughput=None, tflops=None, energy_j=None,
    avg_power_w=None, work_per_joule=None, energy_source=None, pct_of_peak=None,
)  # fmt: skip


def written(report: RunResult) -> dict[str, Any]:
    """``report`` as bench --json writes it and a reader parses it."""
    parsed: dict[str, Any] = json.loads(json.dumps(report.as_dict()))
    return parsed


def test_full_sets_every_field() -> None:
    unset = [f.name for f in fields(RunResult) if getattr(FULL, f.name) == getattr(EMPTY, f.name)]
    assert unset == ["workload", "unit"]  # the two kept alike on purpose


@pytest.mark.parametrize("report", [FULL, EMPTY], ids=["every field", "every None"])
def test_a_written_report_reads_back_whole(report: RunResult) -> None:
    assert RunResult.from_dict(written(report)) == report
    assert written(report)["energy_source"] == (
        report.energy_source.value if report.energy_source else None
    )


def test_keys_a_file_leaves_out_take_their_defaults() -> None:
    read = RunResult.from_dict({"workload": "gemm", "device": "cpu", "unit": "FLOP"})
    assert read == EMPTY


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"device": None}, "has no device"),
        ({"throughput": "fast"}, "throughput is not a number: 'fast'"),
        ({"steps": True}, "steps is not a number"),
        ({"emulated": 1}, "emulated is not text"),
        ({"chosen": []}, "chosen is not an object"),
        ({"notes": "one"}, "notes is not a list"),
        ({"stopped_early": "yes"}, "stopped_early is not true or false"),
        ({"energy_source": "guess"}, "energy_source is not one of counter, integrated"),
    ],
)
def test_a_field_of_the_wrong_type_is_named_in_one_line(changes: dict[str, Any], said: str) -> None:
    with pytest.raises(ValueError, match=said):
        RunResult.from_dict({**written(FULL), **changes})


def test_the_energy_source_is_an_enum_until_written() -> None:
    read = RunResult.from_dict({**written(FULL), "energy_source": "estimate"})
    assert read.energy_source is EnergySource.ESTIMATE and read.is_estimate
    assert not FULL.is_estimate and not EMPTY.is_estimate
    assert figure_cells(read)["energy source"] == "estimate"


def test_cells_without_a_source_or_a_note_say_so_rather_than_none() -> None:
    """bench printed ``1,024 MiB None`` and ``n/a: None`` where the report said neither."""
    cells = figure_cells(replace(EMPTY, peak_mem_mib=1024.0))
    assert cells["peak mem"] == "1,024 MiB"
    assert cells["energy source"] == "n/a: no energy reading"


def test_a_launch_bound_run_is_not_zero_percent_of_peak_in_any_table() -> None:
    """Compare wrote 0.042 % where bench and the report wrote 0.0."""
    assert figure_cells(replace(EMPTY, pct_of_peak=0.042))["% peak"] == "0.042"
    assert figure_cells(replace(EMPTY, pct_of_peak=68.34))["% peak"] == "68.3"


def test_one_ratio_for_bench_the_report_and_compare() -> None:
    assert ratio(3.0, 1.5) == 2.0
    assert ratio(None, 1.0) is None and ratio(1.0, None) is None and ratio(1.0, 0.0) is None


def test_groups_and_comparisons_keep_the_order_runs_came_in() -> None:
    gemm_cpu, cnn_cpu = replace(EMPTY, throughput=1.0), replace(EMPTY, workload="cnn")
    gemm_gpu = replace(gemm_cpu, device="cuda:0", throughput=10.0)
    cnn_gpu = replace(cnn_cpu, device="cuda:0")
    runs = [gemm_cpu, cnn_cpu, cnn_gpu, gemm_gpu]
    assert group_results(runs) == [[gemm_cpu, gemm_gpu], [cnn_cpu, cnn_gpu]]
    found = comparisons(runs)
    assert [(c.baseline, c.device) for c in found] == [("cpu", "cuda:0")] * 2
    assert [c.speedup for c in found] == [None, 10.0]  # cnn first: it came first


def _sections(inputs: list[Any]) -> list[Any]:
    return [(s.title, s.text, s.tables) for s in build_sections(inputs, "no charts here")]


def test_a_report_from_memory_reads_as_the_one_from_its_files(tmp_path: Path) -> None:
    """The UI's save makes its report from the results it holds, not from reading its own
    files back: both ways give the same tables and sentences."""
    cpu = replace(FULL, device="cpu", throughput=8.0e12, work_per_joule=4.0e10, emulated=None)
    reports = [cpu, replace(FULL, throughput=-1.0)]  # a figure that cannot be real: n/a
    machine = {"host": "box7"}
    sweep = Sweep("size", (256, 512))
    points = [
        SweepPoint("cpu", 256, PointStatus.MEASURED, replace(cpu, params={"size": 256})),
        SweepPoint("cuda:0", 256, PointStatus.MEASURED, replace(FULL, params={"size": 256})),
        SweepPoint("cuda:0", 512, PointStatus.OOM, note="CUDA out of memory"),
    ]
    bench_file, sweep_file = tmp_path / "results.json", tmp_path / "sweep.json"
    bench_file.write_text(results_json(reports))
    sweep_file.write_text(sweep_json("gemm", sweep, points, finished=False))
    from_files = [load_input(bench_file), load_input(sweep_file)]
    in_memory = [
        bench_results(bench_file, reports, machine),
        sweep_results(sweep_file, "gemm", sweep, points, machine, finished=False),
    ]
    assert _sections(in_memory)[1:] == _sections(from_files)[1:]  # [0]: the machine's own
    assert summary_lines(in_memory) == summary_lines(from_files)
    assert in_memory[0].notes == from_files[0].notes != ()
