"""One charted column of one device, downsampled as it streams in: the lowest and highest
sample per time bucket, at most ``BUCKETS`` buckets (a chart's pixel width), so a day at 10 Hz
costs the same memory as a minute and no peak or dip is lost."""

from __future__ import annotations

BUCKETS = 1000  # about the width in pixels of a 9-inch chart at 110 dpi


class Series:
    """One column of one device, downsampled as it arrives: its count, total and peak, and
    its lowest and highest sample per time bucket. Buckets are one width from ``origin``;
    when a sample falls past the last of ``BUCKETS``, neighbours merge and the width doubles.
    Samples come in time order, so most land in the bucket of the one before: that case costs
    two comparisons."""

    __slots__ = ("buckets", "count", "hi", "hi_t", "index", "lo", "lo_t", "origin", "peak",
                 "total", "width")  # fmt: skip

    def __init__(self, origin: float) -> None:
        self.origin, self.width = origin, 0.001
        self.buckets: dict[int, tuple[float, float, float, float]] = {}  # lo, its t, hi, its t
        self.index = -1  # the open bucket, held in lo/lo_t/hi/hi_t
        self.lo = self.lo_t = self.hi = self.hi_t = 0.0
        self.count, self.total, self.peak = 0, 0.0, 0.0

    @property
    def mean(self) -> float:
        return self.total / self.count

    def add(self, when: float, value: float) -> None:
        self.count += 1
        self.total += value
        if value > self.peak:
            self.peak = value
        if int((when - self.origin) / self.width) == self.index:
            if value < self.lo:
                self.lo, self.lo_t = value, when
            elif value > self.hi:
                self.hi, self.hi_t = value, when
            return
        self._open(when, value)

    def _open(self, when: float, value: float) -> None:
        self._close()
        index = max(0, int((when - self.origin) / self.width))  # a clock set back: the first
        while index >= BUCKETS:
            self._halve()
            index = max(0, int((when - self.origin) / self.width))
        self.index, self.lo, self.lo_t, self.hi, self.hi_t = index, value, when, value, when
        held = self.buckets.pop(index, None)
        if held is not None:
            self._merge(held)

    def _merge(self, held: tuple[float, float, float, float]) -> None:
        if held[0] < self.lo:
            self.lo, self.lo_t = held[0], held[1]
        if held[2] > self.hi:
            self.hi, self.hi_t = held[2], held[3]

    def _close(self) -> None:
        if self.index >= 0:
            self.buckets[self.index] = (self.lo, self.lo_t, self.hi, self.hi_t)

    def _halve(self) -> None:
        self._close()
        self.index = -1
        merged: dict[int, tuple[float, float, float, float]] = {}
        for index, (lo, lo_t, hi, hi_t) in self.buckets.items():
            other = merged.get(index // 2)
            if other is not None:
                lo, lo_t = (lo, lo_t) if lo <= other[0] else other[:2]
                hi, hi_t = (hi, hi_t) if hi >= other[2] else other[2:]
            merged[index // 2] = (lo, lo_t, hi, hi_t)
        self.buckets = merged
        self.width *= 2

    def points(self) -> list[tuple[float, float]]:
        """(time, value) in time order: each bucket's lowest and highest sample."""
        self._close()
        found: list[tuple[float, float]] = []
        for index in sorted(self.buckets):
            lo, lo_t, hi, hi_t = self.buckets[index]
            found += sorted({(lo_t, lo), (hi_t, hi)})
        return found
