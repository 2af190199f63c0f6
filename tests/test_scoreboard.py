"""The Compare tab's model and layout without a terminal: grouping, ratios, log bars, markers."""

from __future__ import annotations

import math

import pytest
from textual.content import Content

from gpuscope.telemetry.model import DeviceInfo, EnergySource
from gpuscope.tui.compare_view import group_lines, scoreboard_lines
from gpuscope.tui.scoreboard import (
    RowStatus,
    device_order,
    log_scale,
    scoreboard,
)
from gpuscope.units import decade_label, format_ratio
from tests.compare_runs import (
    CNN_CHOSEN,
    CNN_ON_CPU,
    GEMM,
    RNN,
    failed,
    measured,
    session_runs,
)
from tests.tui_support import simulated_devices

INFOS: dict[str, DeviceInfo] = {d.info.device_id: d.info for d in simulated_devices()}
GPUS = frozenset({"nvidia:0", "nvidia:1"})


@pytest.mark.parametrize(
    ("ratio", "text"),
    [
        (1568.0, "1,570x"),
        (24656.16, "24,700x"),
        (24.656, "24.7x"),
        (137.0, "137x"),
        (1.0, "1.00x"),
        (0.51234, "0.512x"),
        (0.0012345, "0.00123x"),
        (999.7, "1,000x"),
        (9.996, "10.0x"),
        (108_856.0, "109,000x"),
        (0.0, "n/a"),
        (math.inf, "n/a"),
        (math.nan, "n/a"),
    ],
)
def test_ratios_read_in_three_significant_figures(ratio: float, text: str) -> None:
    assert format_ratio(ratio) == text


@pytest.mark.parametrize("gap", [1e3, 1e5])
def test_a_wide_gap_shows_both_bars_on_the_log_scale(gap: float) -> None:
    values = [29.06, 29.06 * gap]
    scale = log_scale(values, 30)
    assert scale is not None
    small, large = (scale.cells(v) for v in values)
    assert 0.125 <= small < large <= 30
    assert scale.bar(values[0]).strip() and scale.bar(values[1]).strip()
    assert all(len(scale.bar(v)) == 30 for v in values)
    # the bars differ by the decades between them, whatever the scale's ends
    per_decade = scale.span / (scale.high - scale.low)
    assert large - small == pytest.approx(math.log10(gap) * per_decade)


@pytest.mark.parametrize("smallest", [10.0, 10.0001, 1000.0, 0.001, 7e-9])
def test_every_value_above_zero_has_a_bar_even_at_a_decade(smallest: float) -> None:
    scale = log_scale([smallest, smallest * 1e6], 8)
    assert scale is not None
    assert scale.bar(smallest).strip()
    assert math.log10(smallest) - scale.low >= 0.25


def test_no_bar_without_a_value_and_no_scale_without_any() -> None:
    scale = log_scale([None, 0.0, 50.0], 10)
    assert scale is not None
    assert scale.bar(None) == " " * 10 and scale.bar(0.0) == " " * 10
    assert log_scale([None, 0.0, -1.0], 10) is None
    single = log_scale([1000.0], 10)
    assert single is not None and single.high > single.low
    assert 0 < single.cells(1000.0) <= 10


def test_the_tick_line_puts_each_decade_label_at_its_column() -> None:
    scale = log_scale([29.06, 3981.4], 30)
    assert scale is not None and (scale.low, scale.high) == (1, 4)
    ticks = scale.tick_line()
    assert len(ticks) == 30
    assert ticks.split() == ["10", "100", "1k", "10k"]
    for decade in (1, 2, 3):
        assert ticks[scale.decade_column(decade) :].startswith(decade_label(decade))
    assert ticks.endswith("10k")  # the top decade's label ends at the right edge
    # a value of 10**d ends its bar at the column of d's tick
    assert scale.cells(100.0) == pytest.approx(scale.decade_column(2))


def test_tick_labels_never_run_into_each_other() -> None:
    scale = log_scale([1.0, 1e12], 12)
    assert scale is not None
    ticks = scale.tick_line()
    assert len(ticks) == 12
    assert all(label in [decade_label(d) for d in range(-1, 13)] for label in ticks.split())


@pytest.mark.parametrize(
    ("decade", "label"),
    [(0, "1"), (2, "100"), (3, "1k"), (7, "10M"), (14, "100T"), (-1, "0.1"), (-3, "0.001")],
)
def test_decade_labels(decade: int, label: str) -> None:
    assert decade_label(decade) == label
    assert decade_label(-5) == "1e-5"


def test_devices_sort_cpu_first_then_by_index_as_a_number() -> None:
    devices = ["cuda:10", "cuda:2", "cpu", "cuda:0"]
    assert sorted(devices, key=device_order) == ["cpu", "cuda:0", "cuda:2", "cuda:10"]


def test_every_configuration_is_a_group_newest_first() -> None:
    groups = scoreboard(session_runs(INFOS), GPUS)
    assert [g.workload for g in groups] == ["rnn", "gemm", "cnn"]
    cnn = groups[2]
    assert [r.device for r in cnn.rows] == ["cpu", "cuda:0", "cuda:1"]
    assert cnn.rows[1].speedup == pytest.approx(3981.4 / 2.91)  # each at its own precision
    assert cnn.rows[0].speedup == pytest.approx(1.0)
    assert cnn.rows[1].efficiency_ratio is None  # the CPU has no energy reading
    # running a configuration again moves it to the top
    cpu_again = measured("cnn", "cpu", INFOS["cpu"], 3.0, None, CNN_ON_CPU, chosen=CNN_CHOSEN)
    again = [*session_runs(INFOS), cpu_again]
    assert [g.workload for g in scoreboard(again, GPUS)] == ["cnn", "rnn", "gemm"]


def test_other_parameters_are_another_group() -> None:
    runs = [
        measured("gemm", "cpu", INFOS["cpu"], 1e9, None, GEMM),
        measured("gemm", "cpu", INFOS["cpu"], 2e9, None, {**GEMM, "size": 4096}),
    ]
    groups = scoreboard(runs)
    assert [dict(g.params_used)["size"] for g in groups] == ["4096", "8192"]
    assert all(g.rows[0].speedup == pytest.approx(1.0) for g in groups)


def test_the_header_shows_the_parameters_actually_used() -> None:
    cnn = scoreboard(session_runs(INFOS), GPUS)[2]
    assert dict(cnn.params_used)["batch"] == "2 on cpu, 256 on cuda:0 cuda:1"
    assert dict(cnn.params_used)["precision"] == "fp32 on cpu, bf16 on cuda:0 cuda:1"
    assert dict(cnn.params_used)["mode"] == "train"
    gemm = scoreboard(session_runs(INFOS), GPUS)[1]
    assert dict(gemm.params_used) == {"dtype": "bf16", "size": "8192"}


def test_markers_stopped_live_failed_simulated_and_estimated() -> None:
    rnn, gemm, cnn = scoreboard(session_runs(INFOS), GPUS)
    assert [r.status for r in rnn.rows] == [RowStatus.STOPPED, RowStatus.DONE, RowStatus.FAILED]
    assert rnn.rows[2].failure is not None and "out of memory" in rnn.rows[2].failure
    assert cnn.rows[2].status is RowStatus.LIVE and cnn.rows[2].throughput is not None
    assert [r.simulated for r in cnn.rows] == [False, True, True]
    assert gemm.rows[0].is_estimate and not gemm.rows[1].is_estimate
    assert gemm.rows[1].speedup == pytest.approx(6.76e14 / 6.21e9)
    text = _plain(group_lines(gemm, 160))
    assert "65.4 MFLOP/J est." in text and "95 est." in text and "estimate" in text
    assert "109,000x" in text and "15,000x est." in text
    assert "est. = cpu energy from a model, not measured; the work/J ratios rest on it" in text
    rnn_text = _plain(group_lines(rnn, 160))
    assert "stopped" in rnn_text.splitlines()[2]
    assert "failed: out of device memory" in rnn_text
    assert "cpu: no work/J:" in rnn_text
    cnn_lines = _plain(group_lines(cnn, 160)).splitlines()
    assert cnn_lines[3].endswith("SIMULATED") and cnn_lines[4].endswith("live SIMULATED")
    assert "SIMULATED" not in cnn_lines[2]


def test_a_failure_never_hides_figures_and_a_run_never_started_is_left_out() -> None:
    done = measured("gemm", "cuda:0", INFOS["nvidia:0"], 6e14, 700.0, GEMM)
    oom = failed("gemm", "cuda:0", GEMM, "out of memory")
    never = failed("rnn", "cpu", RNN, "")
    never.cancel()  # stopped before its turn came
    groups = scoreboard([done, oom, never])
    assert len(groups) == 1
    assert groups[0].rows[0].status is RowStatus.DONE
    assert groups[0].baseline is None and groups[0].rows[0].speedup is None


def test_without_a_cpu_there_is_no_ratio_column() -> None:
    runs = [
        measured("gemm", "cuda:0", INFOS["nvidia:0"], 6e14, 700.0, GEMM),
        measured("gemm", "cuda:1", INFOS["nvidia:1"], 5e14, 650.0, GEMM),
    ]
    text = _plain(group_lines(scoreboard(runs, GPUS)[0], 160))
    assert "vs cpu" not in text and "600 TFLOP/s" in text


def test_an_estimated_gpu_side_is_marked_too() -> None:
    runs = [
        measured("gemm", "cpu", INFOS["cpu"], 1e9, 50.0, GEMM),
        measured(
            "gemm", "cuda:0", INFOS["nvidia:0"], 1e12, 300.0, GEMM, source=EnergySource.ESTIMATE
        ),
    ]
    group = scoreboard(runs)[0]
    assert group.rows[1].efficiency_ratio == pytest.approx((1e12 / 300) / (1e9 / 50))
    text = _plain(group_lines(group, 80))
    assert "167x est." in text and "est. = cuda:0 energy from a model" in text


@pytest.mark.parametrize("width", [76, 100, 119, 120, 127, 128, 156, 200])
def test_rows_fit_the_width(width: int) -> None:
    lines = scoreboard_lines(scoreboard(session_runs(INFOS), GPUS), width)
    headers = {i for i, line in enumerate(lines) if line.startswith("[b ")}
    for i, line in enumerate(_plain(lines).splitlines()):
        if i not in headers:  # a long parameter list may wrap; nothing else does
            assert len(line) <= width, line


def test_compact_rows_keep_ratios_bars_and_markers() -> None:
    text = _plain(scoreboard_lines(scoreboard(session_runs(INFOS), GPUS), 76))
    assert "avg W" not in text and "% peak" not in text
    needed = [
        "tokens/s",
        "images/J",
        "1,370x",
        "109,000x",
        "est.",
        "stopped",
        "live",
        "SIMULATED",
        "failed",
        "█",
    ]
    assert [word for word in needed if word not in text] == []


def _plain(lines: list[str]) -> str:
    return "\n".join(Content.from_markup(line).plain for line in lines)


def test_a_configuration_on_one_device_says_how_to_compare_it() -> None:
    runs = [measured("gemm", "cpu", INFOS["cpu"], 1e9, None, GEMM)]
    assert "on another device too (w)" in _plain(group_lines(scoreboard(runs)[0], 76))


@pytest.mark.parametrize("width", [76, 160])
def test_every_ratio_names_each_sides_precision_and_an_emulated_one_is_not_fair(width: int) -> None:
    """Issue 21: a GEMM at bf16 on a CPU that emulates it overstated the GPU's lead ~100x in
    silence. Each row names its precision; an emulated one is marked, and the fair way said."""
    _, gemm, cnn = scoreboard(session_runs(INFOS), GPUS)
    assert cnn.fair and not gemm.fair
    text = _plain(group_lines(gemm, width))
    assert "cpu bf16!" in text and "cuda:0 bf16 " in text
    assert "not a fair ratio: bf16 is emulated on cpu (AVX2" in text
    assert "launch with dtype 'best'" in text  # the workload's own parameter
    assert ("109,000x!" in text) is (width >= 128)  # wide: the ratio cells carry the mark too
    fair = _plain(group_lines(cnn, width))
    assert "cpu fp32" in fair and "cuda:0 bf16" in fair and "not a fair" not in fair


def test_the_header_names_each_devices_values_whether_or_not_a_run_reported_facts() -> None:
    """Trial of issue 21: a real CPU GEMM (no facts) beside a simulated GPU's (facts) showed
    only the GPU's dtype=bf16 size=8192 in the header."""
    chosen = {"dtype": "why", "size": "why"}
    runs = [
        measured("gemm", "cpu", INFOS["cpu"], 3.9e10, None, {"dtype": "fp32", "size": 2048},
                 chosen=chosen),
        measured("gemm", "cuda:0", INFOS["nvidia:0"], 6.7e14, 690.0,
                 {"dtype": "bf16", "size": 8192}, {"simulated": True}, chosen=chosen),
    ]  # fmt: skip
    (group,) = scoreboard(runs, GPUS)
    assert dict(group.params_used) == {
        "dtype": "fp32 on cpu, bf16 on cuda:0",
        "size": "2048 on cpu, 8192 on cuda:0",
    }
