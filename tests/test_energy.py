"""Energy accounting: counter deltas, resets, trapezoids, estimates, gaps and the source label."""

from __future__ import annotations

import pytest

from gpuscope.energy import EnergyMeter, EnergyTotals, energy_and_source, window_source
from gpuscope.sampler import Sampler
from gpuscope.telemetry.model import DeviceInfo, EnergySource, Reading, Vendor


def r(
    t: float,
    power_w: float | None = None,
    counter_j: float | None = None,
    estimate_w: float | None = None,
    stale: bool = False,
) -> Reading:
    return Reading(
        time_s=t,
        wall_time_s=t,
        power_w=power_w,
        energy_counter_j=counter_j,
        energy_counter_stale=stale,
        power_estimate_w=estimate_w,
    )


def account(readings: list[Reading]) -> tuple[float | None, EnergySource | None]:
    meter = EnergyMeter()
    for reading in readings:
        totals = meter.add(reading)
    return energy_and_source(totals)


def test_counter_deltas_are_summed() -> None:
    assert account([r(0, 100, 5000.0), r(1, 100, 5100.0), r(2, 300, 5400.0)]) == (
        400.0,
        EnergySource.COUNTER,
    )


def test_power_is_integrated_by_trapezoid_when_no_counter() -> None:
    energy, source = account([r(0, 100), r(1, 200), r(3, 200)])
    assert source is EnergySource.INTEGRATED
    assert energy == pytest.approx(150 + 400)


def test_counter_reset_falls_back_to_power_for_that_interval() -> None:
    energy, source = account(
        [r(0, 100, 9000.0), r(1, 100, 9100.0), r(2, 100, 50.0), r(3, 100, 150.0)]
    )
    assert energy == pytest.approx(300.0)
    assert source is EnergySource.MIXED


def test_interval_with_neither_is_a_gap_not_zero_power() -> None:
    meter = EnergyMeter()
    for reading in (r(0, 100), r(1, None), r(2, 100), r(3, 100)):
        totals = meter.add(reading)
    assert totals.gap_intervals == 2 and totals.energy_j == pytest.approx(100.0)


def test_first_sample_says_which_source_will_be_used() -> None:
    assert account([r(0, 100, 10.0)]) == (0.0, EnergySource.COUNTER)
    assert account([r(0, 100)]) == (0.0, EnergySource.INTEGRATED)


def test_device_without_power_or_counter_has_no_energy() -> None:
    assert account([r(0), r(1), r(2)]) == (None, None)


def test_estimated_power_is_integrated_and_labelled_estimate_never_integrated() -> None:
    meter = EnergyMeter()
    for reading in (r(0, estimate_w=20.0), r(1, estimate_w=60.0), r(3, estimate_w=60.0)):
        totals = meter.add(reading)
    assert totals.estimated_intervals == 2 and totals.integrated_intervals == 0
    assert energy_and_source(totals) == (pytest.approx(40.0 + 120.0), EnergySource.ESTIMATE)
    assert account([r(0, estimate_w=20.0)]) == (0.0, EnergySource.ESTIMATE)  # first sample


def test_measured_beats_estimate_in_every_interval() -> None:
    """A reading with a counter or measured power is accounted by it, whatever the estimate."""
    both = [r(0, 100, 10.0, estimate_w=1.0), r(1, 100, 110.0, estimate_w=1.0)]
    assert account(both) == (100.0, EnergySource.COUNTER)
    power = [r(0, 100, estimate_w=1.0), r(1, 100, estimate_w=1.0)]
    assert account(power) == (100.0, EnergySource.INTEGRATED)


def test_estimated_intervals_make_a_measured_total_an_estimate() -> None:
    """Measured joules with estimated ones added are no measurement: the whole says estimate."""
    energy, source = account(
        [r(0, 100, 0.0), r(1, 100, 100.0), r(2, estimate_w=50.0), r(3, estimate_w=50.0)]
    )
    assert source is EnergySource.ESTIMATE and energy == pytest.approx(150.0)


def labels(readings: list[Reading]) -> list[tuple[float | None, EnergySource | None]]:
    meter = EnergyMeter()
    return [energy_and_source(meter.add(reading)) for reading in readings]


def test_power_bridges_a_carried_counter_until_the_next_reading_settles_it() -> None:
    """Between counter readings power carries the energy (labelled so); the next reading
    replaces the bridge by the counter's delta: exact at every counter reading."""
    readings = [
        r(0.0, 100, 1000.0),
        r(0.5, 100, 1000.0, stale=True),  # the counter carried from t=0: not accounted
        r(1.0, 100, 1150.0),  # the counter says 150 W, where power said 100 W
        r(1.5, 100, 1150.0, stale=True),
        r(2.0, 100, 1300.0),
    ]
    assert labels(readings) == [
        (0.0, EnergySource.COUNTER),
        (pytest.approx(50.0), EnergySource.INTEGRATED),  # nothing counted yet: power only
        (150.0, EnergySource.COUNTER),  # the bridge settled by the counter
        (pytest.approx(200.0), EnergySource.MIXED),  # counter to 1 s, power since
        (300.0, EnergySource.COUNTER),
    ]
    meter = EnergyMeter()
    for reading in readings:
        totals = meter.add(reading)
    assert (totals.counter_intervals, totals.integrated_intervals) == (4, 0)
    assert totals.bridged_intervals == 0


def test_a_counter_reset_settles_the_open_bridge_as_power() -> None:
    readings = [
        r(0.0, 100, 9000.0),
        r(1.0, 100, 9000.0, stale=True),
        r(2.0, 100, 50.0),  # reset: the two bridged seconds stay integrated
        r(3.0, 100, 50.0, stale=True),
        r(4.0, 100, 250.0),  # counted again from the reset on: 200 J over the last two seconds
    ]
    meter = EnergyMeter()
    for reading in readings:
        totals = meter.add(reading)
    assert totals.energy_j == pytest.approx(400.0)
    assert (totals.counter_intervals, totals.integrated_intervals) == (2, 2)
    assert energy_and_source(totals)[1] is EnergySource.MIXED


def test_a_gap_in_a_bridge_is_covered_once_the_counter_settles_it() -> None:
    readings = [r(0, 100, 0.0), r(1, None, 0.0, stale=True), r(2, 100, 200.0)]
    meter = EnergyMeter()
    for reading in readings:
        totals = meter.add(reading)
    assert totals.energy_j == 200.0 and totals.gap_intervals == 0
    assert totals.counter_intervals == 2


def test_a_window_edge_with_an_open_bridge_is_not_pure_counter() -> None:
    settled = EnergyTotals(time_s=0.0, energy_j=10.0, counter_intervals=4)
    later = EnergyTotals(time_s=1.0, energy_j=20.0, counter_intervals=6)
    open_bridge = EnergyTotals(time_s=1.0, energy_j=20.0, counter_intervals=5,
                               integrated_intervals=1, bridged_intervals=1)  # fmt: skip
    assert window_source(settled, later) is EnergySource.COUNTER
    assert window_source(settled, open_bridge) is EnergySource.MIXED
    assert window_source(open_bridge, later) is EnergySource.MIXED  # it settled in the window


def test_a_window_is_an_estimate_if_any_interval_in_it_was(clock) -> None:  # type: ignore[no-untyped-def]
    device = PhasedDevice(start_s=clock(), estimate_from_s=3.0)
    sampler = Sampler([device], clock=clock)
    sampler.tick()
    with sampler.window("measured") as measured:  # 0-2 s: the counter only
        for _ in range(2):
            clock.advance(1.0)
            sampler.tick()
    with sampler.window("mixed") as mixed:  # 2-5 s: one counter interval, then two estimated
        for _ in range(3):
            clock.advance(1.0)
            sampler.tick()
    assert measured.results["d"].source is EnergySource.COUNTER
    assert measured.results["d"].energy_j == pytest.approx(200.0)
    assert mixed.results["d"].source is EnergySource.ESTIMATE
    assert mixed.results["d"].energy_j == pytest.approx(100.0 + 2 * 50.0)


class PhasedDevice:
    """A 100 W device with a counter until ``estimate_from_s``, then only a 50 W estimate (the
    reading at that instant has both)."""

    def __init__(self, start_s: float, estimate_from_s: float) -> None:
        self._start_s = start_s
        self._estimate_from_s = estimate_from_s
        self.info = DeviceInfo(device_id="d", vendor=Vendor.CPU, index=0, name="phased")

    def read(self, now_s: float, exact_energy: bool = False) -> Reading:
        t = now_s - self._start_s
        counted = t <= self._estimate_from_s
        return r(
            now_s,
            counter_j=100.0 * t if counted else None,
            estimate_w=50.0 if t >= self._estimate_from_s else None,
        )
