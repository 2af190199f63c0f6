"""What a report shows (issue 22's reading of real reports): a page that fits 1400 px, chart
labels and axes that don't mislead, sweep sentences that name what differs and where the
extremes lie, a recording's true span, and charts whose cost does not grow with the input."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from gpuscope.cli import main
from tests.headless_browser import dump_dom, needs_chromium

pytest.importorskip("matplotlib")

H100 = "NVIDIA H100 80GB HBM3"
MACHINE = {"host": "a-rather-long-host-name.cluster.example.org", "os": "Linux-6.8.0-49-generic"
           "-x86_64-with-glibc2.39", "cpu": "AMD EPYC 9654 96-Core Processor", "python": "3.11",
           "gpuscope": "0.22.0"}  # fmt: skip


def run(device: str, throughput: float, wpj: float | None = None, **more: Any) -> dict[str, Any]:
    params = {"dtype": "bf16", "size": 4096}
    return {"workload": "gemm", "device": device, "unit": "FLOP", "throughput": throughput,
            "work_per_joule": wpj, "device_name": H100 if device != "cpu" else None,
            "params": params, "energy_source": "counter", **more}  # fmt: skip


def recording(path: Path, rows: list[tuple[float, float, float]], devices: int = 1) -> Path:
    lines = ["timestamp,device,power_w,util_gpu_pct,device_name,device_uuid,device_driver,"
             "mem_total_mib,power_limit_w"]  # fmt: skip
    for seconds, watts, util in rows:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1_796_000_000 + seconds))
        stamp += f".{round(seconds % 1 * 1000):03d}+00:00"
        for n in range(devices):
            lines.append(f"{stamp},nvidia:{n},{watts},{util},{H100},GPU-95357a56-{'x' * 40}-{n},"
                         "580.159.04,81559,700")  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def sweep_file(path: Path, points: list[tuple[str, int, float | None]], **params: Any) -> Path:
    payload = {
        "workload": "gemm", "sweep": {"param": "size", "values": sorted({p[1] for p in points})},
        "points": [
            {"device": d, "size": v, "status": "measured" if t else "oom",
             "report": run(d, t, params={**params, "size": v}) if t else None}
            for d, v, t in points
        ],
    }  # fmt: skip
    path.write_text(json.dumps(payload))
    return path


@pytest.fixture
def wide_inputs(tmp_path: Path) -> list[Path]:
    bench = tmp_path / "bench.json"
    runs = [run("cpu", 1.3e12, 5e9), run("cuda:0", 7.7e14, 1.1e12, telemetry_device="nvidia:0")]
    bench.write_text(json.dumps({"machine": MACHINE, "reports": runs}))
    rec = recording(tmp_path / "rec.csv", [(s, 300.0, 90.0) for s in range(5)], devices=4)
    return [bench, rec]


def page_of(inputs: list[Path], out: Path) -> str:
    assert main(["report", *map(str, inputs), "-o", str(out)]) == 0
    return out.read_text()


def test_every_table_sits_in_a_container_that_scrolls_within_the_page(
    wide_inputs: list[Path], tmp_path: Path
) -> None:
    """Issue 22: the device table ran off a 1400 px page."""
    page = page_of(wide_inputs, tmp_path / "r.html")
    tables = page.count("<table>")
    assert tables >= 3 and page.count("<div class=wide><table>") == tables
    css = page[page.index("<style>") : page.index("</style>")]
    assert re.search(r"\.wide\{[^}]*overflow-x:auto", css)


OVERFLOW_PROBE = """<script>
window.addEventListener('load', () => {
  const width = document.documentElement.clientWidth;
  const past = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width + 1 && !e.closest('.wide'))
    .map(e => e.tagName);
  document.body.setAttribute('data-probe',
    `page=${document.documentElement.scrollWidth} view=${width} past=${past.join(',')}`);
});
</script></body>"""


@needs_chromium
def test_chromium_at_1400_px_shows_no_horizontal_overflow(
    wide_inputs: list[Path], tmp_path: Path
) -> None:
    page = page_of(wide_inputs, tmp_path / "r.html")
    probe = tmp_path / "probe.html"  # the report has no script: the probe is added to a copy
    probe.write_text(page.replace("</body>", OVERFLOW_PROBE))
    browser = dump_dom(probe, "--window-size=1400,1000", "--virtual-time-budget=5000")
    found = re.search(r'data-probe="page=(\d+) view=(\d+) past=([^"]*)"', browser.stdout)
    assert found, browser.stdout[-2000:]
    page_px, view_px, past = int(found[1]), int(found[2]), found[3]
    assert view_px <= 1400 and page_px <= view_px and past == "", found[0]


def test_bar_labels_use_si_prefixes_and_stay_inside_the_frame(tmp_path: Path) -> None:
    """Issue 22: labels like 7.7e+14 ran over the chart's frame."""
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"reports": [run("cpu", 1.3e12, 5e9), run("cuda:0", 7.7e14,
                                                                          1.1e12)]}))  # fmt: skip
    page = page_of([bench], tmp_path / "r.html")
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", page)
    assert " 770 TFLOP/s" in texts and " 1.1 TFLOP/J" in texts
    assert not [t for t in texts if re.search(r"\de[+-]?\d", t)]
    from gpuscope.report.charts import bench_charts
    from gpuscope.report.inputs import load_input

    (chart,) = bench_charts(load_input(bench))  # type: ignore[arg-type]
    assert "e+" not in chart.svg


def test_utilisation_spans_0_to_100_and_power_starts_at_0(tmp_path: Path) -> None:
    """Issue 22: axes zoomed to 99-100 % and 38-65 W, so noise looked like swings."""
    rows = [(s, 38.0 + (s % 5) * 6.5, 99.0 + (s % 2) * 0.9) for s in range(60)]
    page = page_of([recording(tmp_path / "rec.csv", rows)], tmp_path / "r.html")
    charts = {
        name: re.findall(r"<text[^>]*>([^<]*)</text>", svg)
        for name, svg in re.findall(
            r"<figcaption>rec.csv (\w+)</figcaption>(.*?)</svg>", page, re.S
        )
    }
    assert {"0", "100"} <= set(charts["util_gpu_pct"]) and "99.2" not in charts["util_gpu_pct"]
    assert "0" in charts["power_w"] and "40" in charts["power_w"]


def test_a_sweep_names_its_least_and_most_ratio_and_where(tmp_path: Path) -> None:
    """Issue 22: "33x at 256 to 786x at 8192" hid 1,080x at 512."""
    from gpuscope.report.inputs import load_input
    from gpuscope.report.summary import summary_lines

    sizes = {256: 33.0, 512: 1080.0, 1024: 400.0, 8192: 786.0}
    points = [("cpu", v, 1e9) for v in sizes] + [("cuda:0", v, 1e9 * r) for v, r in sizes.items()]
    (line,) = [
        s for s in summary_lines([load_input(sweep_file(tmp_path / "s.json", points))])
        if " vs " in s
    ]  # fmt: skip
    assert "least 33.0x at size=256, most 1,080x at size=512" in line


def test_sweep_rows_are_in_swept_order_not_completion_order(tmp_path: Path) -> None:
    """Issue 22: rows came in the order points finished."""
    points = [("cpu", 1024, 4e9), ("cuda:0", 256, 2e9), ("cpu", 256, 1e9), ("cuda:0", 1024, 8e9),
              ("cuda:0", 4096, None), ("cpu", 64, 5e8)]  # fmt: skip
    page = page_of([sweep_file(tmp_path / "s.json", points)], tmp_path / "r.html")
    table = page[page.index("<h2>Sweep:") :]
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td>", table)
    assert rows == [("64", "cpu"), ("256", "cpu"), ("256", "cuda:0"), ("1024", "cpu"),
                    ("1024", "cuda:0"), ("4096", "cuda:0")]  # fmt: skip


def test_three_sweeps_say_what_differs(tmp_path: Path) -> None:
    """Issue 22: three sweeps gave three identical summary lines."""
    from gpuscope.report.inputs import load_inputs
    from gpuscope.report.summary import summary_lines

    points = [("cpu", 256, 1e9), ("cuda:0", 256, 3e10), ("cpu", 512, 2e9), ("cuda:0", 512, 9e10)]
    files = [sweep_file(tmp_path / f"{dtype}.json", points, dtype=dtype) for dtype in
             ("fp32", "bf16")]  # fmt: skip
    files.append(sweep_file(tmp_path / "again.json", points, dtype="bf16"))
    lines = [s for s in summary_lines(load_inputs(files)) if " vs " in s]
    assert len(lines) == 3 and len(set(lines)) == 3
    assert lines[0].startswith(f"gemm (dtype=fp32) size sweep, cuda:0 ({H100}) vs cpu: ")
    assert lines[1].startswith("gemm (dtype=bf16) size sweep in bf16.json, ")
    assert lines[2].startswith("gemm (dtype=bf16) size sweep in again.json, ")


def test_a_recording_of_3_seconds_is_said_to_cover_3_seconds(tmp_path: Path) -> None:
    """Issue 22: ``record -d 3`` (samples at 0, 1 and 2 s) was summarised "over 2 s"."""
    from gpuscope.report.inputs import load_input
    from gpuscope.report.summary import summary_lines

    rec = recording(tmp_path / "rec.csv", [(s, 100.0, 50.0) for s in range(3)], devices=2)
    assert summary_lines([load_input(rec)])[0] == (
        "rec.csv: 2 devices over 3 s (3 samples per device, 1 s apart)."
    )


def test_a_long_recording_is_drawn_from_min_max_buckets_and_no_spike_is_lost(
    tmp_path: Path,
) -> None:
    """Issue 22's scale rule: charts downsample to their pixel width, keeping min and max."""
    from gpuscope.report.downsample import BUCKETS, Series

    series = Series(0.0)
    for n in range(200_000):
        series.add(n * 0.1, 500.0 if n == 123_457 else 100.0 + n % 7)
    points = series.points()
    assert len(points) <= 2 * BUCKETS
    assert (12345.7, 500.0) in [(round(t, 1), v) for t, v in points]
    assert min(v for _, v in points) == 100.0
    assert [t for t, _ in points] == sorted(t for t, _ in points)


def test_a_bench_file_of_3000_runs_draws_capped_bars_and_says_so(tmp_path: Path) -> None:
    """Issue 22: 3,000 runs took 194 s and 1 GB (charts grew 0.45 inch per run)."""
    from gpuscope.report.charts import BARS_MAX

    runs = [run("cpu" if n % 2 else f"cuda:{n % 8}", 1e12 + n * 1e9, 5e9) for n in range(3000)]
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"reports": runs}))
    started = time.monotonic()
    page = page_of([bench], tmp_path / "r.html")
    assert time.monotonic() - started < 60  # about 3 s here; the base took minutes
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert f"the {BARS_MAX} fastest of 3,000 runs" in svg
    assert svg.count("TFLOP/s</text>") == BARS_MAX  # one label per bar drawn
    assert page.count("<tr><td>gemm</td>") == 3000  # the table holds every run
    assert "the table holds every run" in page
    summary = page[page.index("<h2>Summary</h2>") : page.index("<section>")]
    assert summary.count("<li>") <= 9 and "(fastest of 1,500 runs)" in summary


def _svgs(page: str) -> str:
    return "".join(re.findall(r"<svg.*?</svg>", page, re.DOTALL))


def test_a_recording_of_many_devices_keeps_64_and_says_how_many_were_left_out(
    tmp_path: Path,
) -> None:
    """Review #2: 100k device names gave 100k tracks (152 MB for a 4.4 MB file) and a line
    per device in every timeline chart."""
    from gpuscope.report.inputs import load_input
    from gpuscope.report.recording import TRACKS_MAX

    rec = recording(tmp_path / "rec.csv", [(s, 300.0, 90.0) for s in range(3)], devices=100)
    assert len(load_input(rec).tracks) == TRACKS_MAX == 64  # type: ignore[union-attr]
    page = page_of([rec], tmp_path / "r.html")
    assert "36 more devices (108 rows) are left out" in page
    drawn = set(re.findall(r"nvidia:(\d+)", _svgs(page)))
    assert drawn == {str(n) for n in range(TRACKS_MAX)}  # each kept device once, no other


def test_a_sweep_of_many_devices_and_values_draws_capped_lines_and_says_so(
    tmp_path: Path,
) -> None:
    """Review #2: ``sweep_charts`` drew a line per device and a point per value, unbounded."""
    from gpuscope.report.charts import LINES_MAX, SWEEP_POINTS_MAX

    points = [(f"dev{d}", 2 + v, 1e12 * (d + 1)) for d in range(80) for v in range(150)]
    page = page_of([sweep_file(tmp_path / "s.json", points)], tmp_path / "r.html")
    assert (f"Drawn: the first {LINES_MAX} of 80 devices and {SWEEP_POINTS_MAX} of 150 "
            "values, evenly spread; the table holds every point.") in page  # fmt: skip
    svgs = _svgs(page)
    assert set(re.findall(r"dev(\d+)", svgs)) == {str(d) for d in range(LINES_MAX)}
    assert page.count("<tr><td>") >= 80 * 150  # the table holds every point


def test_runs_shaded_on_a_timeline_are_named_when_few_and_merged_when_many() -> None:
    """Issue 22 re-trial: 20,000 runs measured within a recording were each shaded and named on
    every timeline chart (80,000 shapes and labels: 90 s, 565 MB, a 17.8 MB page)."""
    from gpuscope.measurement.run_result import RunResult
    from gpuscope.report.charts import SPANS_LABELLED_MAX, SPANS_MAX, measured_spans

    def window(a: float) -> RunResult:
        return RunResult.from_dict({"workload": "gemm", "device": "cpu", "unit": "FLOP",
                                    "params": {"dtype": "fp32"}, "measured_from_s": a,
                                    "measured_to_s": a + 0.5})  # fmt: skip

    few, named = measured_spans([window(10.0), window(20.0), window(5000.0)], 0.0, 100.0)
    assert named and [(a, b) for a, b, _ in few] == [(10.0, 10.5), (20.0, 20.5)]
    assert few[0][2] == " gemm fp32 cpu"
    bursts = [window(100.0 * burst + 0.01 * i) for burst in range(40) for i in range(500)]
    many, named = measured_spans(bursts, 0.0, 4000.0)  # 40 bursts of 500 runs, 100 s apart
    assert not named and SPANS_LABELLED_MAX < len(many) == 40 <= SPANS_MAX
    assert many[0] == (0.0, 4.99 + 0.5, "") and many[-1][0] == 3900.0  # every burst shaded


def test_a_recording_whose_clock_jumps_says_so(tmp_path: Path) -> None:
    """Issue 22 re-trial: a 2 s recording with one row stamped 1970 was summarised "over
    1,891,186,396 s (20 samples, 94,559,320 s apart)" with no word of why."""
    from gpuscope.report.inputs import load_input

    seconds = [0.1 * i for i in range(20)]
    seconds[10] = -1_796_000_000.0  # 1970
    rec = recording(tmp_path / "rec.csv", [(s, 100.0, 50.0) for s in seconds])
    notes = " ".join(load_input(rec).notes)  # type: ignore[union-attr]
    assert "Rows stamped before the row above them: 1 " in notes
    assert "nvidia:0: its 20 samples are 0.1 s apart at least but span 1,796,000,002 s" in notes
    steady = recording(tmp_path / "steady.csv", [(0.1 * i, 100.0, 50.0) for i in range(20)])
    assert load_input(steady).notes == ()  # type: ignore[union-attr]


def test_a_recording_whose_interval_changed_has_no_clock_note(tmp_path: Path) -> None:
    """Final review of issue 22: 0.05 s then 5 s between samples (the UI's interval keys) is
    sampling, not a jump; nor is a jittery interval."""
    from gpuscope.report.inputs import load_input

    seconds = [0.05 * i for i in range(40)] + [2.0 + 5.0 * i for i in range(200)]
    seconds += [1002.0 + 0.5 * i + (0.3 if i % 2 else 0.0) for i in range(100)]
    rec = recording(tmp_path / "rec.csv", [(s, 100.0, 50.0) for s in seconds])
    assert load_input(rec).notes == ()  # type: ignore[union-attr]


def test_a_timeline_breaks_where_no_sample_was_taken_instead_of_drawing_across() -> None:
    """New-user trial: GPM paused for 3 s while the Processes tab showed drew a straight line
    over the empty cells."""
    import math

    from gpuscope.report.charts import broken_at_gaps

    points = [(0.0, 50.0), (0.5, 60.0), (1.0, 70.0), (4.0, 10.0), (4.5, 20.0)]
    shown = broken_at_gaps(points, interval_s=0.5, bucket_s=0.001)
    assert [p for p in shown if not math.isnan(p[1])] == points
    assert [t for t, v in shown if math.isnan(v)] == [2.5]  # one break, inside the 3 s gap
    assert broken_at_gaps(points[:3], interval_s=0.5, bucket_s=0.001) == points[:3]
