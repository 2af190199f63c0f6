"""Sections that run workloads on the GPU: the GPU tests, the bundled workloads against plain
torch, CPU against GPU, and the memory probe."""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .context import Context
from .report import SectionResult, Status, Table

# Plain torch on the H100 host, 2026-11-24 (shared/anchors/h100-2026-11-24.json): the reference
# each case is read against; this run's own plain-torch figure is the one the target uses. Its
# keys are the cases benchmarks/workload_overhead.py runs on a GPU (a test keeps them equal).
H100_PLAIN = {
    "gemm bf16 n=8192": "774 TFLOP/s",
    "gemm fp16 n=8192": "756 TFLOP/s",
    "gemm tf32 n=8192": "381 TFLOP/s",
    "gemm fp32 n=8192": "51.6 TFLOP/s",
    "gemm fp8 n=8192": "1202 TFLOP/s",
    "resnet50 train bf16 b=256": "3981 images/s",
    "resnet50 infer bf16 b=256": "12729 images/s",
    "lstm train fp32 b=64": "648k tokens/s",
}
SUMMARY_LINE = re.compile(r"\b\d+ (passed|failed|skipped|deselected|error)")


def gpu_tests(ctx: Context, result: SectionResult, left_s: float) -> None:
    log_path = ctx.out / "pytest-gpu.log"
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "-rs"]
    output = ctx.run(command, timeout_s=left_s - 5, check=False)
    log_path.write_text(output)
    summary = [line for line in output.splitlines() if SUMMARY_LINE.search(line)]
    result.summary = summary[-1].strip("= ") if summary else "no pytest summary line"
    result.texts["pytest -m gpu (last lines)"] = "\n".join(output.splitlines()[-15:])
    if "failed" in result.summary or "error" in result.summary or not summary:
        result.status = Status.FAILED
        result.error = result.summary


def workloads(ctx: Context, result: SectionResult, left_s: float) -> None:
    table = Table(
        "gpuscope bench against plain torch, same GPU, same run "
        "(plain: mean of runs before and after)",
        ["case", "plain torch", "gpuscope", "ratio", "target", "verdict", "work/J", "avg W",
         "% of peak", "energy", "H100 plain 2026-11-24"],
    )  # fmt: skip
    result.tables.append(table)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "overhead.json"
        command = ctx.script(
            "benchmarks/workload_overhead.py", "--device", ctx.cuda, "--seconds", "2",
            "--warmup", "1", "--json", str(path),
        )  # fmt: skip
        try:
            ctx.run(command, timeout_s=left_s - 2, echo=True)
        except RuntimeError as exc:  # the cases it finished are in the file: keep them
            result.status = Status.FAILED
            result.error = str(exc)
        cases: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    summarise_workloads(result, table, cases)


def summarise_workloads(result: SectionResult, table: Table, cases: dict[str, Any]) -> None:
    """The table, figures and summary from ``workload_overhead.py --json``'s cases; a case that
    failed or never ran is named, never counted as met."""
    missed = []
    for case, figures in cases.items():
        if "error" in figures:
            table.rows.append(
                [case, "not measured", figures["error"], *[""] * 7, H100_PLAIN.get(case, "")]
            )
            continue
        report = figures["report"]
        unit = figures["unit"]
        verdict = "meets" if figures["meets"] else "MISSES"
        if not figures["meets"]:
            missed.append(case)
        table.rows.append(
            [
                case, _rate(figures["plain"], unit), _rate(figures["gpuscope"], unit),
                f"{figures['ratio']:.1%}", f">= {figures['target']:.0%}", verdict,
                _rate(report["work_per_joule"], report["unit"], "J"),
                report["avg_power_w"], report["pct_of_peak"], report["energy_source"],
                H100_PLAIN.get(case, ""),
            ]
        )  # fmt: skip
        note = f"target {figures['target']:.0%}: {verdict}"
        result.figure(f"{case} ratio to plain torch", figures["ratio"], "", note)
        result.figure(f"{case} gpuscope", figures["gpuscope"], unit)
        result.figure(f"{case} work per joule", report["work_per_joule"], f"{report['unit']}/J")
        result.figure(f"{case} wall time (plain, gpuscope, plain)", figures.get("wall_s"), "s")
    not_measured = [case for case in H100_PLAIN if "report" not in cases.get(case, {})]
    measured = len(H100_PLAIN) - len(not_measured)
    result.summary = (
        f"{measured - len(missed)} of {len(H100_PLAIN)} cases meet their target"
        + (f"; MISSES: {', '.join(missed)}" if missed else "")
        + (f"; not measured: {', '.join(not_measured)}" if not_measured else "")
    )
    if not_measured and result.status is Status.OK:
        result.status = Status.FAILED
        result.error = f"not measured: {', '.join(not_measured)}"


def _rate(value: float | None, unit: str, per: str = "") -> str:
    if value is None:
        return "n/a"
    from gpuscope.units import format_rate

    if per:
        return format_rate(value, unit, per)
    return format_rate(value, unit.removesuffix("/s"))


def cpu_vs_gpu(ctx: Context, result: SectionResult, left_s: float) -> None:
    payload = ctx.run_json(
        ctx.gpuscope("bench", "cnn", "--compare", f"cpu,{ctx.cuda}", "--precision", "best",
                     "--duration", "5", "--warmup", "2", "--json"),
        timeout_s=left_s - 2,
    )  # fmt: skip
    table = Table(
        "gpuscope bench cnn --compare cpu,cuda --precision best (ResNet-50 train, each device at "
        "its fastest native precision and its default batch)",
        ["device", "name", "precision", "batch", "images/s", "avg W", "images/J", "energy",
         "shared"],
    )  # fmt: skip
    for report in payload["reports"]:
        table.rows.append(
            [
                report["device"], report["device_name"], report["params"].get("precision"),
                report["facts"].get("batch"), report["throughput"], report["avg_power_w"],
                report["work_per_joule"], report["energy_source"] or report["energy_note"],
                report.get("shared") or "no",
            ]
        )  # fmt: skip
    result.tables.append(table)
    comparison = payload["comparisons"][0]
    cpu, gpu = payload["reports"]
    result.figure(
        "CPU throughput", cpu["throughput"], "images/s", f"batch {cpu['facts'].get('batch')}"
    )
    result.figure(
        "GPU throughput", gpu["throughput"], "images/s", f"batch {gpu['facts'].get('batch')}"
    )
    result.figure("speed-up, GPU over CPU", comparison["speedup"], "x")
    no_ratio = "n/a when the CPU has no energy reading"
    ratio = comparison["efficiency_ratio"]
    result.figure("work per joule ratio", ratio, "x", no_ratio if ratio is None else "")
    result.summary = f"GPU {comparison['speedup']:.0f}x the CPU's images/s" + (
        f", {comparison['efficiency_ratio']:.1f}x its images/J"
        if comparison["efficiency_ratio"] is not None
        else f"; CPU energy n/a ({cpu['energy_note']})"
    )


def memory_probe(ctx: Context, result: SectionResult, left_s: float) -> None:
    started = time.monotonic()
    payload = ctx.run_json(
        ctx.gpuscope("bench", "memory-probe", "--device", ctx.cuda, "--duration", "3", "--warmup",
                     "1", "--hang-timeout", "300", "--json"),
        timeout_s=left_s - 2,
    )  # fmt: skip
    wall = time.monotonic() - started
    report = payload["reports"][0]
    facts = report["facts"]
    result.figure("largest batch (ResNet-50 train bf16)", facts.get("largest_batch"), "images")
    result.figure("tries", facts.get("tries"), "")
    result.figure("probe wall time, search + 1 s warm-up + 3 s measured", wall, "s")
    result.figure("throughput at that batch", report["throughput"], "images/s")
    result.figure("work per joule", report["work_per_joule"], "images/J")
    result.texts["facts"] = json.dumps(facts, indent=1)
    result.summary = (
        f"largest batch {facts.get('largest_batch')} in {facts.get('tries')} tries, {wall:.0f} s"
    )
