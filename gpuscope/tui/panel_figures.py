"""A device panel's figures: usage, memory, power, energy and the rest, as markup lines; on a
GPU with activity counters (GPM) a fifth line of what its SMs, tensor cores and DRAM do, and the
throughput that makes, estimated.

Plain functions of a sample, so that what a panel says is tested without a terminal.
"""

from __future__ import annotations

from textual.markup import escape

from gpuscope.measurement.achieved import achieved_estimate, no_estimate_reason
from gpuscope.telemetry.model import DeviceInfo, Reading, Sample, Vendor
from gpuscope.tui import formatting as fmt
from gpuscope.tui.panel_charts import utilization

BAR_WIDTH = 16


def figure_lines(info: DeviceInfo, latest: Sample | None, width: int, compact: bool) -> list[str]:
    """Four lines (five on a GPU with activity counters); or, when the terminal is short, the
    same figures in two."""
    if latest is None:
        return ["[$text-muted]waiting for the first sample…[/]"]
    r = latest.reading
    is_cpu = latest.vendor is Vendor.CPU
    util = utilization(latest)
    bar = BAR_WIDTH if width >= 70 and not compact else 8
    util_bar = fmt.bar(None if util is None else util / 100, bar)
    mem_bar = fmt.bar(fmt.ratio(r.mem_used_mib, r.mem_total_mib), bar)
    usage = (
        f"{'CPU' if is_cpu else 'GPU':<4}[$success]{util_bar}[/] {fmt.percent(util):>4}   "
        f"MEM [$accent]{mem_bar}[/] {fmt.mib(r.mem_used_mib, r.mem_total_mib)}"
    )
    if r.power_w is None and r.power_estimate_w is not None:  # a model's, so marked as one
        power = f"~{fmt.value(r.power_estimate_w)} W est"
    elif r.power_w is None and r.power_limit_w is None:
        power = fmt.NA
    else:
        power = f"{fmt.value(r.power_w)}/{fmt.value(r.power_limit_w)} W"
    if latest.energy_j is None:
        why = info.notes[0] if info.notes else ""
        room = max(8, width - bar - 34)  # keep the line on one line: shorten the reason
        why = fmt.shorten(why, room)
        energy = f"energy n/a ({escape(why)})" if why else "energy n/a"
    else:
        source = f" ({latest.energy_source.value})" if latest.energy_source else ""
        energy = f"energy {fmt.energy(latest.energy_j)}{source}"
    clocks = fmt.value(r.clock_core_mhz)
    if not is_cpu:
        clocks += f"/{fmt.value(r.clock_mem_mhz)}"
    details = f"temp {fmt.value(r.temp_c, unit=' °C')}  clock {clocks} MHz"
    if compact:  # the rest waits for a taller terminal
        return [f"{usage}  PWR {power}", f"{energy}  {details}"]
    if not is_cpu:
        pstate = fmt.NA if r.pstate is None else f"P{r.pstate}"
        details += f"  {pstate}  mem-bus {fmt.percent(r.util_mem_pct)}"
        details += f"  fan {fmt.percent(r.fan_pct)}"
    power_bar = fmt.bar(fmt.ratio(r.power_w, r.power_limit_w), bar)
    since = " since start" if latest.energy_j is not None else ""
    lines = [
        usage,
        f"PWR [$warning]{power_bar}[/] {power:<11} {energy}{since}",
        details,
        _fourth_line(latest),
    ]
    if info.activity_counters:
        lines.append(activity_line(info, r, width))
    return lines


def activity_line(info: DeviceInfo, r: Reading, width: int) -> str:
    """SM active, occupancy, tensor (HMMA), DRAM and the achieved estimate, in ``width``
    (what fits first: the HMMA share, then work per joule, give way); or n/a and why."""
    shown = (r.sm_active_pct, r.sm_occupancy_pct, r.tensor_active_pct, r.dram_active_pct)
    if all(value is None for value in shown):
        why = r.activity_note or "not read now"
        return f"activity n/a ({escape(fmt.shorten(why, max(8, width - 15)))})"
    counters = f"SM {fmt.percent(r.sm_active_pct)}  occ {fmt.percent(r.sm_occupancy_pct)}  "
    tensor = f"tensor {fmt.percent(r.tensor_active_pct)}"
    hmma = f" (HMMA {fmt.percent(r.tensor_hmma_pct)})" if r.tensor_hmma_pct is not None else ""
    dram = f"  DRAM {fmt.percent(r.dram_active_pct)}  "
    estimate = achieved_estimate(r, info)
    if estimate is None:
        head = counters + tensor + dram
        why = no_estimate_reason(r, info)
        return head + f"TFLOP/s n/a ({escape(fmt.shorten(why, max(8, width - len(head) - 14)))})"
    achieved = f"≈ {_figure(estimate.tflops)} TFLOP/s est"
    per_joule = ""
    if estimate.gflop_per_j is not None:
        per_joule = f", {_figure(estimate.gflop_per_j)} GFLOP/J"
    for line in (
        counters + tensor + hmma + dram + achieved + per_joule,
        counters + tensor + dram + achieved + per_joule,
    ):
        if len(line) <= width:
            return line
    return counters + tensor + dram + achieved


def _figure(number: float) -> str:
    """Three significant figures, or whole from 100 up (``694``, ``1978``, ``12.3``)."""
    return f"{number:.0f}" if number >= 100 else f"{number:.3g}"


def _fourth_line(latest: Sample) -> str:
    r = latest.reading
    if latest.vendor is Vendor.CPU:
        if r.util_cores_pct is None:
            return "cores n/a"
        blocks = "".join("▁▂▃▄▅▆▇█"[min(7, int(c / 12.5))] for c in r.util_cores_pct)
        return f"cores [$success]{blocks}[/]"
    if r.throttle_reasons is None:
        reasons = fmt.NA
    elif not r.throttle_reasons:
        reasons = "none"
    else:
        reasons = f"[$warning]{escape(' '.join(r.throttle_reasons))}[/]"
    procs = "n/a" if r.processes is None else str(len(r.processes))
    return f"clock limits: {reasons}   processes: {procs}"
