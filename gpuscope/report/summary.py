"""The measured answers a report opens with, in words: how many times the GPU's throughput and
work per joule the CPU's, where a sweep's crossover and memory boundary lie. Every figure comes
from the inputs; where they do not hold one, no sentence is made."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gpuscope.measurement.run_report import precision_name
from gpuscope.report.inputs import BenchResults, Input, Recording, SweepResults, simulated
from gpuscope.units import format_rate, format_ratio


def params_phrase(params: dict[str, Any]) -> str:
    """``dtype=bf16, size=4096``: parameters in a sentence."""
    return ", ".join(f"{k}={v}" for k, v in params.items())


def device_text(report: dict[str, Any]) -> str:
    name = report.get("device_name")
    return (
        f"{report['device']} ({name})" if name and report["device"] != "cpu" else report["device"]
    )


def asked(report: dict[str, Any]) -> dict[str, Any]:
    """The parameters the user set: those gpuscope chose per device are said per device."""
    chosen = report.get("chosen") or {}
    return {k: v for k, v in (report.get("params") or {}).items() if k not in chosen}


def side(report: dict[str, Any]) -> str:
    """``cuda:0 bf16 (NVIDIA H100 80GB HBM3)``: a side of a ratio names its precision."""
    params = report.get("params") or {}
    named = precision_name(params, report.get("precision_param"))
    precision = params.get(named) if named is not None else None
    name = report.get("device_name")
    text = report["device"] + (f" {precision}" if precision else "")
    return f"{text} ({name})" if name and report["device"] != "cpu" else text


def unfair_mark(*reports: dict[str, Any]) -> str:
    """Where a side ran a precision its device only emulates: why the ratio is not a fair
    answer, and how to get one."""
    emulated = [str(r["emulated"]) for r in reports if r.get("emulated")]
    if not emulated:
        return ""
    return (
        f" NOT A FAIR RATIO: {'; '.join(emulated)}. A fair one runs each device at its fastest "
        f"native precision ({best_option(reports)}; gpuscope suite does)."
    )


def best_option(reports: Sequence[dict[str, Any]]) -> str:
    """``--precision best``: how to ask bench for each device's fastest native precision."""
    for report in reports:
        named = precision_name(report.get("params") or {}, report.get("precision_param"))
        if named is not None:
            return f"gpuscope bench ... --{named} best"
    return "best"


def shared_note(*reports: dict[str, Any]) -> str:
    """`` Shared: others used 45% of cpu (pid 812 stress 44%).``: a figure others on the
    device may have lowered."""
    said = [str(r["shared"]).removeprefix("shared: ") for r in reports if r.get("shared")]
    return f" Shared: {'; '.join(said)}." if said else ""


def energy_mark(report: dict[str, Any]) -> str:
    source = report.get("energy_source")
    return " (estimate)" if source == "estimate" else ""


def simulated_mark(*reports: dict[str, Any] | None) -> str:
    return " (SIMULATED)" if any(simulated(r) for r in reports) else ""


def counted(report: dict[str, Any] | None) -> bool:
    """A run the summary may speak of: measured to the end, with work done. A run stopped by
    the user says nothing about the hardware (its table row says "(stopped)")."""
    if not report:
        return False
    return not report.get("stopped_early") and bool(report.get("throughput"))


def bench_lines(results: BenchResults) -> list[str]:
    """Each device against the CPU (or the first device) of the same workload and params."""
    lines = []
    for group in results.groups():
        reports = [r for r in group if counted(r)]
        if not reports:
            continue
        phrase = params_phrase(asked(reports[0]))
        title = reports[0]["workload"] + (f" ({phrase})" if phrase else "")
        base = next((r for r in reports if r["device"] == "cpu"), reports[0])
        for other in reports:
            if other is base or not base.get("throughput"):
                continue
            speedup = format_ratio(other["throughput"] / base["throughput"])
            line = f"{title}: {side(other)}: {speedup} the throughput of {side(base)}"
            if other.get("work_per_joule") and base.get("work_per_joule"):
                per_joule = format_ratio(other["work_per_joule"] / base["work_per_joule"])
                line += f", {per_joule} the work per joule{energy_mark(base) or energy_mark(other)}"
            lines.append(
                line + simulated_mark(base, other) + "." + unfair_mark(base, other)
                + shared_note(base, other)
            )  # fmt: skip
        if len(reports) == 1:
            r = reports[0]
            where = side(r) if asked(r) != (r.get("params") or {}) else device_text(r)
            line = f"{title} on {where}: {format_rate(r['throughput'], r['unit'])}"
            if r.get("work_per_joule"):
                wpj = format_rate(r["work_per_joule"], r["unit"], "J")
                line += f", {wpj}{energy_mark(r)}"
            lines.append(line + simulated_mark(r) + "." + shared_note(r))
    return lines


def sweep_lines(sweep: SweepResults) -> list[str]:
    lines = []
    devices = list(dict.fromkeys(p["device"] for p in sweep.points))
    base = "cpu" if "cpu" in devices else devices[0] if devices else None
    for device in devices:
        if device == base:
            continue
        ratios = [
            (value, ours["throughput"] / theirs["throughput"])
            for value in sweep.values
            if (ours := _report(sweep, device, value)) and (theirs := _report(sweep, base, value))
            and theirs["throughput"]
        ]  # fmt: skip
        if ratios:
            mark = simulated_mark(*_reports_of(sweep, device), *_reports_of(sweep, base))
            lines.append(f"{sweep.workload} {sweep.param} sweep, {device} vs {base}: "
                         + _crossover(sweep.param, ratios, device, base) + mark)  # fmt: skip
    for device in devices:
        oom = [p for p in sweep.points if p["device"] == device and p["status"] == "oom"]
        if oom:
            ran = [p for p in sweep.points if p["device"] == device and counted(p.get("report"))]
            largest = ran[-1] if ran else None
            at = oom[0][sweep.param]
            line = f"{sweep.workload} on {device}: out of memory at {sweep.param}={at}"
            if largest is not None:
                peak = largest["report"].get("peak_mem_mib")
                held = (
                    f" (peak {peak:,.0f} MiB, {largest['report'].get('peak_mem_source')})"
                    if peak
                    else ""
                )
                line += f"; the largest that ran: {sweep.param}={largest[sweep.param]}{held}"
            lines.append(line + simulated_mark(*_reports_of(sweep, device)) + ".")
        best = max(
            (
                p
                for p in sweep.points
                if p["device"] == device
                and counted(p.get("report"))
                and p["report"].get("work_per_joule")
            ),
            key=lambda p: p["report"]["work_per_joule"],
            default=None,
        )
        if best is not None:
            r = best["report"]
            lines.append(
                f"{sweep.workload} on {device}: most work per joule at "
                f"{sweep.param}={best[sweep.param]}: "
                f"{format_rate(r['work_per_joule'], r['unit'], 'J')}{energy_mark(r)}"
                f"{simulated_mark(r)}."
            )
    return lines


def _reports_of(sweep: SweepResults, device: str | None) -> list[dict[str, Any] | None]:
    return [p.get("report") for p in sweep.points if p["device"] == device]


def _report(sweep: SweepResults, device: str | None, value: Any) -> dict[str, Any] | None:
    for p in sweep.points:
        if p["device"] == device and p[sweep.param] == value and counted(p.get("report")):
            report: dict[str, Any] = p["report"]
            return report
    return None


def _crossover(
    param: str, ratios: Sequence[tuple[Any, float]], device: str, base: str | None
) -> str:
    """Who is faster where: "overtakes from X" only when it stays ahead from X on."""
    (first_value, first_ratio), (last_value, last_ratio) = ratios[0], ratios[-1]
    spans = (
        f"{format_ratio(first_ratio)} at {param}={first_value} to {format_ratio(last_ratio)} at "
        f"{param}={last_value}"
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


def recording_lines(recording: Recording) -> list[str]:
    rows = recording.rows
    seconds = rows[-1]["time_s"] - rows[0]["time_s"]
    count = len(recording.devices())
    lines = [
        f"{recording.path.name}: {count} device{'s' if count != 1 else ''} over {seconds:,.0f} s."
    ]
    for device in recording.devices():
        own = [r for r in rows if r["device"] == device]
        for column, how in (("power_w", "measured power_w"), ("power_estimate_w", "estimate")):
            watts = [r[column] for r in own if isinstance(r.get(column), float)]
            if watts:
                name = own[-1].get("device_name") or device
                lines.append(
                    f"{recording.path.name}: {device} ({name}) averaged "
                    f"{sum(watts) / len(watts):,.0f} W, peak {max(watts):,.0f} W ({how})."
                )
                break
    return lines


def summary_lines(inputs: Sequence[Input]) -> list[str]:
    lines: list[str] = []
    for item in inputs:
        if isinstance(item, BenchResults):
            if item.items:  # a suite: how much of it was measured, before what it found
                done = len(item.items) - len(item.unmeasured())
                lines.append(
                    f"{item.path.name}: {done} of {len(item.items)} items measured"
                    + (" (the others are listed under its results)." if done < len(item.items)
                       else ".")
                )  # fmt: skip
            lines += bench_lines(item)
        elif isinstance(item, SweepResults):
            lines += sweep_lines(item)
        else:
            lines += recording_lines(item)
    return lines
