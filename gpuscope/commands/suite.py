"""``gpuscope suite``: the standard set of workloads on the CPU and every GPU within a time
budget the user sets, recorded, and made into a report: "why a GPU", measured here.

The set: GEMM at fp32 and bf16 (and fp16 on GPUs), ResNet-50 training and inference, the LSTM,
and the memory probe on GPUs. Every run gets an equal share of the budget, less the child's
start-up; a run that would start past the budget is skipped and said so.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpuscope.commands.bench import (
    BenchOptions,
    Outcome,
    bench_targets,
    check_runnable,
    keep,
    run_one,
)
from gpuscope.commands.bench_output import print_reports
from gpuscope.commands.report import ReportOptions, run_report
from gpuscope.config import cpu_power_model
from gpuscope.errors import CommandFailed, UsageError
from gpuscope.measurement.measured_run import START_UP_S
from gpuscope.measurement.run_report import params_text
from gpuscope.measurement.targets import RunTarget, launch_targets
from gpuscope.sampler import Sampler
from gpuscope.sinks.recording import DeviceRows, RecordingSink
from gpuscope.sinks.reports import reports_json
from gpuscope.telemetry.cpu_estimate import with_cpu_estimate
from gpuscope.telemetry.discover import Discovery, discover
from gpuscope.units import check_seconds
from gpuscope.workloads.api import WorkloadError, resolve_params
from gpuscope.workloads.registry import Catalog, WorkloadInfo, bundled_workloads

MIN_SHARE_S = 1.0  # a run measured for less than this says little
SAMPLE_INTERVAL_S = 0.1


@dataclass(frozen=True, slots=True)
class SuiteItem:
    workload: str
    params: dict[str, Any]
    gpu_only: bool = False


SUITE: tuple[SuiteItem, ...] = (
    SuiteItem("gemm", {"dtype": "fp32", "size": 4096}),
    SuiteItem("gemm", {"dtype": "bf16", "size": 4096}),
    SuiteItem("gemm", {"dtype": "fp16", "size": 4096}, gpu_only=True),
    SuiteItem("cnn", {"mode": "train"}),
    SuiteItem("cnn", {"mode": "infer"}),
    SuiteItem("rnn", {}),
    SuiteItem("memory-probe", {"model": "cnn"}, gpu_only=True),
)


@dataclass(frozen=True, slots=True)
class SuiteOptions:
    budget_s: float = 300.0
    devices: tuple[str, ...] | None = None  # None: the CPU and every GPU found
    output_dir: Path = Path("gpuscope-suite")
    cpu_tdp_w: float | None = None
    debug: bool = False


def run_suite(options: SuiteOptions) -> int:
    try:
        check_seconds(options.budget_s, "--budget")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if options.devices is not None and not options.devices:
        raise UsageError("--devices names no device (e.g. cpu,cuda:0)")
    if options.output_dir.exists() and not options.output_dir.is_dir():
        raise CommandFailed(f"{options.output_dir} is a file: name a new folder with -o")
    if options.output_dir.exists() and any(options.output_dir.iterdir()):
        raise CommandFailed(f"{options.output_dir} is not empty: name a new folder with -o")
    catalog = bundled_workloads()
    cpu_model = cpu_power_model(options.cpu_tdp_w)
    outcome = Outcome()
    skipped: list[str] = []
    with discover() as found:
        found.devices = with_cpu_estimate(found.devices, cpu_model)
        if options.devices is None:  # the CPU and every GPU torch can run on
            targets, _ = launch_targets([d.info for d in found.devices])
        else:
            targets = bench_targets(options.devices, found)
        plan = _plan(catalog, targets, found, skipped)
        if not plan:
            why = "; ".join(dict.fromkeys(line.split(": ", 1)[-1] for line in skipped))
            raise UsageError(f"nothing of the suite can run here: {why or 'no workload'}")
        share = (options.budget_s - START_UP_S * len(plan)) / len(plan)
        if share < MIN_SHARE_S:
            least = len(plan) * (START_UP_S + MIN_SHARE_S)
            raise UsageError(
                f"--budget {options.budget_s:g} s is too small for {len(plan)} runs: "
                f"give at least {least:.0f} s"
            )
        options.output_dir.mkdir(parents=True, exist_ok=True)
        sampler = Sampler(found.devices, interval_s=SAMPLE_INTERVAL_S)
        recording = options.output_dir / "record.csv"
        fd = os.open(recording, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        sampler.subscribe(RecordingSink(fd, "csv", DeviceRows(sampler.device_info)))
        sampler.start()
        deadline = time.monotonic() + options.budget_s
        try:
            _run_plan(plan, share, deadline, options, sampler, found, outcome, skipped)
        except KeyboardInterrupt:  # between two runs: what ran is still written below
            outcome.interrupted = True
        finally:
            sampler.stop()
            os.close(fd)
    results = options.output_dir / "suite.json"
    results.write_text(reports_json(outcome.reports) + "\n")
    print_reports(outcome.reports, "table")
    for line in skipped + outcome.failures:
        print(f"gpuscope suite: {line}", file=sys.stderr)
    report = options.output_dir / "report.html"
    run_report(ReportOptions((results, recording), report, title="gpuscope suite"))
    took = time.monotonic() - deadline + options.budget_s
    print(f"gpuscope suite: {len(outcome.reports)} runs in {took:.0f} s (budget "
          f"{options.budget_s:g} s); results, recording and report in {options.output_dir}/",
          file=sys.stderr)  # fmt: skip
    return 130 if outcome.interrupted else 1 if outcome.failures else 0


def _run_plan(
    plan: Plan,
    share_s: float,
    deadline: float,
    options: SuiteOptions,
    sampler: Sampler,
    found: Discovery,
    outcome: Outcome,
    skipped: list[str],
) -> None:
    """Each run measured for most of its share (a fifth of it is warm-up), or of what is left
    of the budget if that is less; a run with under a second left is not started."""
    for info, target, params in plan:
        device = target.label
        if outcome.interrupted:
            break
        left_s = min(share_s, deadline - time.monotonic() - START_UP_S)  # the last may be short
        if left_s < MIN_SHARE_S:  # it would not finish in time
            skipped.append(f"{info.name} {params_text(params)} on {device}: past the budget")
            continue
        bench = BenchOptions(
            workload=info.name, devices=(device,), duration_s=left_s * 0.8,
            warmup_s=max(0.2, left_s * 0.2), debug=options.debug,
        )  # fmt: skip
        keep(run_one(info, target, params, bench, sampler, found, outcome), outcome, options.debug)


Plan = list[tuple[WorkloadInfo, RunTarget, dict[str, Any]]]


def _plan(catalog: Catalog, targets: list[RunTarget], found: Discovery, skipped: list[str]) -> Plan:
    """Every suite item on every device it can run on; the others are said and skipped."""
    plan: Plan = []
    for item in SUITE:
        info = catalog.workloads.get(item.workload)
        if info is None:
            continue
        for target in targets:
            if item.gpu_only and target.torch_device == "cpu":
                continue
            try:
                params = resolve_params(info, item.params)
                check_runnable(info, [target.torch_device], found)
            except (WorkloadError, UsageError) as exc:
                where = f"{item.workload} {params_text(item.params)} on {target.label}"
                skipped.append(f"{where}: {exc}")
                continue
            plan.append((info, target, params))
    return plan
