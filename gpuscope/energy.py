"""Energy accounting for one device, interval by interval.

Each interval between two readings is accounted one way: by the hardware counter when one was read
at both its ends and did not go backwards; else by the trapezoid integral of power when both
readings carry power; else by the trapezoid of a model's estimated power when both carry one; else
not at all (a gap). Counting intervals per method gives every total and every window an honest
source label. An estimate is never presented as measured: energy with any estimated interval in it
is labelled ``estimate`` as a whole.

**Bridges.** A counter that is costly to read (NVML's, ~3.6 ms a call) is read about once a
second, not at every poll (``Reading.energy_counter_stale``). The intervals after a counter
reading are then accounted by power, provisionally: an open *bridge*. When the counter is read
again, the bridge is settled: its power integral is replaced by the counter's delta since the last
reading, and its intervals count as counter intervals from then on. So the cumulative energy is
exactly the counter's at every counter reading, and power-integrated only since the last one.
While a bridge is open the figure is part counter, part integrated, and labelled so (``MIXED``
once any interval is settled by the counter). A window whose both edges read the counter (the
sampler reads it at every edge) has no open bridge at either edge and comes out pure ``counter``.

A counter that decreases was reset (driver reload, or a wrap whose width we cannot know): the
open bridge is then settled as what it was (integrated power), and the counter starts again from
the new reading.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from gpuscope.telemetry.model import EnergySource, Reading


@dataclass(frozen=True, slots=True)
class EnergyTotals:
    """Cumulative energy of one device since accounting began, as of ``time_s``.

    Every interval is counted once, by how its energy is accounted now: ``counter_intervals``
    (counter deltas, bridges settled by the counter included), ``integrated_intervals``,
    ``estimated_intervals`` or ``gap_intervals``. ``bridged_intervals`` of them, the newest, are
    an open bridge: accounted by power (or a gap) until the next counter reading settles them."""

    time_s: float
    energy_j: float = 0.0
    counter_intervals: int = 0
    integrated_intervals: int = 0
    gap_intervals: int = 0
    best_source: EnergySource | None = None  # the best the device has shown (_RANK)
    estimated_intervals: int = 0
    bridged_intervals: int = 0

    @property
    def intervals(self) -> int:
        return (
            self.counter_intervals
            + self.integrated_intervals
            + self.estimated_intervals
            + self.gap_intervals
        )


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


def window_source(begin: EnergyTotals, end: EnergyTotals) -> EnergySource | None:
    """The label for the energy between two totals of one meter (``end.energy_j -
    begin.energy_j``). An edge with an open bridge is not exact: part of the difference is power
    integrated there (or, at the start, the counter settling a bridge opened before the window),
    so such a window is never pure ``counter``."""
    counted = max(end.counter_intervals - begin.counter_intervals, 0)
    integrated = max(end.integrated_intervals - begin.integrated_intervals, 0)
    estimated = max(end.estimated_intervals - begin.estimated_intervals, 0)
    if begin.bridged_intervals or end.bridged_intervals:
        integrated += 1  # the bridge's power at an edge (its label counts, not its size)
    return source_of(counted, integrated, estimated)


class EnergyMeter:
    """Turns a device's readings into cumulative joules. Not thread-safe (the sampler locks)."""

    def __init__(self) -> None:
        self._last: Reading | None = None
        # the last counter reading (joules) and the totals as of it: where an open bridge starts
        self._anchor: tuple[float, EnergyTotals] | None = None
        self.totals: EnergyTotals | None = None

    @property
    def settled(self) -> EnergyTotals | None:
        """The totals as of the last counter reading, where a bridge is open after it (None
        where none is open): what is exact of the cumulative figure."""
        totals = self.totals
        if totals is None or not totals.bridged_intervals or self._anchor is None:
            return None
        return self._anchor[1]

    def add(self, reading: Reading) -> EnergyTotals:
        """Account the interval ending at ``reading``; returns the new totals."""
        last, self._last = self._last, reading
        best_source = _best_source(reading)
        counter = None if reading.energy_counter_stale else reading.energy_counter_j
        if last is None or self.totals is None:
            self.totals = EnergyTotals(time_s=reading.time_s, best_source=best_source)
        else:
            t = self.totals
            best = _better(t.best_source, best_source)
            anchor = self._anchor
            if counter is not None and anchor is not None and counter >= anchor[0]:
                settled = anchor[1]  # the bridge since the anchor (and this interval): counted
                self.totals = replace(
                    settled,
                    time_s=reading.time_s,
                    energy_j=settled.energy_j + counter - anchor[0],
                    counter_intervals=settled.counter_intervals
                    + t.intervals
                    - settled.intervals
                    + 1,
                    best_source=best,
                )
            else:
                # a counter reading here (a reset, or the first) leaves no bridge open
                bridged = t.bridged_intervals + 1 if anchor is not None and counter is None else 0
                self.totals = _by_power(t, last, reading, best, bridged)
        if counter is not None:  # the totals have no open bridge now: the next one starts here
            self._anchor = (counter, self.totals)
        return self.totals


def trapezoid_j(p0_w: float | None, p1_w: float | None, dt_s: float) -> float | None:
    """Joules of power moving in a straight line between two readings ``dt_s`` apart; None
    where either reading has none (or no time passed)."""
    if p0_w is None or p1_w is None or dt_s <= 0:
        return None
    return (p0_w + p1_w) / 2 * dt_s


def _by_power(
    t: EnergyTotals, last: Reading, reading: Reading, best: EnergySource | None, bridged: int
) -> EnergyTotals:
    """``t`` with the interval from ``last`` to ``reading`` accounted by power, an estimate or
    as a gap."""
    dt = reading.time_s - last.time_s
    integrated, estimated, gaps = t.integrated_intervals, t.estimated_intervals, t.gap_intervals
    joules = trapezoid_j(last.power_w, reading.power_w, dt)
    if joules is not None:
        integrated += 1
    elif (joules := trapezoid_j(last.power_estimate_w, reading.power_estimate_w, dt)) is not None:
        estimated += 1
    else:
        joules, gaps = 0.0, gaps + 1
    return replace(
        t,
        time_s=reading.time_s,
        energy_j=t.energy_j + joules,
        integrated_intervals=integrated,
        estimated_intervals=estimated,
        gap_intervals=gaps,
        best_source=best,
        bridged_intervals=bridged,
    )


def _best_source(reading: Reading) -> EnergySource | None:
    if reading.energy_counter_j is not None:
        return EnergySource.COUNTER
    if reading.power_w is not None:
        return EnergySource.INTEGRATED
    if reading.power_estimate_w is not None:
        return EnergySource.ESTIMATE
    return None


def _better(a: EnergySource | None, b: EnergySource | None) -> EnergySource | None:
    if a is b:  # the usual case, at every reading: no ranking needed
        return a
    if a is None or b is None:
        return a or b
    return min(a, b, key=_RANK.index)


def sample_energy(meter: EnergyMeter) -> tuple[float | None, EnergySource | None, bool]:
    """What a sample reports: its cumulative energy, the source of what is settled of it, and
    whether its newest part is an open bridge (power since the last counter reading, settled at
    the next). So a device whose counter is read once a second keeps its ``counter`` label at
    every sample, and says which samples carry a bridge, instead of flipping label each one."""
    totals = meter.totals
    if totals is None:
        return None, None, False
    energy_j, source = energy_and_source(totals)
    settled = meter.settled
    if settled is None:
        return energy_j, source, False
    return energy_j, energy_and_source(settled)[1] or source, True


def energy_and_source(totals: EnergyTotals) -> tuple[float | None, EnergySource | None]:
    """The cumulative energy of ``totals`` and its label: None/None for a device that has never
    offered counter, power or an estimate. An open bridge counts as integrated here (a window's
    edge, ``window_source``); a sample labels what is settled (``sample_energy``)."""
    source = source_of(
        totals.counter_intervals, totals.integrated_intervals, totals.estimated_intervals
    )
    if source is not None:
        return totals.energy_j, source
    if totals.best_source is None:
        return None, None
    return totals.energy_j, totals.best_source  # nothing accounted yet (first sample)
