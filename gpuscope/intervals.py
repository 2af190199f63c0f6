"""Sampling intervals: every command's default and the range any of them accepts, in one
place, so the command line can state them without importing the sampler."""

from __future__ import annotations

from gpuscope.units import check_seconds

MIN_INTERVAL_S = 0.05
MAX_INTERVAL_S = 3600.0  # a sample an hour; more is not monitoring
DEFAULT_INTERVAL_S = 0.5  # every command's and the UI's --interval unless given
RUN_INTERVAL_S = 0.1  # bench and suite: the rate NVML power and energy update on the H100
SERVE_INTERVAL_S = 1.0  # gpuscope serve: an exporter, read when a scraper asks


def check_interval(interval_s: float, name: str = "interval") -> float:
    """The interval if usable, else ValueError with a one-line message, fit for a user, that
    states the range (``name`` is what the user typed, e.g. ``--interval``)."""
    try:
        return check_seconds(interval_s, name, MIN_INTERVAL_S, True, MAX_INTERVAL_S)
    except ValueError:
        raise ValueError(
            f"{name} must be between {MIN_INTERVAL_S:g} s and {MAX_INTERVAL_S:g} s, "
            f"got {interval_s:g}"
        ) from None
