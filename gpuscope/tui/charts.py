"""History charts drawn in braille (2x4 dots per cell), like btop: cheap to draw, exact to read.

Samples are put in time buckets aligned to absolute time as they arrive (``BucketedHistory``), so
a redraw costs the chart's width, not the length of the history or of the window, and the chart
only moves when a new bucket begins. Missing buckets (before sampling began, or a device that
stopped answering) stay blank rather than drawn as zero; a bucket narrower than the sampling
interval, which no sample could land in, is bridged instead of drawn as a gap.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gpuscope.telemetry.model import Sample

_BRAILLE = 0x2800
# Dot bits of a braille cell, bottom row first: (left column bit, right column bit) per row.
_ROWS = ((0x40, 0x80), (0x04, 0x20), (0x02, 0x10), (0x01, 0x08))

Metric = Callable[[Sample], float | None]


@dataclass(slots=True)
class _Bucket:
    index: int  # floor(time / bucket width): aligned to absolute time
    sums: list[float]
    counts: list[int]
    joined: list[bool]  # per metric: its first sample here came on time after the one before
    last_s: list[float]  # per metric: its newest sample with a value in this bucket


BRIDGE_FACTOR = 1.5  # a gap up to 1.5 sampling intervals is the sampling, not a missing reading


class BucketedHistory:
    """Means of several metrics per time bucket, kept up to date as samples arrive.

    ``add`` costs one bucket update; ``means`` costs the number of buckets drawn. The history
    holds ``points`` buckets and forgets older ones: a chart of another width or window is a
    new ``BucketedHistory``, filled once from the sampler's history.
    """

    def __init__(self, metrics: Sequence[Metric], window_s: float, points: int) -> None:
        self.metrics = tuple(metrics)
        self.window_s = window_s
        self.points = max(1, points)
        self.bucket_s = window_s / self.points
        self.last_time_s: float | None = None  # newest sample taken in, lost or not
        self._buckets: deque[_Bucket] = deque(maxlen=self.points + 1)
        n = len(self.metrics)
        self._value_s: list[float | None] = [None] * n  # per metric: its newest value's time
        self._step_s: list[float | None] = [None] * n  # ... and the gap before that one

    def __len__(self) -> int:
        """The buckets kept: never more than ``points`` + 1, however long gpuscope runs."""
        return len(self._buckets)

    def add(self, sample: Sample, interval_s: float = 0.0) -> None:
        """Take in one sample, newer than every sample before it (older ones are ignored).

        Whether it joins the one before on the chart is decided now, against the sampling
        interval in force when it was taken (``interval_s``) and the gap before the previous
        sample, so a later change of interval never turns old, regular samples into gaps."""
        t = sample.reading.time_s
        if self.last_time_s is not None and t <= self.last_time_s:
            return
        self.last_time_s = t
        if sample.lost:  # a lost device's last sample repeats old figures: not data
            return
        index = math.floor(t / self.bucket_s)
        if not self._buckets or self._buckets[-1].index != index:
            n = len(self.metrics)
            self._buckets.append(_Bucket(index, [0.0] * n, [0] * n, [False] * n, [0.0] * n))
        bucket = self._buckets[-1]
        for i, metric in enumerate(self.metrics):
            value = metric(sample)
            if value is None:
                continue
            before = self._value_s[i]
            if before is not None:
                gap = t - before
                usual = max(interval_s, self._step_s[i] or 0.0)
                if not bucket.counts[i]:
                    bucket.joined[i] = gap <= BRIDGE_FACTOR * usual
                self._step_s[i] = gap
            self._value_s[i] = t
            bucket.sums[i] += value
            bucket.counts[i] += 1
            bucket.last_s[i] = t

    def means(self, end_s: float, bridge_s: float = 0.0) -> list[list[float | None]]:
        """Per metric, ``points`` bucket means, oldest first, the newest bucket the one holding
        ``end_s``. Empty buckets between two samples that came on time take the earlier value
        (a bucket narrower than the sampling interval is then not drawn as a drop); the newest
        value holds up to ``bridge_s`` after it, until the next sample is due."""
        last_index = math.floor(end_s / self.bucket_s)
        first_index = last_index - self.points + 1
        out: list[list[float | None]] = [[None] * self.points for _ in self.metrics]
        for i, values in enumerate(out):
            previous: _Bucket | None = None  # the last bucket with a value for this metric
            for bucket in self._buckets:
                if not bucket.counts[i]:
                    continue
                position = bucket.index - first_index
                if position >= self.points:
                    break
                mean = bucket.sums[i] / bucket.counts[i]
                if previous is not None and bucket.joined[i]:
                    held = previous.sums[i] / previous.counts[i]
                    for gap in range(max(0, previous.index - first_index + 1), max(0, position)):
                        values[gap] = held
                if position >= 0:
                    values[position] = mean
                previous = bucket
            if previous is not None and end_s - previous.last_s[i] <= bridge_s:
                # the newest sample holds until the next is due: a live device has no gap
                held = previous.sums[i] / previous.counts[i]
                for gap in range(max(0, previous.index - first_index + 1), self.points):
                    values[gap] = held
        return out


def _cell(left: int, right: int) -> str:
    """The braille cell with ``left`` and ``right`` dots filled from the bottom (0-4 each)."""
    code = 0
    for dot in range(left):
        code |= _ROWS[dot][0]
    for dot in range(right):
        code |= _ROWS[dot][1]
    return chr(_BRAILLE + code) if code else " "


# Every cell an area chart can draw, by (left dots, right dots): a redraw looks cells up.
_CELLS = [[_cell(left, right) for right in range(5)] for left in range(5)]


def braille_area(values: Sequence[float | None], top: float, rows: int) -> list[str]:
    """An area chart ``rows`` cells high, two values per cell; ``top`` is the full-scale value.
    A missing value (None) is an empty column; one above zero is at least one dot high."""
    if rows <= 0:
        return []
    dots_high = rows * 4
    heights = []
    for v in values:
        if v is None or top <= 0:
            heights.append(0)
        else:
            dots = min(dots_high, max(0, round(v / top * dots_high)))
            heights.append(1 if dots == 0 and v > 0 else dots)
    if len(heights) % 2:
        heights.append(0)
    pairs = list(zip(heights[0::2], heights[1::2], strict=True))
    lines = []
    for row in range(rows - 1, -1, -1):
        floor = row * 4
        # dots of a column within this row of cells, by the column's height
        clip = [min(4, max(0, height - floor)) for height in range(dots_high + 1)]
        lines.append("".join([_CELLS[clip[left]][clip[right]] for left, right in pairs]))
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


TIME_STEPS_S = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
LABEL_SPACING = 8  # cells between time labels, at least
MAX_TIME_TICKS = 6  # more labels than this are harder to read, not easier


def _offset_label(offset_s: float) -> str:
    whole = round(offset_s)
    return f"-{whole // 60}m" if whole % 60 == 0 else f"-{whole}s"


def time_axis(window_s: float, cells: int) -> str:
    """``cells`` characters under a chart of ``window_s``: round offsets before now at their
    place (``-5m  -4m ... now``), as many as fit without crowding."""
    if cells <= 0:
        return ""
    line = [" "] * cells
    now = "now"[:cells]
    line[cells - len(now) :] = now
    room = min(MAX_TIME_TICKS, cells / LABEL_SPACING)
    step = next((s for s in TIME_STEPS_S if window_s / s <= room), None)
    if step is None:
        return "".join(line)
    taken_until = cells - len(now) - 1  # labels must end left of this, with a space between
    offset = float(step)
    while offset <= window_s + 1e-9:
        label = _offset_label(offset)
        centre = cells - offset / window_s * cells
        start = max(0, min(cells - len(label), round(centre - len(label) / 2)))
        if start + len(label) < taken_until:
            line[start : start + len(label)] = label
            taken_until = start - 1
        offset += step
    return "".join(line)


def scale_label(value: float, unit: str) -> str:
    """A chart's full-scale value with its unit, in at most five characters (``700W``,
    ``100%``, ``1.5kW``)."""
    if value >= 10_000:
        return f"{value / 1000:.3g}k{unit}"
    return f"{value:g}{unit}"
