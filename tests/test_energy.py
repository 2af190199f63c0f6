"""Energy accounting: counter deltas, resets, trapezoids, gaps and the source label."""

from __future__ import annotations

import pytest

from gpuscope.energy import EnergyMeter, energy_and_source
from gpuscope.telemetry.model import EnergySource, Reading


def r(t: float, power_w: float | None = None, counter_j: float | None = None) -> Reading:
    return Reading(time_s=t, wall_time_s=t, power_w=power_w, energy_counter_j=counter_j)


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
