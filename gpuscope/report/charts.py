"""The report's charts, drawn by matplotlib (an optional extra: ``gpuscope[report]``) as SVG to
embed, or PNG for the Markdown form. Log axes where values span two decades or more, as a
CPU-vs-GPU figure usually does; every chart names the energy source of what it plots."""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gpuscope.measurement.result_cells import source_cell
from gpuscope.measurement.run_result import RunResult, params_text
from gpuscope.measurement.sweep import PointStatus, SweepPoint
from gpuscope.report.inputs import BenchResults, SweepResults, shown_name, simulated
from gpuscope.report.recording import TRACKS_MAX, Recording
from gpuscope.units import decade_label, format_rate

MISSING = "charts need matplotlib: pip install 'gpuscope[report]'"
LOG_SPAN = 100.0  # values spanning this ratio or more get a log axis
BARS_MAX = 20  # bars in one chart: the fastest runs; the table holds every run
CHARTS_MAX = 8  # CPU-vs-GPU charts per results file; the table holds every group
LINES_MAX = TRACKS_MAX  # lines in one chart: a device each (a recording keeps no more)
SWEEP_POINTS_MAX = 100  # swept values drawn per line, evenly spread; the table holds every one
LEGEND_INSIDE_MAX = 8  # legend entries drawn inside the plot; more go beside it
SPANS_LABELLED_MAX = 12  # measured runs shaded and named on a timeline; more are shaded only
SPANS_MAX = 1000  # shaded stretches on a timeline at most: runs a pixel apart merge
BAR_WIDTH_IN = 9.0
IMAGES = ("svg", "png")  # inline in HTML; files beside Markdown


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    svg: str = ""  # drawn in the one form the report embeds: the other stays empty
    png: bytes = b""


def matplotlib_missing() -> str | None:
    """Why no charts can be drawn here, or None."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return MISSING
    return None


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display, no GUI toolkit
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.grid": True,
                         "grid.alpha": 0.3, "figure.dpi": 110})  # fmt: skip
    return plt


def _render(figure: Any, title: str, image: str, laid_out: bool = False) -> Chart:
    """The figure as ``image`` (svg or png) only: drawing costs most of a report's time.
    ``laid_out``: its margins are set already (tight_layout measures every text: half the
    cost of a bar chart)."""
    plt = _pyplot()
    if not laid_out:
        figure.tight_layout()
    if image == "png":
        png = io.BytesIO()
        figure.savefig(png, format="png")
        plt.close(figure)
        return Chart(title, png=png.getvalue())
    svg = io.StringIO()
    figure.savefig(svg, format="svg", metadata={"Date": None})  # reproducible: no date
    plt.close(figure)
    text = svg.getvalue()
    return Chart(title, svg=text[text.index("<svg") :])  # no XML prolog in HTML


def _engineering() -> Any:
    from matplotlib.ticker import EngFormatter

    return EngFormatter(sep="")


def _decades() -> Any:
    """A log axis's ticks as the UI writes them (``1T``, ``10T``, ``100T``), not ``10^12``."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    def label(value: float, _position: int) -> str:
        return decade_label(round(math.log10(value))) if value > 0 else ""

    return LogLocator(base=10), FuncFormatter(label), NullFormatter()


def _log_axis(axis: Any) -> None:
    locator, major, minor = _decades()
    axis.set_major_locator(locator)
    axis.set_major_formatter(major)
    axis.set_minor_formatter(minor)


def _legend(ax: Any, lines: int) -> None:
    """The legend inside the plot for a few lines; for many (up to ``LINES_MAX``), in columns of
    small type right of the plot, where it hides no line and fits the chart's height."""
    if lines <= LEGEND_INSIDE_MAX:
        ax.legend(fontsize=8)
    else:
        ax.legend(fontsize=6, ncol=math.ceil(lines / 24), loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)  # fmt: skip


def _spans_decades(values: Sequence[float]) -> bool:
    positive = [v for v in values if v > 0]
    return bool(positive) and max(positive) / min(positive) >= LOG_SPAN


def _comparisons(results: BenchResults) -> list[list[RunResult]]:
    """The groups of runs a chart compares: two runs or more with a throughput."""
    found = [[r for r in group if r.throughput] for group in results.groups()]
    return [group for group in found if len(group) > 1]


def bench_charts(results: BenchResults, image: str = "svg") -> list[Chart]:
    """Per workload and parameters run on two devices or more: throughput and work per joule
    per device, side by side, the CPU-vs-GPU picture. At most ``CHARTS_MAX`` charts of at most
    ``BARS_MAX`` bars each (:func:`bench_chart_note` says what was left out)."""
    charts = []
    for reports in _comparisons(results)[:CHARTS_MAX]:
        title = f"{reports[0].workload} {params_text(reports[0].params)}"
        charts.append(_bench_chart(title.strip(), reports, image))
    return charts


def bench_chart_note(results: BenchResults) -> str | None:
    """What the charts leave to the table, or None when they draw every run."""
    groups = _comparisons(results)
    crowded = sum(1 for g in groups[:CHARTS_MAX] if len(g) > BARS_MAX)
    said = []
    if len(groups) > CHARTS_MAX:
        said.append(f"charts for the first {CHARTS_MAX} of {len(groups):,} comparisons")
    if crowded:
        said.append(f"the {BARS_MAX} fastest runs in each chart")
    return f"Drawn: {' and '.join(said)}; the table holds every run." if said else None


def _bench_chart(title: str, reports: list[RunResult], image: str) -> Chart:
    """Every run given has a throughput (``_comparisons``)."""
    plt = _pyplot()
    total = len(reports)
    if total > BARS_MAX:  # the fastest, fastest first; the table holds every run
        reports = sorted(reports, key=lambda r: -(r.throughput or 0.0))[:BARS_MAX]
    labels = [r.device + (" SIMULATED" if simulated(r) else "") for r in reports]
    if len(set(labels)) < len(labels):  # repeated runs of a device: bars need their own rows
        labels = [f"{label} #{n}" for n, label in enumerate(labels, 1)]
    height = 0.9 + 0.45 * len(reports)
    figure, axes = plt.subplots(1, 2, figsize=(BAR_WIDTH_IN, height))
    _bar_margins(figure, height, max(len(label) for label in labels))
    unit = reports[0].unit
    panels = (
        ("throughput", "s", [r.throughput or 0.0 for r in reports]),
        ("work per joule", "J", [r.work_per_joule or 0.0 for r in reports]),
    )
    for ax, (name, per, values) in zip(axes, panels, strict=True):
        colours = ["#888888" if label.startswith("cpu") else "#4c9a2a" for label in labels]
        ax.barh(range(len(labels)), values, color=colours)
        ax.set_yticks(range(len(labels)), labels)
        top = max(values, default=0.0) or 1.0
        floor = min((v for v in values if v > 0), default=1.0)  # where n/a is written
        if _spans_decades(values):
            ax.set_xscale("log")
            _log_axis(ax.xaxis)
            ax.set_xlim(floor / 2, top * 25)  # room on the right for the labels
        else:
            ax.xaxis.set_major_formatter(_engineering())
            ax.set_xlim(0, top * 1.45)
        ax.set_xlabel(f"{unit}/{per}")
        ax.set_title(name)
        ax.invert_yaxis()
        for y, (value, report) in enumerate(zip(values, reports, strict=True)):
            text = "n/a" if not value else format_rate(value, unit, per)
            if name == "work per joule" and report.is_estimate:
                text += " est."
            ax.text(value or floor, y, f" {text}", va="center", fontsize=8)
    sources = ", ".join(
        dict.fromkeys(f"{r.device} {source_cell(r.energy_source)}" for r in reports)
    )
    shown = f"; the {len(reports)} fastest of {total:,} runs" if total > len(reports) else ""
    figure.suptitle(f"{title} (energy: {sources}{shown})", fontsize=9)
    return _render(figure, f"CPU vs GPU: {title}", image, laid_out=True)


def _bar_margins(figure: Any, height_in: float, label_chars: int) -> None:
    """Room for the device labels left of each panel, the titles above and the axis below,
    from the labels' length (about 0.07 inch a character at 9 pt), without measuring text."""
    label_in = min(0.25 + 0.07 * label_chars, 2.5)
    right_in = 0.15
    axes_in = (BAR_WIDTH_IN - label_in * 2 - 0.2 - right_in) / 2
    figure.subplots_adjust(
        left=label_in / BAR_WIDTH_IN, right=1 - right_in / BAR_WIDTH_IN,
        wspace=(label_in + 0.2) / axes_in, top=1 - 0.7 / height_in, bottom=0.5 / height_in,
    )  # fmt: skip


def _sweep_drawn(sweep: SweepResults) -> tuple[list[Any], list[Any]]:
    """The devices and swept values a sweep's charts draw: the first ``LINES_MAX`` devices, and
    at most ``SWEEP_POINTS_MAX`` values spread evenly from the smallest to the largest."""
    devices = sweep.devices()[:LINES_MAX]
    values = sweep.ordered_values()
    if len(values) > SWEEP_POINTS_MAX:
        step = (len(values) - 1) / (SWEEP_POINTS_MAX - 1)
        values = [values[round(n * step)] for n in range(SWEEP_POINTS_MAX)]
    return devices, values


def sweep_chart_note(sweep: SweepResults) -> str | None:
    """What a sweep's charts leave to the table, or None when they draw every point."""
    devices, values = _sweep_drawn(sweep)
    every_device = len(sweep.devices())
    every_value = len(sweep.ordered_values())
    said = []
    if every_device > len(devices):
        said.append(f"the first {len(devices)} of {every_device:,} devices")
    if every_value > len(values):
        said.append(f"{len(values)} of {every_value:,} values, evenly spread")
    return f"Drawn: {' and '.join(said)}; the table holds every point." if said else None


def sweep_charts(sweep: SweepResults, image: str = "svg") -> list[Chart]:
    """Throughput and work per joule against the swept value, one line per device; a dashed
    line where a device ran out of memory. At most ``LINES_MAX`` lines of at most
    ``SWEEP_POINTS_MAX`` points (:func:`sweep_chart_note` says what was left out)."""
    devices, values = _sweep_drawn(sweep)
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    place = {v: n for n, v in enumerate(values)}  # a drawn value's place on a word axis
    by_device: dict[str, list[SweepPoint]] = {d: [] for d in devices}
    for point in sweep.ordered_points():
        if point.device in by_device and point.value in place:
            by_device[point.device].append(point)
    out_of_memory: dict[Any, list[str]] = {}  # one dashed line per value, naming its devices
    for device, own in by_device.items():
        for p in own:
            if p.status is PointStatus.OOM:
                out_of_memory.setdefault(p.value, []).append(device)
    charts = []
    for key, label in (("throughput", "/s"), ("work_per_joule", "/J")):
        plt = _pyplot()
        figure, ax = plt.subplots(figsize=(7, 3.6))
        plotted: list[float] = []
        unit, lines = "", 0
        for device, own in by_device.items():
            points = [(p.value, y) for p in own
                      if p.result is not None and (y := getattr(p.result, key))]  # fmt: skip
            unit = next((p.result.unit for p in own if p.result is not None), unit)
            if points:
                xs = [x if numeric else place[x] for x, _ in points]
                fake = any(simulated(p.result) for p in own)
                ax.plot(xs, [y for _, y in points], marker="o",
                        label=f"{device} SIMULATED" if fake else device)  # fmt: skip
                plotted += [y for _, y in points]
                lines += 1
        for value, names in out_of_memory.items():
            x = value if numeric else place[value]
            ax.axvline(x, linestyle="--", color="#b22222", alpha=0.6)
            shown = ", ".join(names[:2]) + (f" and {len(names) - 2} more" if len(names) > 2 else "")
            ax.annotate(
                f"{shown}: out of memory", (x, 0.95), xycoords=("data", "axes fraction"),
                rotation=90, fontsize=7, color="#b22222", va="top", ha="right",
            )  # fmt: skip
        if not plotted:
            plt.close(figure)
            continue
        xs_all = [float(v) for v in values] if numeric else []
        if not numeric:  # words, one tick each, in order
            ax.set_xticks(range(len(place)), [str(v) for v in place])
        if xs_all and min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 8:
            ax.set_xscale("log", base=2)  # doubling sizes and batches sit evenly
        if _spans_decades(plotted):
            ax.set_yscale("log")
            _log_axis(ax.yaxis)
        else:
            ax.yaxis.set_major_formatter(_engineering())  # 900G, not 9 x 1e11
        ax.set_xlabel(sweep.param)
        ax.set_ylabel(f"{unit}{label}")
        _legend(ax, lines)
        what = "throughput" if key == "throughput" else "work per joule"
        estimated = any(r.is_estimate for r in sweep.results())
        suffix = " (estimated energy on some points)" if key != "throughput" and estimated else ""
        ax.set_title(f"{sweep.workload}: {what} against {sweep.param}{suffix}")
        charts.append(_render(figure, f"{sweep.workload} {what} by {sweep.param}", image))
    return charts


PERCENT = (
    "util_gpu_pct", "util_cpu_pct", "sm_active_pct", "sm_occupancy_pct", "tensor_active_pct",
    "dram_active_pct",
)  # fmt: skip
# the recording's charted columns, each with its unit; one without a figure is left out
TIMELINES = (
    ("power_w", "W"), ("power_estimate_w", "W, an estimate"), ("util_gpu_pct", "%"),
    ("util_cpu_pct", "%"), ("sm_active_pct", "%, GPM"), ("sm_occupancy_pct", "%, GPM"),
    ("tensor_active_pct", "%, GPM"), ("dram_active_pct", "% of peak bandwidth, GPM"),
    ("achieved_tflops_estimate", "TFLOP/s est."),
)  # fmt: skip


def measured_spans(
    windows: Sequence[RunResult], start: float, end: float
) -> tuple[list[tuple[float, float, str]], bool]:
    """The stretches of ``windows`` (bench runs) measured within ``start``-``end``, to shade, and
    whether each may carry its run's name. At most ``SPANS_LABELLED_MAX`` are named; beyond that,
    runs closer than a pixel of the chart's width merge into one span, so 20,000 runs cost at
    most ``SPANS_MAX`` shapes (they cost 80,000 shapes and text labels: 90 s and 565 MB)."""
    found = []
    for report in windows:
        a, b = report.measured_from_s, report.measured_to_s
        if a is not None and b is not None and b >= start and a <= end:
            kind = report.params.get("dtype") or report.params.get("mode") or ""
            label = f" {report.workload} {kind} {report.device}".replace("  ", " ")
            found.append((float(a), float(b), label))
    if len(found) <= SPANS_LABELLED_MAX:
        return found, True
    gap = max(end - start, 1e-9) / SPANS_MAX
    merged: list[tuple[float, float, str]] = []
    for a, b, _ in sorted(found):
        if merged and a - merged[-1][1] <= gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b), "")
        else:
            merged.append((a, b, ""))
    return merged, False


def broken_at_gaps(
    points: list[tuple[float, float]], interval_s: float | None, bucket_s: float
) -> list[tuple[float, float]]:
    """``points`` with a break (NaN) wherever no sample was taken for more than three sampling
    intervals and two buckets: a stretch with no figure (GPM not read while its view was
    hidden, a device lost for a while) shows as a gap, not as a line drawn across it."""
    if interval_s is None or len(points) < 2:
        return points
    gap_s = max(3 * interval_s, 2 * bucket_s)
    shown = [points[0]]
    for before, point in itertools.pairwise(points):
        if point[0] - before[0] > gap_s:
            shown.append(((before[0] + point[0]) / 2, math.nan))
        shown.append(point)
    return shown


def timeline_charts(
    recording: Recording, windows: Sequence[RunResult], image: str = "svg"
) -> list[Chart]:
    """Power and utilization over time per device (each drawn from its min/max per bucket), the
    measured stretches of bench runs that fall within the recording shaded. Utilization spans
    0-100 % and power starts at 0 W, so noise does not look like swings."""
    start, end, name = recording.start_s, recording.end_s, shown_name(recording.path)
    charts = []
    for column, unit in TIMELINES:
        drawn = [(t.device, t.columns[column]) for t in recording.tracks if column in t.columns]
        drawn = drawn[:LINES_MAX]  # a recording keeps no more devices: this holds the rule here
        if not drawn:
            continue
        plt = _pyplot()
        figure, ax = plt.subplots(figsize=(9, 3))
        for device, series in drawn:
            points = broken_at_gaps(series.points(), recording.interval_s, series.width)
            ax.plot([t - start for t, _ in points], [v for _, v in points], label=device, lw=1)
        peak = max(series.peak for _, series in drawn)
        if column in PERCENT:
            ax.set_ylim(0, max(100.0, peak * 1.05))
        else:
            ax.set_ylim(0, max(peak * 1.1, 1.0))
        spans, labelled = measured_spans(windows, start, end)
        for a, b, label in spans:
            ax.axvspan(a - start, b - start, color="#4c9a2a", alpha=0.12)
            if labelled:
                ax.text(a - start, 1.0, label, fontsize=7,
                        transform=ax.get_xaxis_transform(), va="top")  # fmt: skip
        if spans and not labelled:
            ax.text(0.0, 1.0, " shaded: when runs were measured (too many to name each)",
                    fontsize=7, transform=ax.transAxes, va="top")  # fmt: skip
        ax.set_xlabel("seconds from the recording's start")
        ax.set_ylabel(f"{column} ({unit})")
        _legend(ax, len(drawn))
        mark = " (measured)" if column == "power_w" else " (estimate)" * ("estimate" in column)
        ax.set_title(f"{name}: {column}{mark}")
        charts.append(_render(figure, f"{name} {column}", image))
    return charts
