"""History charts drawn in braille (2x4 dots per cell), like btop: cheap to draw, exact to read.

Samples are put in time buckets aligned to absolute time, so the chart only moves when a new
bucket begins; the widget redraws only when the text changed. Missing buckets (before sampling
began, or a device that stopped answering) stay blank rather than drawn as zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from gpuscope.telemetry.model import Sample

_BRAILLE = 0x2800
# Dot bits of a braille cell, bottom row first: (left column bit, right column bit) per row.
_ROWS = ((0x40, 0x80), (0x04, 0x20), (0x02, 0x10), (0x01, 0x08))

Metric = Callable[[Sample], float | None]


def bucket_means(
    samples: Sequence[Sample], metric: Metric, now_s: float, window_s: float, points: int
) -> list[float | None]:
    """``points`` values, oldest first, each the mean of ``metric`` over one time bucket."""
    if points <= 0:
        return []
    bucket_s = window_s / points
    last_bucket = math.floor(now_s / bucket_s)
    first_bucket = last_bucket - points + 1
    sums = [0.0] * points
    counts = [0] * points
    for sample in reversed(samples):
        index = math.floor(sample.reading.time_s / bucket_s) - first_bucket
        if index < 0:
            break
        if index >= points or sample.lost:
            continue
        number = metric(sample)
        if number is not None:
            sums[index] += number
            counts[index] += 1
    return [s / c if c else None for s, c in zip(sums, counts, strict=True)]


def braille_area(values: Sequence[float | None], top: float, rows: int) -> list[str]:
    """An area chart ``rows`` cells high, two values per cell; ``top`` is the full-scale value."""
    if rows <= 0:
        return []
    dots_high = rows * 4
    heights = [
        None if v is None else min(dots_high, max(0, round(v / top * dots_high))) if top > 0 else 0
        for v in values
    ]
    if len(heights) % 2:
        heights.append(None)
    lines = []
    for row in range(rows - 1, -1, -1):
        cells = []
        for i in range(0, len(heights), 2):
            code = 0
            for side, height in enumerate(heights[i : i + 2]):
                if height is None:
                    continue
                # a value that rounds to zero dots but is above zero still shows one dot
                filled = height - row * 4
                if row == 0 and height == 0 and values[i + side]:
                    filled = 1
                for dot in range(min(4, filled)):
                    code |= _ROWS[dot][side]
            cells.append(chr(_BRAILLE + code) if code else " ")
        lines.append("".join(cells))
    return lines


def nice_top(values: Sequence[float | None], floor: float) -> float:
    """A full-scale value at least ``floor`` and above every value, rounded to 1, 2 or 5 x 10^n."""
    peak = max((v for v in values if v is not None), default=0.0)
    target = max(peak, floor)
    if target <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(target))
    for step in (1, 2, 5, 10):
        if step * magnitude >= target:
            return float(step * magnitude)
    return float(10 * magnitude)
