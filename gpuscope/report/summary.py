"""The measured answers a report opens with, in words: how many times the GPU's throughput and
work per joule the CPU's, where a sweep's crossover and memory boundary lie. Every figure comes
from the inputs; where they do not hold one, no sentence is made."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gpuscope.measurement.interval_energy import ChargeBasis
from gpuscope.measurement.run_result import RunResult, precision_name, ratio
from gpuscope.measurement.sweep import PointStatus, SweepPoint
from gpuscope.report.inputs import (
    BenchResults,
    Input,
    SweepResults,
    shown_name,
    simulated,
    value_order,
)
from gpuscope.report.processes import ProcessesFile
from gpuscope.report.recording import Recording
from gpuscope.report.render import energy_text
from gpuscope.units import format_rate, format_ratio

DEVICES_MAX = 8  # devices held against the base in one group's sentences; the table has all
LINES_MAX = 40  # sentences from one input; the rest are in its tables


def params_phrase(params: dict[str, Any]) -> str:
    """``dtype=bf16, size=4096``: parameters in a sentence."""
    return ", ".join(f"{k}={v}" for k, v in params.items())


def device_text(report: RunResult) -> str:
    name = report.device_name
    return f"{report.device} ({name})" if name and report.device != "cpu" else report.device


def asked(report: RunResult) -> dict[str, Any]:
    """The parameters the user set: those gpuscope chose per device are said per device."""
    return {k: v for k, v in report.params.items() if k not in report.chosen}


def side(report: RunResult) -> str:
    """``cuda:0 bf16 (NVIDIA H100 80GB HBM3)``: a side of a ratio names its precision."""
    named = precision_name(report.params, report.precision_param)
    precision = report.params.get(named) if named is not None else None
    name = report.device_name
    text = report.device + (f" {precision}" if precision else "")
    return f"{text} ({name})" if name and report.device != "cpu" else text


def unfair_mark(*reports: RunResult) -> str:
    """Where a side ran a precision its device only emulates: why the ratio is not a fair
    answer, and how to get one."""
    emulated = [r.emulated for r in reports if r.emulated]
    if not emulated:
        return ""
    return (
        f" NOT A FAIR RATIO: {'; '.join(emulated)}. A fair one runs each device at its fastest "
        f"native precision ({best_option(reports)}; gpuscope suite does)."
    )


def best_option(reports: Sequence[RunResult]) -> str:
    """``--precision best``: how to ask bench for each device's fastest native precision."""
    for report in reports:
        named = precision_name(report.params, report.precision_param)
        if named is not None:
            return f"gpuscope bench ... --{named} best"
    return "best"


def shared_note(*reports: RunResult) -> str:
    """`` Shared: others used 45% of cpu (pid 812 stress 44%).``: a figure others on the
    device may have lowered."""
    said = [r.shared.removeprefix("shared: ") for r in reports if r.shared]
    return f" Shared: {'; '.join(said)}." if said else ""


def energy_mark(report: RunResult) -> str:
    return " (estimate)" if report.is_estimate else ""


def simulated_mark(*reports: RunResult | None) -> str:
    return " (SIMULATED)" if any(simulated(r) for r in reports) else ""


def counted(report: RunResult | None) -> bool:
    """A run the summary may speak of: measured to the end, with work done. A run stopped by
    the user says nothing about the hardware (its table row says "(stopped)")."""
    return report is not None and not report.stopped_early and bool(report.throughput)


def best_per_device(reports: Sequence[RunResult]) -> list[tuple[RunResult, int]]:
    """Each device's fastest run, with how many runs it had, in the order devices first ran.
    Every run given is ``counted``: each has a throughput."""
    best: dict[str, tuple[RunResult, int]] = {}
    for r in reports:
        held, count = best.get(r.device, (r, 0))
        faster = (r.throughput or 0.0) > (held.throughput or 0.0)
        best[r.device] = (r if faster else held, count + 1)
    return list(best.values())


def _runs_mark(count: int) -> str:
    return f" (fastest of {count:,} runs)" if count > 1 else ""


def bench_lines(results: BenchResults) -> list[str]:
    """Each device against the CPU (or the first device) of the same workload and params; a
    device run many times speaks through its fastest run."""
    lines = []
    for group in results.groups():
        runs = best_per_device([r for r in group if counted(r)])
        if not runs:
            continue
        phrase = params_phrase(asked(runs[0][0]))
        title = runs[0][0].workload + (f" ({phrase})" if phrase else "")
        base, base_runs = next(((r, n) for r, n in runs if r.device == "cpu"), runs[0])
        others = [(r, n) for r, n in runs if r is not base]
        for other, count in others[:DEVICES_MAX]:
            speedup = format_ratio(ratio(other.throughput, base.throughput))
            line = (
                f"{title}: {side(other)}{_runs_mark(count)}: {speedup} the throughput of "
                f"{side(base)}{_runs_mark(base_runs)}"
            )
            if other.work_per_joule and base.work_per_joule:
                per_joule = format_ratio(ratio(other.work_per_joule, base.work_per_joule))
                line += f", {per_joule} the work per joule{energy_mark(base) or energy_mark(other)}"
            lines.append(
                line + simulated_mark(base, other) + "." + unfair_mark(base, other)
                + shared_note(base, other)
            )  # fmt: skip
        if len(others) > DEVICES_MAX:
            lines.append(f"{title}: and {len(others) - DEVICES_MAX:,} more devices (in the table).")
        if len(runs) == 1:
            r = base
            where = side(r) if asked(r) != r.params else device_text(r)
            rate = format_rate(r.throughput or 0.0, r.unit)
            line = f"{title} on {where}{_runs_mark(base_runs)}: {rate}"
            if r.work_per_joule:
                line += f", {format_rate(r.work_per_joule, r.unit, 'J')}{energy_mark(r)}"
            lines.append(line + simulated_mark(r) + "." + shared_note(r))
    return lines


def sweep_title(sweep: SweepResults) -> str:
    """``gemm (dtype=bf16) size sweep``: the workload, what was held fixed, what was swept."""
    report = next(iter(sweep.results()), None)
    fixed = {k: v for k, v in asked(report).items() if k != sweep.param} if report else {}
    phrase = params_phrase(fixed)
    return f"{sweep.workload}{f' ({phrase})' if phrase else ''} {sweep.param} sweep"


def sweep_lines(sweep: SweepResults, title: str | None = None) -> list[str]:
    """Where each device stands against the CPU (or the first device), by swept value, and
    where memory ran out and work per joule peaked. ``title`` names the sweep where two inputs
    would otherwise read the same (:func:`summary_lines`)."""
    title = title or sweep_title(sweep)
    lines = []
    devices = sweep.devices()
    base = "cpu" if "cpu" in devices else devices[0] if devices else ""
    found = {(p.device, p.value): p.result for p in sweep.points if p.result and counted(p.result)}
    values = sweep.ordered_values()
    names = {p.device: device_text(p.result) for p in sweep.points if p.result is not None}
    for device in devices:
        if device == base:
            continue
        ratios = [
            (value, speedup)
            for value in values
            if (ours := found.get((device, value))) and (theirs := found.get((base, value)))
            and (speedup := ratio(ours.throughput, theirs.throughput)) is not None
        ]  # fmt: skip
        if ratios:
            mark = simulated_mark(*_reports_of(sweep, device), *_reports_of(sweep, base))
            pair = f"{names.get(device, device)} vs {names.get(base, base)}"
            lines.append(f"{title}, {pair}: "
                         + crossover(sweep.param, ratios, device, base) + mark)  # fmt: skip
    ordered = sweep.ordered_points()
    for device in devices:
        own = [p for p in ordered if p.device == device]
        oom = [p for p in own if p.status is PointStatus.OOM]
        if oom:
            lines.append(_oom_line(sweep, device, own, oom[0].value))
        efficient = [
            (r.work_per_joule, p.value, r)
            for p in own
            if (r := p.result) is not None and counted(r) and r.work_per_joule
        ]  # fmt: skip
        if efficient:
            per_joule, value, r = max(efficient, key=lambda found: found[0])
            lines.append(
                f"{sweep.workload} on {device}: most work per joule at {sweep.param}={value}: "
                f"{format_rate(per_joule, r.unit, 'J')}{energy_mark(r)}{simulated_mark(r)}."
            )
    return lines


def _oom_line(sweep: SweepResults, device: str, own: list[SweepPoint], at: Any) -> str:
    """Where ``device`` ran out of memory, and the largest value it ran below that."""
    ran = [p for p in own if counted(p.result) and value_order(p.value) < value_order(at)]
    line = f"{sweep.workload} on {device}: out of memory at {sweep.param}={at}"
    largest = ran[-1].result if ran else None
    if largest is not None:
        peak = largest.peak_mem_mib
        held = f" (peak {peak:,.0f} MiB, {largest.peak_mem_source})" if peak else ""
        line += f"; the largest that ran: {sweep.param}={ran[-1].value}{held}"
    return line + simulated_mark(*_reports_of(sweep, device)) + "."


def _reports_of(sweep: SweepResults, device: str) -> list[RunResult | None]:
    return [p.result for p in sweep.points if p.device == device]


def crossover(
    param: str, ratios: Sequence[tuple[Any, float]], device: str, base: str | None
) -> str:
    """Who is faster where, ``ratios`` in swept order: "overtakes from X" only when it stays
    ahead from X on; the least and the most ratio with where each was measured."""
    (low_value, low), (high_value, high) = (
        min(ratios, key=lambda vr: vr[1]),
        max(ratios, key=lambda vr: vr[1]),
    )
    spans = (
        f"least {format_ratio(low)} at {param}={low_value}, "
        f"most {format_ratio(high)} at {param}={high_value}"
    )
    if all(r >= 1 for _, r in ratios):
        return f"{device} is faster at every {param} measured ({spans})."
    if all(r < 1 for _, r in ratios):
        return f"{base} is faster at every {param} measured ({spans})."
    ahead_from = next(
        i for i in range(len(ratios)) if all(r >= 1 for _, r in ratios[i:])
    ) if ratios[-1][1] >= 1 else None  # fmt: skip
    if ahead_from is not None:
        return f"{device} overtakes {base} from {param}={ratios[ahead_from][0]} ({spans})."
    wins = ", ".join(f"{param}={v} ({format_ratio(r)})" for v, r in ratios if r >= 1)
    return f"mixed: {device} is faster only at {wins} ({spans})."


def _seconds(value: float) -> str:
    return f"{value:,.0f} s" if value >= 10 else f"{value:.3g} s"


def _tflops(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def recording_lines(recording: Recording) -> list[str]:
    """How many devices over what span (the last sample's interval counted: ``record -d 3``
    covers 3 s), and each device's average and peak power."""
    name, count = shown_name(recording.path), len(recording.tracks)
    samples = max(t.samples for t in recording.tracks)
    interval = recording.interval_s
    every = f", {_seconds(interval)} apart" if interval else ""
    lines = [
        f"{name}: {count} device{'s' if count != 1 else ''} over "
        f"{_seconds(recording.duration_s)} ({samples:,} sample{'s' if samples != 1 else ''}"
        f"{' per device' if count > 1 else ''}{every})."
    ]
    for track in recording.tracks:
        for column, how in (("power_w", "measured power_w"), ("power_estimate_w", "estimate")):
            stats = track.columns.get(column)
            if stats is not None:
                shown = track.card.get("device_name") or track.device
                lines.append(
                    f"{name}: {track.device} ({shown}) averaged "
                    f"{stats.mean:,.0f} W, peak {stats.peak:,.0f} W ({how})."
                )
                break
        achieved = track.columns.get("achieved_tflops_estimate")
        if achieved is not None:
            shown = track.card.get("device_name") or track.device
            lines.append(
                f"{name}: {track.device} ({shown}) achieved about {_tflops(achieved.mean)} "
                f"TFLOP/s on average, peak {_tflops(achieved.peak)} (an estimate from GPM pipe "
                "activity, while it was read)."
            )
    return lines


def process_lines(processes: ProcessesFile) -> list[str]:
    """Per device: how many processes, what they were charged and how, and how many never."""
    name = shown_name(processes.path)
    if not processes.jobs:
        return [f"{name}: no GPU process was seen."]
    lines = []
    for device in processes.devices_named():
        jobs = processes.jobs_on(device)
        charged = [j for j in jobs if j.energy_j is not None]
        line = f"{name}: {device}: {len(jobs):,} process{'es' if len(jobs) != 1 else ''}"
        if charged:
            total = sum(j.energy_j or 0.0 for j in charged)
            sole = all(j.bases == [ChargeBasis.SOLE.value] for j in charged)
            line += f", charged {energy_text(total)} in all" + (
                " (the GPU's measured energy, each as the sole process)" if sole
                else " (an estimate in whole or part, by SM share)"
                if any(ChargeBasis.SM_SHARE.value in j.bases for j in charged)
                else " (on a basis the file does not name)"
            )  # fmt: skip
        never = len(jobs) - len(charged)
        if never:
            line += f"; {never:,} never charged (n/a)"
        lines.append(line + ".")
    return lines


def summary_lines(inputs: Sequence[Input]) -> list[str]:
    titles = [sweep_title(i) for i in inputs if isinstance(i, SweepResults)]
    lines: list[str] = []
    for item in inputs:
        if isinstance(item, BenchResults):
            found = []
            if item.items:  # a suite: how much of it was measured, before what it found
                done = len(item.items) - len(item.unmeasured())
                found.append(
                    f"{shown_name(item.path)}: {done} of {len(item.items)} items measured"
                    + (" (the others are listed under its results)." if done < len(item.items)
                       else ".")
                )  # fmt: skip
            found += bench_lines(item)
        elif isinstance(item, SweepResults):
            title = sweep_title(item)
            if titles.count(title) > 1:  # two sweeps alike but for their devices or files
                title += f" in {shown_name(item.path)}"
            found = sweep_lines(item, title)
        elif isinstance(item, ProcessesFile):
            found = process_lines(item)
        else:
            found = recording_lines(item)
        lines += found[:LINES_MAX]
        if len(found) > LINES_MAX:
            lines.append(
                f"{shown_name(item.path)}: and {len(found) - LINES_MAX:,} more findings "
                "(its tables hold every figure)."
            )
    return lines
