"""A device panel's history charts as lines of (text, style) pieces, no Textual: the charts a
panel can show, each chart's gutter (name, full scale) and braille rows, stacked or side by side
(a strip, where a short terminal leaves a row or three). ``device_panel`` takes samples in,
buckets them and puts these lines on screen.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpuscope.telemetry.model import Sample, Vendor
from gpuscope.tui import formatting as fmt
from gpuscope.tui.charts import Metric, braille_area, nice_top, scale_label

GUTTER = 10  # chart label column
STRIP_GUTTER = 6  # a chart's label column where charts stand side by side
STRIP_GAP = 2  # between two charts side by side

Line = list[tuple[str, str]]  # (text, style) pieces of one line


def utilization(sample: Sample) -> float | None:
    """GPU utilization %, or a CPU's (all cores)."""
    reading = sample.reading
    return reading.util_cpu_pct if sample.vendor is Vendor.CPU else reading.util_gpu_pct


def _mem_pct(sample: Sample) -> float | None:
    fraction = fmt.ratio(sample.reading.mem_used_mib, sample.reading.mem_total_mib)
    return None if fraction is None else 100 * fraction


def _power_or_estimate(sample: Sample) -> float | None:
    """Measured power; for a CPU without RAPL given a TDP, the estimate (the chart says so)."""
    reading = sample.reading
    return reading.power_w if reading.power_w is not None else reading.power_estimate_w


def _temp(sample: Sample) -> float | None:
    return sample.reading.temp_c


def _clock_ghz(sample: Sample) -> float | None:
    mhz = sample.reading.clock_core_mhz
    return None if mhz is None else mhz / 1000


def _field(name: str) -> Metric:
    """A ``Reading`` field as a chart's metric (the activity counters: % of the interval)."""
    return lambda sample: getattr(sample.reading, name)


@dataclass(frozen=True, slots=True)
class ChartKind:
    """One history chart a panel can show: ``top`` is its fixed full scale (None: a round
    figure above its values, or the power limit for power)."""

    label: str  # at most 4 characters: it shares the gutter with the scale
    title: str  # for the chooser
    metric: Metric
    unit: str
    colour: str
    top: float | None = None


CHART_KINDS: dict[str, ChartKind] = {
    "util": ChartKind("util", "utilization %", utilization, "%", "$success", 100.0),
    "mem": ChartKind("mem", "memory used %", _mem_pct, "%", "$accent", 100.0),
    "pwr": ChartKind("pwr", "power W (the limit as full scale)", _power_or_estimate, "W",
                     "$warning"),
    "temp": ChartKind("temp", "temperature °C", _temp, "°C", "$error"),
    "clk": ChartKind("clk", "core clock GHz", _clock_ghz, "GHz", "$primary"),
    # activity counters (GPM): read while the Devices tab is shown, n/a on a GPU without them
    "sm": ChartKind("sm", "SM active % (GPM)", _field("sm_active_pct"), "%", "$success", 100.0),
    "tens": ChartKind("tens", "tensor active % (GPM)", _field("tensor_active_pct"), "%",
                      "$secondary", 100.0),
    "dram": ChartKind("dram", "DRAM bandwidth % (GPM)", _field("dram_active_pct"), "%",
                      "$accent", 100.0),
}  # fmt: skip
DEFAULT_CHARTS = ("util", "mem", "pwr")
ACTIVITY_CHARTS = frozenset({"sm", "tens", "dram"})  # drawn from the activity counters (GPM)


def strip_width(width: int, charts: int) -> int:
    """Cells each chart takes when ``charts`` stand side by side in ``width``."""
    return max(STRIP_GUTTER + 2, (width - STRIP_GAP * (charts - 1)) // max(1, charts))


@dataclass(frozen=True, slots=True)
class PowerScale:
    """What the power chart needs of its device: the limit as full scale (None: a round figure
    above the values), whether the values are an estimate, and why power is n/a."""

    limit_w: float | None = None
    estimated: bool = False
    note: str = ""
    activity_note: str = ""  # why the activity charts are n/a (no GPM here, or paused)


def chart_points(width: int, charts: int, strip: bool) -> int:
    """Braille dots across one chart (two a cell) in a panel ``width`` wide."""
    cells = strip_width(width, charts) - STRIP_GUTTER if strip else width - GUTTER
    return 2 * max(1, cells)


def chart_lines(
    kinds: tuple[ChartKind, ...],
    means: list[list[float | None]],
    rows: int,
    width: int,
    strip: bool,
    power: PowerScale,
) -> list[Line]:
    """The charts of ``kinds`` from their bucket means, ``rows`` high each: one above another,
    or side by side (``strip``), each ``strip_width`` wide."""
    charts = [
        _chart(kind, values, rows, width, strip, power)
        for kind, values in zip(kinds, means, strict=True)
    ]
    if not strip:
        return [line for chart in charts for line in chart]
    cell = strip_width(width, len(kinds))
    for chart in charts:
        chart += [[(" " * cell, "")]] * (rows - len(chart))
    gap = (" " * STRIP_GAP, "")
    lines = []
    for i in range(rows):
        line = list(charts[0][i])
        for chart in charts[1:]:
            line += [gap, *chart[i]]
        lines.append(line)
    return lines


def _chart(
    kind: ChartKind,
    values: list[float | None],
    rows: int,
    width: int,
    strip: bool,
    power: PowerScale,
) -> list[Line]:
    """One chart's lines of (text, style) pieces: its label and scale in the gutter, then
    braille; side by side, each line exactly ``strip_width`` wide."""
    name, unit, colour, muted = kind.label, kind.unit, kind.colour, "$text-muted"
    if unit == "W" and power.estimated:
        name = "est."  # an estimate from TDP and utilization, never a measurement
    gutter = STRIP_GUTTER if strip else GUTTER
    if all(v is None for v in values):  # a metric this device does not have: one line
        why = power.note if unit == "W" else ""
        if kind.label in ACTIVITY_CHARTS:
            why = power.activity_note
        if not strip:
            why = fmt.shorten(why, width - GUTTER - 6)
            return [[(f"{name:<{GUTTER}}n/a{f': {why}' if why else ''}", muted)]]
        room = len(values) // 2  # the braille's width, which the text fills exactly
        text = f"n/a: {why}" if why and room >= 12 else "n/a"
        return [[(f"{name:<{gutter}}{fmt.clip(text, room):<{room}}", muted)]]
    floor = 10.0 if unit == "W" else 1.0  # a 2 W CPU estimate must not fill the chart
    top = kind.top or (power.limit_w if unit == "W" else None) or nice_top(values, floor)
    lines = []
    for i, row in enumerate(braille_area(values, top, rows)):
        if strip:  # name on the first row, full scale on the second
            label = name if i == 0 else scale_label(top, unit) if i == 1 else ""
        else:
            label = f"{name:<4}{scale_label(top, unit):>5}" if i == 0 else ""
            if i == rows - 1 and rows > 1:
                label = f"{'0' + unit:>9}"
        lines.append([(f"{label:<{gutter}}", muted), (row, colour)])
    return lines
