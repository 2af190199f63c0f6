"""The live plots of the Workloads tab, rendered by plotext to text: ticks, axes, legend."""

from __future__ import annotations

import re

import pytest
from textual_plotext import PlotextPlot

from gpuscope.tui.line_plot import (
    device_colours,
    legend_line,
    linear_ticks,
    nice_step,
    plot_lines,
)

COLOURS = {"cpu": "cyan", "cuda:0": "magenta"}


def rendered(
    series: dict[str, list[tuple[float, float]]], width: int = 70, height: int = 16
) -> list[str]:
    plot = PlotextPlot()
    plot_lines(plot, "cnn throughput", "images/s", series, COLOURS)
    plot.plt.plotsize(width, height)
    return re.sub(r"\x1b\[[0-9;]*m", "", plot.plt.build()).splitlines()


def y_labels(lines: list[str]) -> dict[int, str]:
    """Row -> the tick label left of the frame on that row."""
    return {
        i: m.group(1).strip() for i, line in enumerate(lines) if (m := re.match(r"^(.*?)┤", line))
    }


@pytest.mark.parametrize(("span", "step"), [(869.9, 200.0), (10.0, 2.0), (1.0, 0.2), (0.07, 0.02)])
def test_steps_are_1_2_5(span: float, step: float) -> None:
    assert nice_step(span) == pytest.approx(step)


def test_linear_ticks_start_at_zero_and_end_on_a_round_top() -> None:
    top, ticks = linear_ticks(956.9)
    assert top == 1000.0 and ticks == [0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]


def test_log_axis_labels_sit_inside_the_frame_and_off_the_x_ticks() -> None:
    """The reported case: ``1000┌───`` on the corner, ``0.010.5`` run into the first x tick."""
    lines = rendered({"cpu": [(1, 0.012), (2, 0.013)], "cuda:0": [(1, 900.0), (2, 1000.0)]})
    top = next(i for i, line in enumerate(lines) if "┌" in line)
    bottom = next(i for i, line in enumerate(lines) if "└" in line)
    labels = y_labels(lines)
    assert labels and all(top < row < bottom for row in labels)
    assert "1k" in labels.values() and "0.1" in labels.values()
    assert "log scale" in lines[0]
    assert not re.search(r"[0-9]┌|[0-9]└", "\n".join(lines))


def test_linear_axis_ticks_are_round_numbers() -> None:
    lines = rendered({"cpu": [(0.5, 869.9), (1.5, 724.9)]})
    values = [float(v) for v in y_labels(lines).values()]
    assert values and all(v % 100 == 0 for v in values)
    assert max(values) >= 869.9


def test_no_plotext_legend_covers_the_plot_and_the_view_prints_one() -> None:
    lines = rendered({"cpu": [(1, 10.0), (2, 11.0)], "cuda:0": [(1, 900.0), (2, 1000.0)]})
    inside = [line[line.index("│") :] for line in lines if "│" in line]
    assert not any("cpu" in line or "cuda:0" in line for line in inside)
    legend = legend_line(
        {"cuda:0": [(1.0, 5.0)], "cpu": []},
        COLOURS,
        {"cpu": "no energy reading (RAPL: not present)"},
    )
    assert (
        "[magenta]━━[/] cuda:0" in legend and "cpu: no energy reading (RAPL: not present)" in legend
    )


def test_a_run_stopped_before_its_first_figure_is_still_drawn_from_its_result() -> None:
    from types import SimpleNamespace

    from gpuscope.tui.runs_view import throughput_points, work_per_joule_points

    report = SimpleNamespace(seconds=3.0, throughput=29.0, work_per_joule=None)
    stopped = SimpleNamespace(live=[], result=report)
    assert throughput_points(stopped) == [(3.0, 29.0)]  # type: ignore[arg-type]
    assert work_per_joule_points(stopped) == []  # type: ignore[arg-type]


def test_an_estimated_line_says_so_in_the_legend() -> None:
    legend = legend_line(
        {"cpu": [(1.0, 2.0)], "cuda:0": [(1.0, 50.0)]}, COLOURS, {}, frozenset({"cpu"})
    )
    assert "cpu [$warning](estimate)[/]" in legend and "cuda:0 [" not in legend


def test_the_compare_model_is_plain_python() -> None:
    """The scoreboard claims no Textual: importing it must not load Textual or plotext."""
    import subprocess
    import sys

    code = (
        "import sys, gpuscope.tui.scoreboard, gpuscope.measurement.run_figures; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'textual_plotext')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_repeat_runs_keep_their_device_colour_and_never_share_one() -> None:
    colours = device_colours(["cpu"] + ["cuda:0"] * 6 + ["cpu"])
    assert colours == {"cpu": "cyan", "cuda:0": "magenta"}


def test_a_log_axis_has_at_least_two_decade_labels() -> None:
    """200 GFLOP/s against 5 TFLOP/s spans one decade line (1T): the CPU line had no label."""
    lines = rendered({"cpu": [(1, 2e11), (2, 2.1e11)], "cuda:0": [(1, 5e12), (2, 5.2e12)]})
    assert {"100G", "1T", "10T"} <= set(y_labels(lines).values())


@pytest.mark.parametrize(
    ("values", "label", "places"),
    [
        ((256, 1024, 4096), "size (log scale)", (8.0, 10.0, 12.0)),  # spans 16x: log2
        ((16, 32, 48, 64), "size", (16.0, 32.0, 48.0, 64.0)),  # 4x: by value
        (("fp32", "bf16"), "size", (0.0, 1.0)),  # not numbers: in the order given
    ],
)
def test_a_sweep_axis_spaces_its_values_by_log_where_they_span_decades(
    values: tuple[object, ...], label: str, places: tuple[float, ...]
) -> None:
    from gpuscope.measurement.sweep import Sweep
    from gpuscope.tui.sweep_curves import sweep_axis

    axis, found = sweep_axis(Sweep("size", values))  # type: ignore[arg-type]
    assert axis.label == label and tuple(found[v] for v in values) == places  # type: ignore[index]
    assert axis.tick_labels == [str(v) for v in values]
    assert axis.left < min(places) and axis.right > max(places)  # end points inside the frame


def test_a_long_sweep_labels_at_most_eight_ticks() -> None:
    from gpuscope.measurement.sweep import Sweep
    from gpuscope.tui.sweep_curves import MAX_TICKS, sweep_axis

    axis, _ = sweep_axis(Sweep("batch", tuple(range(16, 16 * 21, 16))))
    assert len(axis.ticks) <= MAX_TICKS and axis.tick_labels[0] == "16"


def test_a_sweep_curve_holds_each_result_and_the_running_point_so_far() -> None:
    from gpuscope.measurement.sweep import Sweep, SweepRun
    from gpuscope.tui.sweep_curves import sweep_axis, sweep_series
    from tests.compare_runs import failed, measured

    walk = SweepRun("gemm", Sweep("size", (256, 1024, 4096)), ("cuda:0", "cpu"))
    walk.runs += [
        measured("gemm", "cuda:0", None, 3e12, 600.0, {"size": 256}),
        failed("gemm", "cuda:0", {"size": 1024}, "CUDA out of memory"),
        measured("gemm", "cpu", None, 2e11, None, {"size": 256}),
        measured("gemm", "cpu", None, 7e11, None, {"size": 1024}, live=True),
    ]
    _, places = sweep_axis(walk.sweep)
    throughput = sweep_series(walk, places, lambda f: f.throughput)
    assert throughput["cuda:0"] == [(8.0, 3e12)]  # the failed point has no figure, not 0
    assert throughput["cpu"] == [(8.0, 2e11), (10.0, pytest.approx(7e11))]  # running: so far
    per_joule = sweep_series(walk, places, lambda f: f.work_per_joule)
    assert per_joule["cpu"] == [] and per_joule["cuda:0"] == [(8.0, 3e12 / 600.0)]


def test_the_legend_says_where_memory_ran_out_before_why_a_device_drew_nothing() -> None:
    """A device whose first value ran out of memory has no line: the legend says "out of
    memory at ...", not "failed" (found by a review)."""
    from gpuscope.measurement.sweep import PointStatus, Sweep, SweepPoint, SweepRun
    from gpuscope.tui.runs_view import why_no_line
    from gpuscope.tui.sweep_curves import legend_notes
    from tests.compare_runs import failed, measured

    walk = SweepRun("gemm", Sweep("size", (4096, 8192)), ("cuda:0", "cpu", "cuda:1"))
    walk.runs += [
        failed("gemm", "cuda:0", {"size": 4096}, "CUDA out of memory"),
        measured("gemm", "cpu", None, 8e11, None, {"size": 4096}),
        failed("gemm", "cuda:1", {"size": 4096}, "CUDA out of memory"),
    ]
    walk.record(SweepPoint("cuda:0", 4096, PointStatus.OOM, note="CUDA out of memory"))
    series = {"cuda:0": [], "cpu": [(12.0, 8e11)], "cuda:1": []}
    notes = legend_notes(walk, series, why_no_line)  # type: ignore[arg-type]
    assert notes == {"cuda:0": "out of memory at size=4096", "cuda:1": "failed"}


def test_a_sweeps_end_notice_counts_its_points_as_the_status_line_does() -> None:
    from gpuscope.measurement.sweep import PointStatus, Sweep, SweepPoint, SweepRun
    from gpuscope.tui.sweep_curves import sweep_line, sweep_notice

    walk = SweepRun("cnn", Sweep("batch", (0, 32, 64)), ("cuda:0", "cpu"))
    walk.record(SweepPoint("cuda:0", 0, PointStatus.OOM, note="CUDA out of memory"))
    walk.record(SweepPoint("cuda:0", 32, PointStatus.SKIPPED))
    walk.record(SweepPoint("cuda:0", 64, PointStatus.SKIPPED))
    walk.stop()
    for value in (0, 32, 64):
        walk.record(SweepPoint("cpu", value, PointStatus.STOPPED))
    assert sweep_notice(walk) == (
        "sweep cnn batch stopped: 1 oom, 2 skipped, 3 stopped; "
        "cuda:0 out of memory at batch=0"  # a boundary at 0 is one (not falsy: none)
    )
    assert "6/6 points: 1 oom, 2 skipped, 3 stopped" in sweep_line(walk)


def test_the_legend_keeps_why_a_device_has_no_energy_line_beside_its_memory_boundary() -> None:
    """Found in a trial: a CPU with measured points but no energy reading read "cpu: failed"
    under work per joule once one of its points ran out of memory."""
    from gpuscope.measurement.sweep import PointStatus, Sweep, SweepPoint, SweepRun
    from gpuscope.tui.runs_view import why_no_energy
    from gpuscope.tui.sweep_curves import legend_notes
    from tests.compare_runs import failed, measured

    walk = SweepRun("gemm", Sweep("size", (256, 512)), ("cpu", "cuda:0"))
    cpu = measured("gemm", "cpu", None, 8e11, None, {"size": 256})
    walk.runs += [cpu, failed("gemm", "cpu", {"size": 512}, "out of host memory")]
    walk.record(SweepPoint("cpu", 512, PointStatus.OOM, note="out of host memory"))
    walk.stop()
    notes = legend_notes(walk, {"cpu": [], "cuda:0": []}, why_no_energy)
    assert notes == {
        "cpu": f"{why_no_energy(cpu)}; out of memory at size=512",
        "cuda:0": "stopped before its first point",  # no run at all: still named, with why
    }


def test_a_run_that_ran_out_of_memory_in_a_sweep_is_listed_as_oom_not_failed() -> None:
    from gpuscope.tui.runs_view import run_line
    from tests.compare_runs import failed

    run = failed("gemm", "cuda:0", {"size": 8192}, "CUDA out of memory")
    assert "failed: " in run_line(run)  # outside a sweep, running out is a failure
    run.swept = "size"
    line = run_line(run)
    assert "oom: " in line and "failed" not in line and "✗" not in line


def test_the_status_line_counts_a_point_when_its_run_ends_not_when_the_next_starts() -> None:
    from gpuscope.measurement.sweep import Sweep, SweepRun
    from gpuscope.tui.sweep_curves import sweep_line
    from tests.compare_runs import measured

    walk = SweepRun("gemm", Sweep("size", (256, 512)), ("cpu",))
    walk.runs.append(measured("gemm", "cpu", None, 8e11, None, {"size": 256}))  # its child exits
    assert "1/2 points: 1 measured" in sweep_line(walk)


async def test_at_80x24_the_plots_keep_a_readable_height_beside_eight_runs() -> None:
    """Eight runs listed used to squeeze each plot to 1-2 rows of data (a CPU at 8-52 GFLOP/s
    drawn on the 100G row); the run lines give way instead, and the results scroll."""
    from tests.tui_support import add_session_runs, make_app, ready, wait_until

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        add_session_runs(app)
        await pilot.press("3")
        plot = app.query_one("#throughput-plot", PlotextPlot)
        # title, frame, 6 rows of data, ticks and label: 11 rows, all on screen
        await wait_until(pilot, lambda: plot.region.height >= 11)
        assert plot.region.bottom <= 24 - 1  # above the footer
        status = str(app.query_one("#runs-status").render())
        assert "rnn on cuda:1" in status  # the newest runs are listed
