"""The pure parts of the UI: history bucketing, braille charts, panel layout, number formats."""

from __future__ import annotations

import pytest

from gpuscope.telemetry.model import Reading, Sample, Vendor
from gpuscope.tui import formatting as fmt
from gpuscope.tui.charts import BucketedHistory, braille_area, nice_top, scale_label, time_axis
from gpuscope.tui.layout import panel_layout


def sample(t: float, util: float | None, lost: bool = False) -> Sample:
    return Sample("nvidia:0", Vendor.NVIDIA, Reading(t, t, util_gpu_pct=util), lost=lost)


def util(s: Sample) -> float | None:
    return s.reading.util_gpu_pct


def history_of(
    samples: list[Sample], window_s: float, points: int, interval_s: float = 0.0
) -> BucketedHistory:
    history = BucketedHistory([util], window_s, points)
    for s in samples:
        history.add(s, interval_s)
    return history


def test_buckets_are_means_aligned_to_absolute_time_and_gaps_stay_none() -> None:
    samples = [sample(10.0, 10.0), sample(10.5, 30.0), sample(12.0, 50.0), sample(13.2, None)]
    # buckets [10,11) [11,12) [12,13) [13,14)
    assert history_of(samples, 4.0, 4).means(13.9) == [[20.0, None, 50.0, None]]


def test_lost_samples_and_old_samples_are_left_out() -> None:
    samples = [sample(1.0, 99.0), sample(10.2, 40.0), sample(10.6, None, lost=True)]
    assert history_of(samples, 2.0, 2).means(10.9) == [[None, 40.0]]


def test_a_sample_taken_in_twice_counts_once_and_an_older_one_not_at_all() -> None:
    history = history_of([sample(10.0, 10.0), sample(10.5, 30.0)], 4.0, 4)
    history.add(sample(10.5, 30.0))  # the panel asks from its newest sample on: it comes again
    history.add(sample(10.2, 90.0))
    assert history.means(10.9)[0][-1] == 20.0


def test_means_cost_the_chart_width_not_the_history() -> None:
    """Old buckets are forgotten: a day of samples leaves ``points`` + 1 buckets."""
    history = BucketedHistory([util], 60.0, 120)
    for i in range(20_000):
        history.add(sample(i * 0.5, 50.0))
    assert len(history) == 121
    assert history.means(9_999.0) == [[50.0] * 120]


def test_several_metrics_share_the_buckets() -> None:
    def double(s: Sample) -> float | None:
        return None if s.reading.util_gpu_pct is None else 2 * s.reading.util_gpu_pct

    history = BucketedHistory([util, double], 2.0, 2)
    history.add(sample(10.2, 40.0))
    assert history.means(10.9) == [[None, 40.0], [None, 80.0]]


def test_a_bucket_narrower_than_the_interval_is_bridged_but_a_real_gap_is_not() -> None:
    # 1 s buckets, a sample every 2 s: bucket 11 gets none, yet the line goes on
    samples = [sample(10.0, 10.0), sample(12.0, 30.0), sample(13.0, 50.0)]
    assert history_of(samples, 4.0, 4).means(13.9) == [[10.0, None, 30.0, 50.0]]
    assert history_of(samples, 4.0, 4, interval_s=2.0).means(13.9) == [[10.0, 10.0, 30.0, 50.0]]
    stopped = history_of([samples[0], sample(16.0, 30.0)], 8.0, 8, interval_s=2.0)  # 6 s: a gap
    assert stopped.means(16.9, bridge_s=3.0) == [[None, 10.0, None, None, None, None, None, 30.0]]


def test_a_missed_reading_is_a_gap_and_the_line_joins_again_after_it() -> None:
    times = [10.0, 11.0, 12.0, 14.0, 15.0, 16.0]  # the reading at 13 s never came
    history = history_of([sample(t, 50.0) for t in times], 8.0, 16, interval_s=1.0)
    values = history.means(16.4)[0]  # half-second buckets from 8.5 s: 10 s is the 4th
    assert values[3:16] == [50.0] * 5 + [None, None, None] + [50.0] * 5


def test_the_newest_value_holds_until_the_next_sample_is_due_and_no_longer() -> None:
    history = history_of([sample(10.0, 10.0), sample(12.0, 30.0)], 8.0, 8, interval_s=2.0)
    # buckets 6..13: the sample at 12 holds through bucket 13 (13.9 is within 2.1 s of it)
    live = [None, None, None, None, 10.0, 10.0, 30.0, 30.0]
    assert history.means(13.9, bridge_s=2.1) == [live]
    # buckets 7..14: at 14.9 the next sample is overdue, so bucket 14 stays empty
    assert history.means(14.9, bridge_s=2.1) == [[None, None, None, 10.0, 10.0, 30.0, None, None]]


@pytest.mark.parametrize(("first_s", "then_s"), [(5.0, 0.5), (0.5, 5.0), (0.1, 2.0)])
def test_changing_the_interval_never_turns_earlier_samples_into_gaps(first_s, then_s) -> None:  # type: ignore[no-untyped-def]
    """Samples at 5 s, then at 0.5 s, drawn with the new interval's bridge, left 91 of 148
    columns blank: whether a sample joins the one before is decided when it is taken."""
    history = BucketedHistory([util], 60.0, 148)
    t = 1000.0
    for interval_s, seconds in ((first_s, 40.0), (then_s, 40.0)):
        end = t + seconds
        while t < end:
            history.add(sample(t, 50.0), interval_s)
            t += interval_s
    values = history.means(t - 60.0 / 148, bridge_s=1.5 * then_s)[0]
    assert None not in values


def test_a_rebuilt_chart_after_an_interval_change_has_at_most_one_gap_at_its_start() -> None:
    """A new window rebuilds from history with today's interval: the older, slower samples
    still join each other (each gap is like the one before), except the very first."""
    history = BucketedHistory([util], 60.0, 148)
    times = [1000.0 + 5.0 * i for i in range(8)] + [1040.0 + 0.5 * i for i in range(40)]
    for t in times:
        history.add(sample(t, 50.0), 0.5)
    values = history.means(times[-1], bridge_s=0.75)[0]
    first = values.index(50.0)
    blank = [i for i, v in enumerate(values) if v is None and i > first]
    assert len(blank) <= 5.0 / (60.0 / 148) + 1  # one 5-s gap at most


@pytest.mark.parametrize("window_s", [60.0, 120.0, 300.0, 600.0])
@pytest.mark.parametrize("cells", [30, 66, 74, 100, 140])
@pytest.mark.parametrize("interval_s", [0.1, 0.5, 1.0, 2.0])
def test_no_aliasing_gaps_at_any_range_width_or_interval(window_s, cells, interval_s) -> None:  # type: ignore[no-untyped-def]
    """The reported case: 1 min over 74 cells is 148 buckets for 120 samples at 0.5 s."""
    points = 2 * cells
    history = BucketedHistory([util], window_s, points)
    t = 1000.0
    while t < 1000.0 + 2 * window_s:
        history.add(sample(t, 50.0), interval_s)
        t += interval_s
    values = history.means(t - window_s / points, bridge_s=1.5 * interval_s)[0]
    assert None not in values


def test_braille_area_full_empty_missing_and_tiny() -> None:
    full = braille_area([100.0, 100.0], 100.0, rows=2)
    assert full == ["⣿", "⣿"]
    assert braille_area([0.0, None], 100.0, rows=1) == [" "]
    tiny = braille_area([0.5, None], 100.0, rows=2)  # above zero: still one dot, bottom left
    assert tiny[0] == " " and tiny[1] == chr(0x2800 + 0x40)
    half = braille_area([50.0, 100.0], 100.0, rows=2)
    assert half[0] == chr(0x2800 + 0x08 + 0x10 + 0x20 + 0x80)  # top cell: right column only
    assert half[1] == "⣿"


def test_nice_top_rounds_up_to_1_2_5() -> None:
    assert nice_top([431.0], 10.0) == 500.0
    assert nice_top([None, 3.0], 10.0) == 10.0
    assert nice_top([1500.0], 10.0) == 2000.0


@pytest.mark.parametrize(
    ("width", "height", "devices", "extra", "columns", "compact", "charts", "strip"),
    [
        # every device keeps its numbers, in two lines under a title line; the rows left show
        # the charts side by side (they stayed blank: 4 at 80x24, 3 with an absent line)
        (80, 24, 4, 0, 1, True, 2, True),
        (80, 24, 4, 1, 1, True, 1, True),
        (80, 24, 8, 0, 1, True, 0, False),  # too many: folded, no charts, and they scroll
        (80, 24, 1, 0, 1, False, 4, False),
        (160, 48, 4, 0, 2, False, 5, False),
        (160, 48, 1, 0, 1, False, 8, False),  # one device gets tall charts, not half a screen
        (120, 40, 4, 0, 1, False, 1, False),  # one braille row per chart
        (100, 27, 4, 0, 1, True, 2, True),  # 5 rows a panel: two text lines and a 2-row strip
        (100, 36, 4, 0, 1, False, 2, True),  # 8 rows: all four figure lines, a 2-row strip
        (200, 60, 2, 0, 2, False, 8, False),
    ],
)
def test_panel_layout(width, height, devices, extra, columns, compact, charts, strip) -> None:  # type: ignore[no-untyped-def]
    layout = panel_layout(width, height, devices, extra)
    assert (layout.columns, layout.compact, layout.chart_rows) == (columns, compact, charts)
    assert layout.strip is strip
    panel_rows = (1 + 2 + charts) if compact else (2 + 4 + charts * (1 if strip else 3))
    if not layout.time_axis and charts:  # no blank rows a strip could have used
        assert panel_rows <= (height - 4 - extra) // devices


def test_formats_say_na_not_zero() -> None:
    assert fmt.value(None) == "n/a" and fmt.percent(None) == "n/a"
    assert fmt.energy(None) == "n/a" and fmt.energy(12345.0) == "12.3 kJ"
    assert fmt.mib(None, 81559.0) == "n/a/79.6 GiB"
    assert fmt.bar(None, 4) == "····" and fmt.bar(0.0, 4) == "░░░░" and fmt.bar(1.0, 4) == "████"
    assert fmt.duration(300) == "5 min"


def test_time_axis_puts_round_offsets_in_place_and_now_at_the_right() -> None:
    assert (
        time_axis(300.0, 66) == "-5m         -4m          -3m          -2m          -1m         now"
    )
    one_minute = time_axis(60.0, 30)
    assert one_minute.startswith("-1m") and one_minute.endswith("now") and "-30s" in one_minute
    assert len(time_axis(600.0, 66)) == 66
    assert "-90s" in time_axis(120.0, 66)  # four ticks, not eight crowded ones
    assert time_axis(60.0, 3) == "now" and time_axis(60.0, 0) == ""


@pytest.mark.parametrize("window_s", [60.0, 120.0, 300.0, 600.0])
@pytest.mark.parametrize("cells", [20, 30, 66, 74, 140])
def test_time_labels_never_touch(window_s, cells) -> None:  # type: ignore[no-untyped-def]
    words = time_axis(window_s, cells).split()
    assert words[-1] == "now" and len(words) <= 7
    assert len(time_axis(window_s, cells)) == cells


def test_scale_labels_carry_units_in_five_characters() -> None:
    assert scale_label(100.0, "%") == "100%" and scale_label(700.0, "W") == "700W"
    assert scale_label(1500.0, "W") == "1500W" and scale_label(20_000.0, "W") == "20kW"


def test_a_shortened_reason_keeps_its_advice() -> None:
    """The fix (``estimate: --cpu-tdp W``) ends the reason: cutting the end cut the fix."""
    reason = "RAPL: /sys/class/powercap not present (VMs do not expose it); estimate: --cpu-tdp W"
    assert fmt.shorten(reason, 100) == reason
    short = fmt.shorten(reason, 40)
    assert len(short) == 40 and short.endswith("…; estimate: --cpu-tdp W")
    assert fmt.shorten(reason, 20) == "RAPL: /sys/class/po…"  # no room for both: the head


async def test_a_strip_puts_the_charts_side_by_side_over_the_whole_window() -> None:
    """The rows a folded panel has left show every chart, side by side, each over the whole
    window (a share of the width, not the newest part of the history)."""
    from gpuscope.tui.device_panel import DevicePanel, PanelFrame
    from gpuscope.tui.layout import PanelLayout
    from gpuscope.tui.panel_charts import strip_width
    from tests.test_device_panel import PanelApp, Store, samples

    store = Store(samples(200.0, 400.0))  # the first 100 s of the 300 s window: blank
    app = PanelApp()
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(DevicePanel)
        await pilot.pause()
        strip = PanelLayout(1, 2, compact=True, strip=True)
        panel.show(store.since, PanelFrame(400.0, 300.0, 0.0, strip))
        await pilot.pause()
        lines = panel.text.splitlines()[2:]  # under the two lines of figures
        cell = strip_width(panel.content_size.width, 3)
        assert len(lines) == 2 and all(len(line) == 3 * cell + 2 * 2 for line in lines)
        top, scale = lines
        assert [top.index(name) for name in ("util", "mem", "pwr")] == [0, cell + 2, 2 * cell + 4]
        assert scale.startswith("100%") and "700W" in scale  # each chart's full scale
        drawn = cell - 6  # util's braille, over 300 s: blank for the first 100 s
        chart = top[6:cell]
        assert chart[: drawn // 3 - 1].strip() == "" and chart[drawn // 3 + 1 :].strip()
