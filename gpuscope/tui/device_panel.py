"""One device's panel: its figures now, and braille charts of utilization, memory and power.

The panel is given history; it never reads a device. It rebuilds its text only when asked, and
repaints only when the text changed, so an idle device costs nothing between samples.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.markup import escape
from textual.widgets import Static

from gpuscope.telemetry.model import DeviceInfo, Sample, Vendor
from gpuscope.tui import formatting as fmt
from gpuscope.tui.charts import Metric, braille_area, bucket_means, nice_top

GUTTER = 10  # chart label column
BAR_WIDTH = 16


def _util(sample: Sample) -> float | None:
    reading = sample.reading
    return reading.util_cpu_pct if sample.vendor is Vendor.CPU else reading.util_gpu_pct


def _mem_pct(sample: Sample) -> float | None:
    fraction = fmt.ratio(sample.reading.mem_used_mib, sample.reading.mem_total_mib)
    return None if fraction is None else 100 * fraction


def _power(sample: Sample) -> float | None:
    return sample.reading.power_w


def _estimated_power(sample: Sample) -> float | None:
    return sample.reading.power_estimate_w


class DevicePanel(Vertical):
    """Figures and history of one device. ``show`` is cheap when nothing changed.

    Figures and charts are separate widgets: figures change every sample, charts only when a
    time bucket completes, and only a changed widget is repainted.
    """

    def __init__(self, info: DeviceInfo, simulated: bool = False) -> None:
        safe_id = re.sub(r"[^A-Za-z0-9_-]", "-", info.device_id)  # remote ids hold "/" and "."
        super().__init__(id=f"panel-{safe_id}", classes="device-panel")
        self.info = info
        self.simulated = simulated
        self._texts: dict[str, str | None] = {"figures": None, "charts": None}  # None: not drawn
        self.border_title = escape(f"{info.device_id} · {info.name}")
        if simulated:
            self.border_subtitle = "SIMULATED"

    def compose(self) -> ComposeResult:
        yield Static(id="figures", classes="figures")
        yield Static(id="charts", classes="charts")

    @property
    def text(self) -> str:
        """What the panel shows, as plain markup (for tests and captures)."""
        return "\n".join(t for t in self._texts.values() if t)

    def _put(self, part: str, text: str) -> None:
        if self._texts[part] == text:
            return
        found = self.query(f"#{part}").results(Static)
        widget = next(found, None)
        if widget is None:  # not composed yet: the next refresh draws it
            return
        old_lines = (self._texts[part] or "").count("\n")
        self._texts[part] = text
        # Same number of lines: same size, so repaint only; a relayout costs the whole screen.
        widget.update(text, layout=text.count("\n") != old_lines or not widget.display)
        widget.display = bool(text)

    def show(
        self,
        samples: Sequence[Sample],
        now_s: float,
        window_s: float,
        chart_rows: int,
        lost_reason: str | None = None,
        compact: bool = False,
        notice: str | None = None,
    ) -> None:
        """Redraw from ``samples`` (oldest first). A lost device is drawn once more, with its last
        figures, and then frozen: it will not be read again."""
        if self.has_class("-lost"):
            return
        width = max(20, self.content_size.width or 76)
        latest = samples[-1] if samples else None
        last_good = next((s for s in reversed(samples) if not s.lost), None)
        lines = self._figures(last_good, width, compact)
        if latest is not None and latest.lost:
            why = escape(lost_reason or "stopped answering")
            lines.insert(0, f"[$error]LOST[/] {why}; the figures below are its last")
        elif notice:
            lines.insert(0, f"[$error]{escape(notice)}[/]")
        self._put("figures", "\n".join(lines))
        charts = []
        if chart_rows > 0:
            charts = self._charts(samples, latest, now_s, window_s, chart_rows, width)
        self._put("charts", "\n".join(charts))
        lost = latest is not None and latest.lost
        self.set_class(lost, "-lost")
        subtitle = "LOST: no longer updated" if lost else "SIMULATED" if self.simulated else ""
        if self.border_subtitle != subtitle:
            self.border_subtitle = subtitle

    # -- figures ----------------------------------------------------------------------------

    def _figures(self, latest: Sample | None, width: int, compact: bool) -> list[str]:
        """Four lines; or, when the terminal is short, the same figures in two."""
        if latest is None:
            return ["[$text-muted]waiting for the first sample…[/]"]
        r = latest.reading
        is_cpu = latest.vendor is Vendor.CPU
        util = _util(latest)
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
            why = self.info.notes[0] if self.info.notes else ""
            room = max(8, width - bar - 34)  # keep the line on one line: shorten the reason
            why = why if len(why) <= room else why[: room - 1] + "…"
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
        return [
            usage,
            f"PWR [$warning]{power_bar}[/] {power:<11} {energy}{since}",
            details,
            self._fourth_line(latest),
        ]

    def _fourth_line(self, latest: Sample) -> str:
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

    # -- charts -----------------------------------------------------------------------------

    def _charts(
        self,
        samples: Sequence[Sample],
        latest: Sample | None,
        now_s: float,
        window_s: float,
        rows: int,
        width: int,
    ) -> list[str]:
        points = 2 * max(1, width - GUTTER)
        # Only completed buckets: the chart then moves once per bucket, not on every sample.
        complete_s = now_s - window_s / points
        limit = latest.reading.power_limit_w if latest is not None else None
        estimated = latest is not None and latest.reading.power_estimate_w is not None
        charts: list[tuple[str, Metric, float | None, str]] = [
            ("util %", _util, 100.0, "$success"),
            ("mem %", _mem_pct, 100.0, "$accent"),
            ("est. W", _estimated_power, None, "$warning")
            if estimated
            else ("power W", _power, limit, "$warning"),
        ]
        lines = []
        for name, metric, top, colour in charts:
            values = bucket_means(samples, metric, complete_s, window_s, points)
            if all(v is None for v in values):
                lines.append(f"{name:<{GUTTER}}[$text-muted]n/a[/]")
                lines.extend([""] * (rows - 1))
                continue
            scale = top or nice_top(values, 10.0)
            for i, row in enumerate(braille_area(values, scale, rows)):
                gutter = name if i == 0 else f"top {scale:g}" if i == 1 else ""
                lines.append(f"[$text-muted]{gutter:<{GUTTER}}[/][{colour}]{row}[/]")
        return lines
