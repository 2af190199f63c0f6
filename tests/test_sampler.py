"""The sampler on scripted fake devices: energy against known integrals, windows, lost devices,
bounded history, and a drift-free schedule."""

from __future__ import annotations

import math
import threading
import time

import pytest

from gpuscope.intervals import check_interval
from gpuscope.sampler import Sampler
from gpuscope.telemetry.discover import discover
from gpuscope.telemetry.model import EnergySource
from tests.fakes.fake_amdsmi import FakeAmdGpu
from tests.fakes.fake_pynvml import FakeGpu, Ramp
from tests.waiting import wait_until

ENERGY = "nvmlDeviceGetTotalEnergyConsumption"
NO_COUNTER = {"nvmlDeviceGetFanSpeed", ENERGY}


def run_ticks(sampler: Sampler, clock, seconds: float, step_s: float) -> None:
    for _ in range(round(seconds / step_s)):
        clock.advance(step_s)
        sampler.tick()


def test_window_energy_matches_known_integral_counter_and_integrated(
    install_nvml, install_amdsmi, clock
) -> None:
    start = clock()
    ramp_a, ramp_b, ramp_c = (
        Ramp(200.0, 40.0, start),
        Ramp(100.0, 10.0, start),
        Ramp(150.0, -5.0, start),
    )
    install_nvml(
        [FakeGpu(power=ramp_a), FakeGpu(power=ramp_b, unsupported=NO_COUNTER)], clock=clock
    )
    install_amdsmi([FakeAmdGpu(power=ramp_c)], clock=clock)
    with discover(["nvidia", "amd"]) as found:
        sampler = Sampler(found.devices, interval_s=0.5, clock=clock)
        sampler.tick()
        run_ticks(sampler, clock, 2.0, 0.5)
        t0 = clock()
        with sampler.window("run") as window:
            run_ticks(sampler, clock, 10.0, 0.5)
        t1 = clock()
    counter, integrated, amd = (window.results[k] for k in ("nvidia:0", "nvidia:1", "amd:0"))
    assert counter.source is EnergySource.COUNTER
    assert counter.energy_j == pytest.approx(ramp_a.energy_j(t0, t1), abs=0.01)  # mJ rounding
    assert integrated.source is EnergySource.INTEGRATED
    assert integrated.energy_j == pytest.approx(
        ramp_b.energy_j(t0, t1), rel=1e-6
    )  # exact on a ramp
    assert amd.source is EnergySource.COUNTER
    assert amd.energy_j == pytest.approx(ramp_c.energy_j(t0, t1), abs=0.01)
    assert counter.duration_s == pytest.approx(10.0)
    assert counter.avg_power_w == pytest.approx(ramp_a.energy_j(t0, t1) / 10.0, rel=1e-4)
    assert not counter.device_lost and counter.gap_intervals == 0


def test_counter_reset_mid_run_is_covered_by_power(install_nvml, clock) -> None:
    ramp = Ramp(250.0)
    install_nvml([FakeGpu(power=ramp, counter_resets_at=clock() + 3.2)], clock=clock)
    with discover(["nvidia"]) as found:
        sampler = Sampler(found.devices, clock=clock)
        with sampler.window("w") as window:
            run_ticks(sampler, clock, 6.0, 0.5)
    result = window.results["nvidia:0"]
    assert result.source is EnergySource.MIXED
    assert result.energy_j == pytest.approx(250.0 * 6.0, abs=0.01)


def test_samples_carry_accounted_energy_and_source(install_nvml, clock) -> None:
    install_nvml([FakeGpu(power=Ramp(100.0))], clock=clock)
    with discover(["nvidia"]) as found:
        sampler = Sampler(found.devices, clock=clock)
        sampler.tick()
        run_ticks(sampler, clock, 3.0, 0.5)
        history = sampler.history("nvidia:0")
    # the counter is read once a second: the samples between carry a bridge of power, marked
    # so, under the label of what is settled (the counter), which does not flip at every sample
    assert [s.energy_source for s in history] == [EnergySource.COUNTER] * 7
    assert [s.energy_bridged for s in history] == [False, True] + [False, True] * 2 + [False]
    assert history[0].energy_j == 0.0
    assert history[-1].energy_j == pytest.approx(300.0, abs=0.01)


class Wave(Ramp):
    """Power that swings smoothly around ``start_w`` (a sine of 100 W): a trapezoid on it is
    close, not exact, so bridged energy differs from the counter's a little."""

    def power_w(self, t: float) -> float:
        return self.start_w + 100.0 * math.sin(t - self.origin_s)

    def energy_j(self, t0: float, t1: float) -> float:
        swing = math.cos(t0 - self.origin_s) - math.cos(t1 - self.origin_s)
        return self.start_w * (t1 - t0) + 100.0 * swing


def counter_j(fake, gpu: FakeGpu, t: float) -> float:
    return fake.energy_mj(gpu, t) / 1000


def test_energy_counter_read_about_once_a_second_and_at_every_window_edge(
    install_nvml, clock
) -> None:
    """nvmlDeviceGetTotalEnergyConsumption costs ~3.6 ms (H100): at 10 Hz it is read once a
    second, not at every sample, and once more at each window edge."""
    fake = install_nvml([FakeGpu(power=Wave(300.0, origin_s=clock()))], clock=clock)
    with discover(["nvidia"]) as found:
        sampler = Sampler(found.devices, interval_s=0.1, clock=clock)
        fake.calls.clear()
        sampler.tick()
        run_ticks(sampler, clock, 5.0, 0.1)
        assert fake.calls[ENERGY] <= 6
        fake.calls.clear()
        clock.advance(0.05)  # edges off the sampling grid
        with sampler.window("w"):
            run_ticks(sampler, clock, 2.0, 0.1)
            clock.advance(0.05)
        assert fake.calls[ENERGY] <= 2 + 3  # the two edges, and once a second between


def test_recorded_energy_stays_within_half_a_percent_of_the_counter(install_nvml, clock) -> None:
    """Every sample's cumulative energy is the counter's at each counter read and within 0.5 %
    between; a window's energy is the counter's delta between its edges, labelled counter."""
    gpu = FakeGpu(power=Wave(300.0, origin_s=clock()))
    fake = install_nvml([gpu], clock=clock)
    with discover(["nvidia"]) as found:
        sampler = Sampler(found.devices, interval_s=0.1, clock=clock)
        rows = []
        sampler.subscribe(rows.extend)
        sampler.tick()
        run_ticks(sampler, clock, 2.0, 0.1)
        clock.advance(0.03)
        t0 = clock()
        with sampler.window("w") as window:
            run_ticks(sampler, clock, 3.0, 0.1)
            clock.advance(0.04)
            t1 = clock()
    start = rows[0].reading.time_s
    for row in rows[1:]:
        counted = counter_j(fake, gpu, row.reading.time_s) - counter_j(fake, gpu, start)
        assert row.energy_j == pytest.approx(counted, rel=0.005)
        if not row.energy_bridged:  # a counter reading: exactly the counter's figure
            assert row.energy_j == pytest.approx(counted, abs=1e-9)
    assert {row.energy_source for row in rows} == {EnergySource.COUNTER}
    bridged = [row.energy_bridged for row in rows[1:]]
    assert 0 < bridged.count(False) <= 6 and bridged.count(True) > 20  # the counter ~1/s
    result = window.results["nvidia:0"]
    assert result.source is EnergySource.COUNTER
    assert result.energy_j == pytest.approx(
        counter_j(fake, gpu, t1) - counter_j(fake, gpu, t0), abs=1e-9
    )


def test_lost_gpu_is_marked_once_and_others_keep_sampling(install_nvml, clock) -> None:
    install_nvml([FakeGpu(), FakeGpu(uuid="GPU-b", lost_at=clock() + 1.2)], clock=clock)
    with discover(["nvidia"]) as found:
        sampler = Sampler(found.devices, clock=clock)
        published: list[list[str]] = []
        sampler.subscribe(
            lambda samples: published.append(
                [s.device_id + ("!" if s.lost else "") for s in samples]
            )
        )
        for _ in range(6):
            sampler.tick()
            clock.advance(0.5)
        with sampler.window("after") as window:
            clock.advance(1.0)
    assert (
        published[:6]
        == [["nvidia:0", "nvidia:1"]] * 3 + [["nvidia:0", "nvidia:1!"]] + [["nvidia:0"]] * 2
    )
    assert "nvidia:1" in sampler.lost and "GPU is lost" in sampler.lost["nvidia:1"]
    assert window.results["nvidia:1"].device_lost
    assert window.results["nvidia:0"].energy_j == pytest.approx(75.0, abs=0.01)


def test_history_is_bounded(install_nvml, clock) -> None:
    install_nvml([FakeGpu()], clock=clock)
    with discover(["nvidia"]) as found:
        sampler = Sampler(found.devices, history_len=10, clock=clock)
        run_ticks(sampler, clock, 50.0, 0.5)
        history = sampler.history("nvidia:0")
    assert len(history) == 10 and sampler.ticks == 100
    assert history[-1].reading.time_s == clock()
    assert sampler.latest("nvidia:0") is history[-1]


@pytest.mark.parametrize("interval_s", [0.1, 0.5, 2.0])
def test_history_kept_by_time_holds_the_same_stretch_at_any_interval(
    install_nvml, clock, interval_s
) -> None:
    """The UI's history covers its longest chart window: full after that long at any interval,
    not after 50 minutes at 0.5 s (6000 samples) and 10 at 0.1 s."""
    install_nvml([FakeGpu()], clock=clock)
    with discover(["nvidia"]) as found:
        sampler = Sampler(found.devices, interval_s, history_len=100_000, clock=clock,
                          history_s=60.0)  # fmt: skip
        run_ticks(sampler, clock, 200.0, interval_s)
        history = sampler.history("nvidia:0")
    span = history[-1].reading.time_s - history[0].reading.time_s
    assert 60.0 - interval_s < span <= 60.0
    assert len(history) == pytest.approx(60.0 / interval_s + 1, abs=1)


def test_window_names_are_checked(install_nvml, clock) -> None:
    install_nvml([FakeGpu()], clock=clock)
    with discover(["nvidia"]) as found:
        sampler = Sampler(found.devices, clock=clock)
        sampler.begin_window("a")
        with pytest.raises(ValueError, match="already open"):
            sampler.begin_window("a")
        sampler.end_window("a")
        with pytest.raises(KeyError):
            sampler.end_window("a")


@pytest.mark.parametrize("bad", [0.0, 0.049, -1.0, float("nan"), float("inf"), 3600.1, 1e10])
def test_bad_intervals_rejected(bad: float) -> None:
    with pytest.raises(ValueError, match=r"interval must be between 0\.05 s and 3600 s"):
        check_interval(bad)


def test_thread_keeps_a_drift_free_grid_and_stops(install_nvml) -> None:
    install_nvml([FakeGpu()])
    with discover(["nvidia"]) as found:
        sampler = Sampler(found.devices, interval_s=0.1)
        started = time.monotonic()
        sampler.start()
        try:
            wait_until(lambda: sampler.ticks + sampler.missed_ticks >= 10, "10 slots")
        finally:
            sampler.stop()
        took = time.monotonic() - started
        assert not sampler.running
        times = [s.reading.time_s for s in sampler.history("nvidia:0")]
    assert len(times) + sampler.missed_ticks <= took / 0.1 + 2  # no slot taken twice
    # every tick lands on one grid, start + k * interval, late by scheduling jitter (which a
    # loaded machine makes larger, now and then), never drifting: around some tick, all but two
    phases = [(t / 0.1) % 1.0 for t in times]
    near = max(sum(min(abs(p - q), 1 - abs(p - q)) < 0.3 for p in phases) for q in phases)
    assert near >= len(phases) - 2, phases


def test_failing_listener_stops_the_loop_and_is_reported(install_nvml) -> None:
    install_nvml([FakeGpu()])
    with discover(["nvidia"]) as found:
        sampler = Sampler(found.devices, interval_s=0.05)
        calls = threading.Event()

        def listener(samples: object) -> None:
            calls.set()
            raise OSError(28, "No space left on device")

        sampler.subscribe(listener)
        sampler.start()
        assert sampler.wait(30)
        assert isinstance(sampler.error, OSError) and sampler.ticks == 1


def test_a_failure_between_ticks_ends_the_loop_and_is_reported() -> None:
    """Issue 22: ``-i 1e10`` raised OverflowError in the wait between two ticks: the thread died,
    ``error`` stayed None and ``wait`` never returned, so ``record`` ran on with no rows. Here a
    clock that jumps back 1e12 s asks for the same impossible wait."""
    readings = iter([0.0])

    def clock() -> float:
        return next(readings, -1e12)

    sampler = Sampler([], interval_s=0.05, clock=clock)
    sampler.start()
    assert sampler.wait(30)  # ended, and says so
    assert isinstance(sampler.error, OverflowError)


class _BlockingDevice:
    """A device whose read blocks until released: a hung driver call."""

    def __init__(self) -> None:
        from gpuscope.telemetry.model import DeviceInfo, Vendor

        self.info = DeviceInfo("nvidia:0", Vendor.NVIDIA, 0, "stuck")
        self.entered = threading.Event()
        self.release = threading.Event()

    def read(self, now_s: float, exact_energy: bool = False):
        from gpuscope.telemetry.model import Reading

        self.entered.set()
        self.release.wait(60)  # a reader that waited for it would wait this long
        return Reading(time_s=now_s, wall_time_s=time.time(), util_gpu_pct=1.0)


def test_history_readers_do_not_wait_for_a_hung_device_read() -> None:
    device = _BlockingDevice()
    sampler = Sampler([device], interval_s=0.05)
    worker = threading.Thread(target=sampler.tick)
    worker.start()
    assert device.entered.wait(30)
    started = time.monotonic()
    assert sampler.history("nvidia:0") == []
    assert sampler.latest("nvidia:0") is None
    assert sampler.lost == {}
    assert time.monotonic() - started < 5  # the read is still blocked: we did not wait on it
    device.release.set()
    worker.join(30)
    assert len(sampler.history("nvidia:0")) == 1


def test_unsubscribed_listener_is_not_called_again(install_nvml, clock) -> None:
    install_nvml([FakeGpu()], clock=clock)
    seen: list[int] = []
    with discover(["nvidia"]) as found:
        sampler = Sampler(found.devices, clock=clock)

        def listener(samples) -> None:
            seen.append(len(samples))

        sampler.subscribe(listener)
        sampler.tick()
        sampler.unsubscribe(listener)
        sampler.tick()
    assert seen == [1]


def test_shorter_interval_takes_effect_without_waiting_out_the_long_one(install_nvml) -> None:
    install_nvml([FakeGpu()])
    with discover(["nvidia"]) as found:
        sampler = Sampler(found.devices, interval_s=30.0)
        sampler.start()
        try:
            wait_until(lambda: sampler.ticks >= 1, "the first tick")
            sampler.interval_s = 0.05
            wait_until(lambda: sampler.ticks >= 4, "stuck in the 30 s wait", timeout_s=20)
        finally:
            sampler.stop()


def test_a_device_added_while_running_joins_at_the_next_tick(install_nvml, clock) -> None:
    install_nvml([FakeGpu(), FakeGpu(uuid="GPU-late")], clock=clock)
    with discover(["nvidia"]) as found:
        first, late = found.devices
        sampler = Sampler([first], clock=clock)
        sampler.tick()
        sampler.add_device(late)
        assert sampler.history("nvidia:1") == []  # known, not sampled yet
        clock.advance(0.5)
        sampler.tick()
        clock.advance(0.5)
        sampler.tick()
        assert len(sampler.history("nvidia:1")) == 2
        assert sampler.latest("nvidia:1").energy_j is not None  # accounted like any other
        with pytest.raises(ValueError):
            sampler.add_device(late)


def test_subscribing_does_not_wait_for_a_hung_device_read() -> None:
    device = _BlockingDevice()
    sampler = Sampler([device], interval_s=0.05)
    worker = threading.Thread(target=sampler.tick)
    worker.start()
    assert device.entered.wait(30)
    seen: list[int] = []
    started = time.monotonic()
    sampler.subscribe(lambda samples: seen.append(len(samples)))
    assert time.monotonic() - started < 5  # the read is still blocked: we did not wait on it
    device.release.set()
    worker.join(30)
    sampler.tick()
    assert seen  # subscribed for real


def test_window_edges_never_reach_listeners_off_the_grid(install_nvml, clock) -> None:
    """A recording taken across a measurement window keeps one row per tick on the grid; the
    window's edge reads still make its energy exact (issue 11)."""
    start = clock()
    ramp = Ramp(200.0, 40.0, start)
    install_nvml([FakeGpu(power=ramp)], clock=clock)
    with discover(["nvidia"]) as found:
        sampler = Sampler(found.devices, interval_s=0.5, clock=clock)
        published: list[float] = []
        sampler.subscribe(lambda samples: published.extend(s.reading.time_s for s in samples))
        sampler.tick()
        clock.advance(0.2)  # off the grid, as a run's warm-up ends whenever it ends
        t0 = clock()
        sampler.begin_window("run")
        clock.advance(0.3)
        sampler.tick()
        clock.advance(0.1)
        t1 = clock()
        result = sampler.end_window("run")["nvidia:0"]
        clock.advance(0.4)
        sampler.tick()
        history = [s.reading.time_s for s in sampler.history("nvidia:0")]
    assert published == pytest.approx([start, start + 0.5, start + 1.0])  # the grid only
    assert sampler.ticks == 3
    assert len(history) == 5  # the edges are kept for the charts and live figures
    assert result.duration_s == pytest.approx(t1 - t0)
    assert result.energy_j == pytest.approx(ramp.energy_j(t0, t1), abs=0.01)


def test_history_since_hands_over_only_the_stretch_asked_for(install_nvml, clock) -> None:
    install_nvml([FakeGpu()], clock=clock)
    with discover(["nvidia"]) as found:
        sampler = Sampler(found.devices, interval_s=0.5, clock=clock, history_len=100)
        run_ticks(sampler, clock, 20.0, 0.5)
        now = clock()
        recent = sampler.history_since("nvidia:0", now - 2.0)
        assert [s.reading.time_s for s in recent] == pytest.approx(
            [now - 2 + 0.5 * i for i in range(5)]
        )
        assert len(sampler.history_since("nvidia:0", now + 10)) == 2  # at least the newest two
        assert sampler.history_since("nvidia:0", 0.0) == sampler.history("nvidia:0")
        assert sampler.history_since("nvidia:9", 0.0) == []


class _ActivityDevice:
    """A device with activity counters: records what the sampler told it, and reads a field
    only while told to sample it."""

    def __init__(self, device_id: str) -> None:
        from gpuscope.telemetry.model import DeviceInfo, Vendor

        self.info = DeviceInfo(device_id, Vendor.NVIDIA, 0, "gpm", activity_counters=True)
        self.told: list[bool] = []

    def want_activity(self, wanted: bool) -> None:
        self.told.append(wanted)

    def read(self, now_s: float, exact_energy: bool = False):
        from gpuscope.telemetry.model import Reading

        wanted = bool(self.told) and self.told[-1]
        return Reading(
            time_s=now_s, wall_time_s=time.time(), sm_active_pct=50.0 if wanted else None
        )


def test_activity_counters_are_sampled_only_while_some_owner_wants_them(clock) -> None:
    device = _ActivityDevice("nvidia:0")
    plain = _BlockingDevice()
    plain.release.set()
    plain.info = type(plain.info)("cpu", plain.info.vendor, 0, "no counters")
    sampler = Sampler([device, plain], interval_s=0.5, clock=clock)
    sampler.tick()
    assert sampler.latest("nvidia:0").reading.sm_active_pct is None
    sampler.want_activity("panel")
    sampler.want_activity("recording")
    assert sampler.activity_wanted
    sampler.tick()
    assert sampler.latest("nvidia:0").reading.sm_active_pct == 50.0
    sampler.want_activity("panel", wanted=False)
    sampler.tick()  # the recording still wants them
    assert sampler.latest("nvidia:0").reading.sm_active_pct == 50.0
    sampler.want_activity("recording", wanted=False)
    sampler.tick()
    sampler.tick()
    assert sampler.latest("nvidia:0").reading.sm_active_pct is None
    assert device.told == [False, True, False]  # told on change only, not at every tick
    assert not sampler.activity_wanted


def test_a_device_added_while_activity_is_wanted_is_told_at_its_first_tick(clock) -> None:
    sampler = Sampler([], interval_s=0.5, clock=clock)
    sampler.want_activity("exporter")
    device = _ActivityDevice("nvidia:1")
    sampler.add_device(device)
    sampler.tick()
    assert device.told == [True]
    assert sampler.latest("nvidia:1").reading.sm_active_pct == 50.0


def test_what_stopped_sampling_is_one_line_naming_the_error_even_without_a_message() -> None:
    from gpuscope.sampler import stopped_line

    assert stopped_line(NotImplementedError()) == "sampling stopped: NotImplementedError"
    assert stopped_line(OSError("disk\nfull")) == "sampling stopped: OSError: disk full"
