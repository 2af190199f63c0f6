"""Energy per process: scripted utilization and energy timelines through the attribution model."""

from __future__ import annotations

import random

import pytest

from gpuscope.measurement.interval_energy import ChargeBasis, Unattributed
from gpuscope.measurement.process_energy import ProcessEnergyLedger
from gpuscope.telemetry.model import EnergySource, ProcessUsage, Reading, Sample, Vendor


def sample(
    t: float,
    energy_j: float | None,
    shares: dict[int, float | None] | None,
    kinds: dict[int, str | None] | None = None,
) -> Sample:
    processes = None if shares is None else tuple(
        ProcessUsage(pid, "job", 1024.0, kind=(kinds or {}).get(pid, "C"), sm_pct=share)
        for pid, share in shares.items()
    )  # fmt: skip
    reading = Reading(t, t, util_gpu_pct=80.0, processes=processes)
    source = EnergySource.COUNTER if energy_j is not None else None
    return Sample("nvidia:0", Vendor.NVIDIA, reading, energy_j, source)


def ledger_of(*samples: Sample) -> ProcessEnergyLedger:
    ledger = ProcessEnergyLedger()
    for s in samples:
        ledger.add([s])
    return ledger


def test_each_process_is_charged_its_sm_share_and_the_rest_is_unattributed() -> None:
    ledger = ledger_of(sample(0.0, 0.0, {1: 60.0, 2: 20.0}), sample(1.0, 100.0, {1: 60.0, 2: 20.0}))
    one, two = ledger.process("nvidia:0", 1), ledger.process("nvidia:0", 2)
    assert one is not None and two is not None
    assert one.energy_j == pytest.approx(60.0) and two.energy_j == pytest.approx(20.0)
    device = ledger.device("nvidia:0")
    assert device is not None
    assert device.measured_j == pytest.approx(100.0) and device.unattributed_j == pytest.approx(
        20.0
    )
    assert one.avg_power_w == pytest.approx(60.0)  # 60 J over the 1 s since first seen


def test_shares_over_100_percent_are_scaled_down() -> None:
    ledger = ledger_of(sample(0.0, 0.0, {1: 90.0, 2: 60.0}), sample(1.0, 300.0, {1: 90.0, 2: 60.0}))
    assert ledger.process("nvidia:0", 1).energy_j == pytest.approx(180.0)  # type: ignore[union-attr]
    assert ledger.process("nvidia:0", 2).energy_j == pytest.approx(120.0)  # type: ignore[union-attr]
    assert ledger.device("nvidia:0").unattributed_j == pytest.approx(0.0)  # type: ignore[union-attr]


def test_the_sole_compute_process_is_charged_the_gpus_measured_energy() -> None:
    """The H100 on driver 580 reports processes but no shares: one compute process holding the
    GPU for an interval is charged all its energy, as the sole process, not by an SM share."""
    job = ProcessUsage(1, "job", 1024.0, kind="C")
    ledger = ledger_of(sample(0.0, 0.0, {1: None}), sample(1.0, 500.0, {1: None}))
    ledger.add([sample(2.0, 900.0, {1: None}, kinds={1: "C+G"})])
    charged = ledger.charged("nvidia:0", job)
    assert charged is not None and charged.energy_j == 900.0
    assert charged.basis is ChargeBasis.SOLE and charged.avg_power_w == 450.0
    device = ledger.device("nvidia:0")
    assert device is not None and device.unattributed_j == 0.0 and device.sole_pid == 1
    ledger.add([sample(3.0, 1000.0, None)])  # no process list: nothing charged, and why
    device = ledger.device("nvidia:0")
    assert device is not None and device.measured_j == 1000.0 and device.unattributed_j == 100.0
    assert device.unattributed_why is Unattributed.NO_LIST
    assert ledger.charged("nvidia:0", job) is None  # not charged now: n/a, not 900 J


def test_several_processes_without_shares_stay_unattributed_saying_why() -> None:
    ledger = ledger_of(sample(0.0, 0.0, {1: None, 2: None}), sample(1.0, 500.0, {1: None, 2: None}))
    assert [p.energy_j for p in ledger.processes()] == [0.0, 0.0]
    device = ledger.device("nvidia:0")
    assert device is not None and device.unattributed_j == 500.0
    assert device.unattributed_why is Unattributed.SEVERAL and device.sole_pid is None
    assert ledger.charged("nvidia:0", ProcessUsage(1, "job", 1024.0, kind="C")) is None


def test_a_graphics_process_beside_the_sole_compute_process_is_not_charged() -> None:
    kinds = {1: "C", 9: "G"}
    ledger = ledger_of(
        sample(0.0, 0.0, {1: None, 9: None}, kinds), sample(1.0, 300.0, {1: None, 9: None}, kinds)
    )
    assert ledger.process("nvidia:0", 1).energy_j == 300.0  # type: ignore[union-attr]
    assert ledger.process("nvidia:0", 9).energy_j == 0.0  # type: ignore[union-attr]
    unknown = ledger_of(
        sample(0.0, 0.0, {5: None}, {5: None}), sample(1.0, 50.0, {5: None}, {5: None})
    )
    assert unknown.process("nvidia:0", 5).energy_j == 0.0  # type: ignore[union-attr]
    assert unknown.device("nvidia:0").unattributed_why is Unattributed.UNKNOWN_KIND  # type: ignore[union-attr]
    only_graphics = ledger_of(
        sample(0.0, 0.0, {9: None}, kinds), sample(1.0, 50.0, {9: None}, kinds)
    )
    assert only_graphics.device("nvidia:0").unattributed_why is Unattributed.NO_COMPUTE  # type: ignore[union-attr]


def test_the_sole_process_is_charged_only_for_intervals_it_held_from_start_to_end() -> None:
    ledger = ledger_of(
        sample(0.0, 0.0, {}),
        sample(1.0, 100.0, {1: None}),  # started within (0, 1]: not charged for it
        sample(2.0, 400.0, {1: None}),
        sample(3.0, 700.0, {1: None, 2: None}),  # a second one came: not the sole one
        sample(4.0, 1000.0, {2: None}),  # 1 ended, 2 started before: the list changed
        sample(5.0, 1300.0, {2: None}),
    )
    assert [p.energy_j for p in ledger.departed()] == [300.0]
    assert ledger.process("nvidia:0", 2).energy_j == 300.0  # type: ignore[union-attr]
    device = ledger.device("nvidia:0")
    assert device is not None and device.unattributed_j == 1300.0 - 600.0


def test_a_counter_reading_that_corrects_the_power_bridge_down_is_charged_too() -> None:
    """Energy between counter readings is integrated power; the next reading may lower it.
    The sole process's total is then the counter's, and the ledger's sums stay whole."""
    ledger = ledger_of(
        sample(0.0, 0.0, {1: None}), sample(0.5, 52.0, {1: None}), sample(1.0, 100.0, {1: None})
    )
    ledger.add([sample(1.5, 99.0, {1: None})])  # the counter says 99 J, power said 100 J
    assert ledger.process("nvidia:0", 1).energy_j == pytest.approx(99.0)  # type: ignore[union-attr]
    device = ledger.device("nvidia:0")
    assert device is not None and device.measured_j == pytest.approx(99.0)
    assert device.unattributed_j == pytest.approx(0.0)


def test_a_process_that_starts_and_ends_mid_run_is_charged_only_while_listed() -> None:
    ledger = ledger_of(
        sample(0.0, 0.0, {1: 50.0}),
        sample(1.0, 100.0, {1: 50.0, 2: 25.0}),  # 2 appears within (0, 1]: charged for it
        sample(2.0, 200.0, {1: 50.0, 2: 25.0}),
    )
    two = ledger.process("nvidia:0", 2)
    assert two is not None and two.energy_j == pytest.approx(50.0)
    # its clock starts where its first charged interval starts: 50 J over 2 s, not over 1 s
    assert (two.first_seen_s, two.last_seen_s) == (0.0, 2.0) and two.avg_power_w == 25.0
    ledger.add([sample(3.0, 300.0, {1: 50.0})])  # 2 ended within (2, 3]: not charged for it
    ledger.add([sample(4.0, 400.0, {1: 50.0})])
    assert ledger.process("nvidia:0", 2) is None  # forgotten: a reused pid 2 starts from zero
    (gone,) = ledger.departed()
    assert gone.pid == 2 and gone.energy_j == pytest.approx(50.0)
    assert ledger.process("nvidia:0", 1).energy_j == pytest.approx(200.0)  # type: ignore[union-attr]
    ledger.add([sample(5.0, 500.0, {1: 50.0, 2: 10.0})])  # pid 2 again: another process
    again = ledger.process("nvidia:0", 2)
    assert again is not None and again.energy_j == pytest.approx(10.0) and again.first_seen_s == 4.0


def test_no_device_energy_charges_nothing() -> None:
    ledger = ledger_of(sample(0.0, None, {1: 80.0}), sample(1.0, None, {1: 80.0}))
    assert ledger.process("nvidia:0", 1).energy_j == 0.0  # type: ignore[union-attr]
    assert ledger.device("nvidia:0") is None


def test_attributed_plus_unattributed_is_the_measured_energy_on_any_timeline() -> None:
    rng = random.Random(12)
    ledger, energy, t, first = ProcessEnergyLedger(), 0.0, 0.0, None
    for _ in range(500):
        t += rng.choice([0.1, 0.5, 1.0])
        energy += rng.uniform(0.0, 700.0) * t / 100
        pids = rng.sample(range(1, 9), rng.randint(0, 5))
        shares = {pid: rng.choice([None, 0.0, rng.uniform(0, 100)]) for pid in pids}
        if rng.random() < 0.1:
            shares = {pid: None for pid in pids}
        ledger.add([sample(t, energy, shares if rng.random() > 0.05 else None)])
        first = energy if first is None else first
    device = ledger.device("nvidia:0")
    assert device is not None
    charged = sum(p.energy_j for p in [*ledger.processes(), *ledger.departed()])
    assert charged == pytest.approx(device.attributed_j)
    assert charged + device.unattributed_j == pytest.approx(device.measured_j)
    assert device.measured_j == pytest.approx(energy - first)  # every joule since the first sample


def test_what_a_process_is_charged_is_n_a_once_its_share_is_gone() -> None:
    """The Processes tab and ``record --processes`` show the same thing: a process the driver
    gives no SM share now is n/a (None), not the joules it was charged before, nor 0 J."""
    ledger = ledger_of(sample(0.0, 0.0, {1: 50.0}), sample(1.0, 100.0, {1: 50.0}))
    with_share = ProcessUsage(1, "job", 1024.0, kind="C", sm_pct=50.0)
    without = ProcessUsage(1, "job", 1024.0, kind="C", sm_pct=None)
    charged = ledger.charged("nvidia:0", with_share)
    assert charged is not None and charged.energy_j == pytest.approx(50.0)
    assert ledger.charged("nvidia:0", without) is None
    assert ledger.charged("nvidia:1", with_share) is None  # a device it never ran on


def _bridged_run(rows):  # type: ignore[no-untyped-def]
    """Samples as the sampler makes them for a GPU whose counter is read at 0 and 1 s only,
    with power between that reads high (300 W while the counter says 200 J in the second)."""
    from gpuscope.energy import EnergyMeter, sample_energy
    from gpuscope.telemetry.model import Reading, Vendor

    meter, ledger, counter = EnergyMeter(), ProcessEnergyLedger(), 0.0
    for t, read, power, processes in rows:
        counter = read if read is not None else counter
        reading = Reading(
            t, t, power_w=power, energy_counter_j=counter,
            energy_counter_stale=read is None, processes=processes,
        )  # fmt: skip
        meter.add(reading)
        energy_j, source, bridged = sample_energy(meter)
        sample = Sample("nvidia:0", Vendor.NVIDIA, reading, energy_j, source, False, bridged)
        ledger.add([sample])
    return ledger


A = ProcessUsage(1, "a", 1024.0, kind="C")
B = ProcessUsage(2, "b", 1024.0, kind="C")


def test_a_process_that_arrives_as_a_bridge_settles_is_not_charged_the_whole_correction() -> None:
    """A held the GPU 0-0.7 s and ended; B alone from 0.9 s. The counter's reading at 1 s
    settles a bridge whose power ran 35 % high: each interval keeps its share of the counter's
    200 J, so B gets its own tenth of a second's part, not the stretch's -67.5 J."""
    rows = [(t / 10, 0.0 if t == 0 else None, 300.0, (A,)) for t in range(8)]
    rows += [(0.8, None, 300.0, ()), (0.9, None, 250.0, (B,)), (1.0, 200.0, 120.0, (B,))]
    ledger = _bridged_run(rows)
    b = ledger.process("nvidia:0", 2)
    (a,) = ledger.departed()
    scale = 200.0 / 286.0  # the counter's 200 J over the stretch's power integral
    assert b is not None and b.energy_j == pytest.approx(18.5 * scale)
    assert a.energy_j == pytest.approx(210.0 * scale)  # corrected after it ended
    device = ledger.device("nvidia:0")
    assert device is not None and device.measured_j == pytest.approx(200.0)
    assert 0.0 <= device.unattributed_j == pytest.approx(200.0 - (210.0 + 18.5) * scale)


def test_a_process_that_ends_within_a_bridge_is_charged_no_more_than_was_measured() -> None:
    rows = [(t / 10, 0.0 if t == 0 else None, 300.0, (A,)) for t in range(10)]
    rows += [(1.0, 200.0, 300.0, ())]
    ledger = _bridged_run(rows)
    (a,) = ledger.departed()
    device = ledger.device("nvidia:0")
    assert device is not None
    assert a.energy_j == pytest.approx(270.0 * 200.0 / 300.0)  # 0.9 s of the 1 s stretch
    assert device.unattributed_j == pytest.approx(200.0 - a.energy_j) and device.unattributed_j > 0


def test_a_settling_reading_without_power_scales_the_bridge_and_charges_no_one_a_negative() -> None:
    """Final review: with no power at the settling reading the whole correction (-70 J) fell on
    the process that had just arrived."""
    rows = [(t / 10, 0.0 if t == 0 else None, 300.0, (A,)) for t in range(9)]
    rows += [(0.9, None, 300.0, (B,)), (1.0, 200.0, None, (B,))]
    ledger = _bridged_run(rows)
    b = ledger.process("nvidia:0", 2)
    device = ledger.device("nvidia:0")
    assert b is not None and b.energy_j >= 0.0
    assert device is not None and device.measured_j == pytest.approx(200.0)
    assert 0.0 <= device.attributed_j <= 200.0 + 1e-9
    (a,) = ledger.departed()
    assert a.energy_j == pytest.approx(240.0 * 200.0 / 270.0)  # its share of the counter's 200 J
