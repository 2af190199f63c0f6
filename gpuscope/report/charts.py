"""The report's charts, drawn by matplotlib (an optional extra: ``gpuscope[report]``) as SVG to
embed, or PNG for the Markdown form. Log axes where values span two decades or more, as a
CPU-vs-GPU figure usually does; every chart names the energy source of what it plots."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gpuscope.measurement.run_report import params_text
from gpuscope.report.inputs import BenchResults, Recording, SweepResults, simulated

MISSING = "charts need matplotlib: pip install 'gpuscope[report]'"
LOG_SPAN = 100.0  # values spanning this ratio or more get a log axis


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    svg: str
    png: bytes


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


def _render(figure: Any, title: str) -> Chart:
    plt = _pyplot()
    figure.tight_layout()
    svg, png = io.StringIO(), io.BytesIO()
    figure.savefig(svg, format="svg", metadata={"Date": None})  # reproducible: no date
    figure.savefig(png, format="png")
    plt.close(figure)
    text = svg.getvalue()
    return Chart(title, text[text.index("<svg") :], png.getvalue())  # no XML prolog in HTML


def _engineering() -> Any:
    from matplotlib.ticker import EngFormatter

    return EngFormatter(sep="")


def _spans_decades(values: Sequence[float]) -> bool:
    positive = [v for v in values if v > 0]
    return bool(positive) and max(positive) / min(positive) >= LOG_SPAN


def bench_charts(results: BenchResults) -> list[Chart]:
    """Per workload and parameters run on two devices or more: throughput and work per joule
    per device, side by side, the CPU-vs-GPU picture."""
    charts = []
    for group in results.groups():
        reports = [r for r in group if r.get("throughput")]
        if len(reports) > 1:
            title = f"{reports[0]['workload']} {params_text(reports[0].get('params') or {})}"
            charts.append(_bench_chart(title.strip(), reports))
    return charts


def _bench_chart(title: str, reports: list[dict[str, Any]]) -> Chart:
    plt = _pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(9, 0.9 + 0.45 * len(reports)))
    labels = [str(r["device"]) + (" SIMULATED" if simulated(r) else "") for r in reports]
    unit = reports[0]["unit"]
    panels = (
        ("throughput", f"{unit}/s", [r["throughput"] for r in reports]),
        ("work per joule", f"{unit}/J", [r.get("work_per_joule") or 0.0 for r in reports]),
    )
    for ax, (name, axis_unit, values) in zip(axes, panels, strict=True):
        colours = ["#888888" if label == "cpu" else "#4c9a2a" for label in labels]
        ax.barh(labels, values, color=colours)
        if _spans_decades(values):
            ax.set_xscale("log")
        else:
            ax.xaxis.set_major_formatter(_engineering())
        ax.set_xlabel(axis_unit)
        ax.set_title(name)
        ax.invert_yaxis()
        floor = min((v for v in values if v > 0), default=1.0)  # where n/a is written
        for y, (value, report) in enumerate(zip(values, reports, strict=True)):
            text = "n/a" if not value else f"{value:,.3g}"
            if name == "work per joule" and report.get("energy_source") == "estimate":
                text += " est."
            ax.text(value or floor, y, f" {text}", va="center", fontsize=8)
    sources = ", ".join(f"{r['device']} {r.get('energy_source') or 'n/a'}" for r in reports)
    figure.suptitle(f"{title} (energy: {sources})", fontsize=9)
    return _render(figure, f"CPU vs GPU: {title}")


def sweep_charts(sweep: SweepResults) -> list[Chart]:
    """Throughput and work per joule against the swept value, one line per device; a cross
    where a device ran out of memory."""
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in sweep.values)
    devices = list(dict.fromkeys(p["device"] for p in sweep.points))
    charts = []
    for key, label in (("throughput", "/s"), ("work_per_joule", "/J")):
        plt = _pyplot()
        figure, ax = plt.subplots(figsize=(7, 3.6))
        plotted: list[float] = []
        unit = ""
        for device in devices:
            own = [p for p in sweep.points if p["device"] == device]
            points = [(p[sweep.param], p["report"][key]) for p in own
                      if p.get("report") and p["report"].get(key)]  # fmt: skip
            unit = next((p["report"]["unit"] for p in own if p.get("report")), unit)
            if points:
                xs = [x if numeric else str(x) for x, _ in points]
                fake = any(simulated(p.get("report")) for p in own)
                ax.plot(xs, [y for _, y in points], marker="o",
                        label=f"{device} SIMULATED" if fake else device)  # fmt: skip
                plotted += [y for _, y in points]
            for p in own:
                if p["status"] == "oom":
                    x = p[sweep.param] if numeric else str(p[sweep.param])
                    ax.axvline(x, linestyle="--", color="#b22222", alpha=0.6)
                    ax.annotate(
                        f"{device}: out of memory", (x, 0.95), xycoords=("data", "axes fraction"),
                        rotation=90, fontsize=7, color="#b22222", va="top", ha="right",
                    )  # fmt: skip
        if not plotted:
            plt.close(figure)
            continue
        xs_all = [float(v) for v in sweep.values] if numeric else []
        if xs_all and min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 8:
            ax.set_xscale("log", base=2)  # doubling sizes and batches sit evenly
        if _spans_decades(plotted):
            ax.set_yscale("log")
        else:
            ax.yaxis.set_major_formatter(_engineering())  # 900G, not 9 x 1e11
        ax.set_xlabel(sweep.param)
        ax.set_ylabel(f"{unit}{label}")
        ax.legend(fontsize=8)
        what = "throughput" if key == "throughput" else "work per joule"
        estimated = any(
            (p.get("report") or {}).get("energy_source") == "estimate" for p in sweep.points
        )
        suffix = " (estimated energy on some points)" if key != "throughput" and estimated else ""
        ax.set_title(f"{sweep.workload}: {what} against {sweep.param}{suffix}")
        charts.append(_render(figure, f"{sweep.workload} {what} by {sweep.param}"))
    return charts


def timeline_charts(recording: Recording, windows: Sequence[dict[str, Any]]) -> list[Chart]:
    """Power and utilization over time per device, the measured stretches of bench runs that
    fall within the recording shaded."""
    start = recording.rows[0]["time_s"]
    charts = []
    for column, unit in (("power_w", "W"), ("power_estimate_w", "W, an estimate"),
                         ("util_gpu_pct", "%"), ("util_cpu_pct", "%")):  # fmt: skip
        plt = _pyplot()
        figure, ax = plt.subplots(figsize=(9, 3))
        drawn = False
        for device in recording.devices():
            own = [
                r
                for r in recording.rows
                if r["device"] == device and isinstance(r.get(column), float)
            ]
            if own:
                ax.plot(
                    [r["time_s"] - start for r in own], [r[column] for r in own], label=device, lw=1
                )
                drawn = True
        if not drawn:
            plt.close(figure)
            continue
        end = recording.rows[-1]["time_s"]
        for report in windows:
            a, b = report.get("measured_from_s"), report.get("measured_to_s")
            if a is not None and b is not None and b >= start and a <= end:
                ax.axvspan(a - start, b - start, color="#4c9a2a", alpha=0.12)
                params = report.get("params") or {}
                kind = params.get("dtype") or params.get("mode") or ""
                label = f" {report['workload']} {kind} {report['device']}".replace("  ", " ")
                ax.text(a - start, 1.0, label, fontsize=7,
                        transform=ax.get_xaxis_transform(), va="top")  # fmt: skip
        ax.set_xlabel("seconds from the recording's start")
        ax.set_ylabel(f"{column} ({unit})")
        ax.legend(fontsize=8)
        ax.set_title(
            f"{recording.path.name}: {column}" + (" (measured)" if column == "power_w" else "")
        )
        charts.append(_render(figure, f"{recording.path.name} {column}"))
    return charts
