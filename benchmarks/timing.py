"""Small helpers the benchmark scripts share: percentiles and a uniform way to print a figure."""

from __future__ import annotations

import statistics


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def describe_us(samples_s: list[float]) -> str:
    us = [s * 1e6 for s in samples_s]
    return (
        f"median {statistics.median(us):9.1f} us  p99 {percentile(us, 99):9.1f} us  "
        f"min {min(us):9.1f} us  (n={len(us)})"
    )
