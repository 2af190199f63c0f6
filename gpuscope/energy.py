"""Energy accounting for one device, interval by interval.

Each interval between two readings is accounted one way: by the hardware counter's delta when both
readings carry a counter and it did not go backwards; else by the trapezoid integral of power when
both carry power; else by the trapezoid of a model's estimated power when both carry one; else not
at all (a gap). A counter that decreases was reset (driver reload, or a wrap whose width we cannot
know), so that one interval falls back to power. Counting intervals per method gives every total
and every window an honest source label. An estimate is never presented as measured: energy with
any estimated interval in it is labelled ``estimate`` as a whole.
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
    best_source: EnergySource | None = None  # the best the device has shown (_RANK)
    estimated_intervals: int = 0


# Better sources first: a device's label is the best it has offered (measured beats estimate).
_RANK = (EnergySource.COUNTER, EnergySource.INTEGRATED, EnergySource.ESTIMATE)


def source_of(
    counter_intervals: int, integrated_intervals: int, estimated_intervals: int = 0
) -> EnergySource | None:
    """The label for energy made of this many counter, integrated and estimated intervals.

    Any estimated interval makes the whole figure an estimate: measured joules with estimated
    ones added are not a measurement."""
    if estimated_intervals:
        return EnergySource.ESTIMATE
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
        gaps, estimated = t.gap_intervals, t.estimated_intervals
        if counter0 is not None and counter1 is not None and counter1 >= counter0:
            energy += counter1 - counter0
            counted += 1
        elif last.power_w is not None and reading.power_w is not None and dt > 0:
            energy += (last.power_w + reading.power_w) / 2 * dt
            integrated += 1
        elif last.power_estimate_w is not None and reading.power_estimate_w is not None and dt > 0:
            energy += (last.power_estimate_w + reading.power_estimate_w) / 2 * dt
            estimated += 1
        else:
            gaps += 1
        self.totals = EnergyTotals(
            time_s=reading.time_s,
            energy_j=energy,
            counter_intervals=counted,
            integrated_intervals=integrated,
            gap_intervals=gaps,
            best_source=_better(t.best_source, best_source),
            estimated_intervals=estimated,
        )
        return self.totals


def _best_source(reading: Reading) -> EnergySource | None:
    if reading.energy_counter_j is not None:
        return EnergySource.COUNTER
    if reading.power_w is not None:
        return EnergySource.INTEGRATED
    if reading.power_estimate_w is not None:
        return EnergySource.ESTIMATE
    return None


def _better(a: EnergySource | None, b: EnergySource | None) -> EnergySource | None:
    if a is None or b is None:
        return a or b
    return min(a, b, key=_RANK.index)


def energy_and_source(totals: EnergyTotals) -> tuple[float | None, EnergySource | None]:
    """What a sample reports: None/None for a device that has never offered counter, power or
    an estimate."""
    source = source_of(
        totals.counter_intervals, totals.integrated_intervals, totals.estimated_intervals
    )
    if source is not None:
        return totals.energy_j, source
    if totals.best_source is None:
        return None, None
    return totals.energy_j, totals.best_source  # nothing accounted yet (first sample)
