"""Energy accounting for one device, interval by interval.

Each interval between two readings is accounted one way: by the hardware counter's delta when both
readings carry a counter and it did not go backwards; else by the trapezoid integral of power when
both carry power; else not at all (a gap). A counter that decreases was reset (driver reload, or a
wrap whose width we cannot know), so that one interval falls back to power. Counting intervals per
method gives every total and every window an honest source label.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpuscope.telemetry.model import EnergySource, Reading


@dataclass(frozen=True, slots=True)
class EnergyTotals:
    """Cumulative energy of one device since accounting began, as of ``time_s``."""

    time_s: float
    energy_j: float = 0.0
    counter_intervals: int = 0
    integrated_intervals: int = 0
    gap_intervals: int = 0
    best_source: EnergySource | None = None  # COUNTER or INTEGRATED: the best the device has shown


def source_of(counter_intervals: int, integrated_intervals: int) -> EnergySource | None:
    """The label for energy made of this many counter and integrated intervals."""
    if counter_intervals and integrated_intervals:
        return EnergySource.MIXED
    if counter_intervals:
        return EnergySource.COUNTER
    if integrated_intervals:
        return EnergySource.INTEGRATED
    return None


class EnergyMeter:
    """Turns a device's readings into cumulative joules. Not thread-safe (the sampler locks)."""

    def __init__(self) -> None:
        self._last: Reading | None = None
        self.totals: EnergyTotals | None = None

    def add(self, reading: Reading) -> EnergyTotals:
        """Account the interval ending at ``reading``; returns the new totals."""
        last, self._last = self._last, reading
        best_source = _best_source(reading)
        if last is None or self.totals is None:
            self.totals = EnergyTotals(time_s=reading.time_s, best_source=best_source)
            return self.totals
        t = self.totals
        counter0, counter1 = last.energy_counter_j, reading.energy_counter_j
        dt = reading.time_s - last.time_s
        energy, counted, integrated = t.energy_j, t.counter_intervals, t.integrated_intervals
        gaps = t.gap_intervals
        if counter0 is not None and counter1 is not None and counter1 >= counter0:
            energy += counter1 - counter0
            counted += 1
        elif last.power_w is not None and reading.power_w is not None and dt > 0:
            energy += (last.power_w + reading.power_w) / 2 * dt
            integrated += 1
        else:
            gaps += 1
        self.totals = EnergyTotals(
            time_s=reading.time_s,
            energy_j=energy,
            counter_intervals=counted,
            integrated_intervals=integrated,
            gap_intervals=gaps,
            best_source=t.best_source
            if best_source is None or t.best_source is EnergySource.COUNTER
            else best_source,
        )
        return self.totals


def _best_source(reading: Reading) -> EnergySource | None:
    if reading.energy_counter_j is not None:
        return EnergySource.COUNTER
    if reading.power_w is not None:
        return EnergySource.INTEGRATED
    return None


def energy_and_source(totals: EnergyTotals) -> tuple[float | None, EnergySource | None]:
    """What a sample reports: None/None for a device that has never offered counter or power."""
    source = source_of(totals.counter_intervals, totals.integrated_intervals)
    if source is not None:
        return totals.energy_j, source
    if totals.best_source is None:
        return None, None
    return totals.energy_j, totals.best_source  # nothing accounted yet (first sample)
