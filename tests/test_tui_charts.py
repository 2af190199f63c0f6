"""The pure parts of the UI: history bucketing, braille charts, panel layout, number formats."""

from __future__ import annotations

import pytest

from gpuscope.telemetry.model import Reading, Sample, Vendor
from gpuscope.tui import formatting as fmt
from gpuscope.tui.charts import braille_area, bucket_means, nice_top
from gpuscope.tui.layout import panel_layout


def sample(t: float, util: float | None, lost: bool = False) -> Sample:
    return Sample("nvidia:0", Vendor.NVIDIA, Reading(t, t, util_gpu_pct=util), lost=lost)


def util(s: Sample) -> float | None:
    return s.reading.util_gpu_pct


def test_buckets_are_means_aligned_to_absolute_time_and_gaps_stay_none() -> None:
    samples = [sample(10.0, 10.0), sample(10.5, 30.0), sample(12.0, 50.0), sample(13.2, None)]
    values = bucket_means(samples, util, now_s=13.9, window_s=4.0, points=4)
    # buckets [10,11) [11,12) [12,13) [13,14)
    assert values == [20.0, None, 50.0, None]


def test_lost_samples_and_old_samples_are_left_out() -> None:
    samples = [sample(1.0, 99.0), sample(10.2, 40.0), sample(10.6, None, lost=True)]
    assert bucket_means(samples, util, now_s=10.9, window_s=2.0, points=2) == [None, 40.0]


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
    ("width", "height", "devices", "columns", "compact", "charts"),
    [
        (80, 24, 4, 1, True, 0),  # every device keeps its numbers, in two lines each
        (80, 24, 1, 1, False, 4),
        (160, 48, 4, 2, False, 4),
        (120, 40, 4, 1, False, 1),  # one braille row per chart
        (200, 60, 2, 2, False, 4),
    ],
)
def test_panel_layout(width, height, devices, columns, compact, charts) -> None:  # type: ignore[no-untyped-def]
    layout = panel_layout(width, height, devices)
    assert (layout.columns, layout.compact, layout.chart_rows) == (columns, compact, charts)


def test_formats_say_na_not_zero() -> None:
    assert fmt.value(None) == "n/a" and fmt.percent(None) == "n/a"
    assert fmt.energy(None) == "n/a" and fmt.energy(12345.0) == "12.3 kJ"
    assert fmt.mib(None, 81559.0) == "n/a/79.6 GiB"
    assert fmt.bar(None, 4) == "····" and fmt.bar(0.0, 4) == "░░░░" and fmt.bar(1.0, 4) == "████"
    assert fmt.duration(300) == "5 min"
