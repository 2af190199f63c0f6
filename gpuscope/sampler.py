"""The one polling loop: reads every device on a fixed schedule, keeps history, accounts energy.

Everything that shows or stores telemetry (``record``, the TUI, the exporter) subscribes to one
``Sampler``; none of them talks to a device. Listeners run on the sampler thread, in tick order,
and must be quick. Measurement windows (``begin_window``/``end_window`` or ``window()``) give the
energy, average power and duration of a stretch of time per device, like Zeus's ``ZeusMonitor``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from gpuscope.energy import EnergyMeter, EnergyTotals, sample_energy, window_source
from gpuscope.intervals import DEFAULT_INTERVAL_S, check_interval
from gpuscope.telemetry.model import (
    ActivitySampling,
    Device,
    DeviceInfo,
    DeviceLost,
    EnergySource,
    Reading,
    Sample,
)

DEFAULT_HISTORY_LEN = 1200  # 10 minutes at the default interval

Listener = Callable[[Sequence[Sample]], None]


@dataclass(frozen=True, slots=True)
class WindowResult:
    """Energy of one device over a measurement window. ``energy_j`` None: no counter, no power,
    no estimate. ``source`` is ESTIMATE if any interval of the window was estimated."""

    device_id: str
    duration_s: float
    energy_j: float | None
    avg_power_w: float | None
    source: EnergySource | None
    gap_intervals: int  # intervals neither counter nor power could cover
    device_lost: bool


@dataclass
class Window:
    """Handle yielded by ``Sampler.window``; ``results`` is filled when the block exits."""

    name: str
    results: dict[str, WindowResult] = field(default_factory=dict)


class Sampler:
    """Samples devices on a background thread at a fixed, drift-free interval.

    Thread-safety: ``history``, ``latest``, windows and ``tick`` may be called from any thread.
    Device reads are serialised by one lock, so a window edge never races the scheduled tick.
    Reading history takes only a short second lock, never the device lock, so a UI thread never
    waits on a slow (or hung) device read.
    """

    def __init__(
        self,
        devices: Sequence[Device],
        interval_s: float = DEFAULT_INTERVAL_S,
        history_len: int = DEFAULT_HISTORY_LEN,
        clock: Callable[[], float] = time.monotonic,
        history_s: float | None = None,
    ) -> None:
        """``history_len`` samples a device at most, and with ``history_s`` none older than
        that before the newest: what is kept then follows time, not the sampling interval."""
        self._interval_s = check_interval(interval_s)
        self._history_s = history_s
        self._devices = list(devices)
        self._clock = clock
        self._meters = {d.info.device_id: EnergyMeter() for d in self._devices}
        self._history_len = history_len
        self._history: dict[str, deque[Sample]] = {
            d.info.device_id: deque(maxlen=history_len) for d in self._devices
        }
        self._pending: list[Device] = []  # added while running: joined at the next tick
        self._infos = {d.info.device_id: d.info for d in self._devices}  # and the added ones
        self._lost: dict[str, str] = {}
        self._windows: dict[str, dict[str, EnergyTotals]] = {}
        self._listeners: tuple[Listener, ...] = ()
        self._activity_owners: set[str] = set()  # who wants activity counters (GPM) sampled
        # device id -> what it was last told; None: it has no activity counters
        self._activity_told: dict[str, bool | None] = {}
        self._lock = threading.RLock()  # device reads, energy meters, windows, listeners
        self._history_lock = threading.Lock()  # history and lost: held only to copy or append
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by stop() and by an interval change
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None  # what ended the loop early (see _run)
        self.ticks = 0
        self.missed_ticks = 0  # scheduled ticks skipped because a tick overran its slot

    @property
    def lost(self) -> dict[str, str]:
        """Device id -> why it was lost. Lost devices are not read again."""
        with self._history_lock:
            return dict(self._lost)

    @property
    def interval_s(self) -> float:
        return self._interval_s

    @interval_s.setter
    def interval_s(self, value: float) -> None:
        """Takes effect at once: a long wait for the next tick is cut short."""
        self._interval_s = check_interval(value)
        self._wake.set()

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(samples)`` on the sampler thread after every tick.

        Takes only the short lock: a UI may subscribe without waiting for a device read.
        """
        with self._history_lock:
            self._listeners = (*self._listeners, listener)

    def unsubscribe(self, listener: Listener) -> None:
        """Stop calling ``listener``; once this returns, no call to it is in progress."""
        with self._lock, self._history_lock:  # the device lock: no tick is mid-way through
            listeners = list(self._listeners)
            listeners.remove(listener)
            self._listeners = tuple(listeners)

    def want_activity(self, owner: str, wanted: bool = True) -> None:
        """Sample activity counters (GPM) while at least one owner wants them: a panel that
        shows them, a recording or an exporter that asks. They share the hardware counters with
        DCGM's profiling, so nobody wanting them means nobody reads them. Takes effect at the
        next tick; never waits for a device read."""
        with self._history_lock:
            if wanted:
                self._activity_owners.add(owner)
            else:
                self._activity_owners.discard(owner)

    @property
    def activity_wanted(self) -> bool:
        with self._history_lock:
            return bool(self._activity_owners)

    def add_device(self, device: Device) -> None:
        """Sample ``device`` from the next tick on (e.g. a remote host's newly seen GPU).

        Never waits for a tick in progress, so a UI thread may call it.
        """
        with self._history_lock:
            if device.info.device_id in self._history:
                raise ValueError(f"device {device.info.device_id} already sampled")
            self._history[device.info.device_id] = deque(maxlen=self._history_len)
            self._infos[device.info.device_id] = device.info
            self._pending.append(device)

    def device_info(self, device_id: str) -> DeviceInfo | None:
        """What the device sampled as ``device_id`` is (model, UUID); None if none is."""
        return self._infos.get(device_id)

    def history(self, device_id: str) -> list[Sample]:
        """Oldest first; at most ``history_len`` samples. Empty for a device not sampled yet."""
        with self._history_lock:
            return list(self._history.get(device_id, ()))

    def history_since(self, device_id: str, since_s: float, at_least: int = 2) -> list[Sample]:
        """Oldest first: the samples taken at ``since_s`` or later, and at least ``at_least``.
        Walks back from the newest, so its cost follows the stretch asked for, not how long
        gpuscope has been running (a full history is 6000 samples a device in the UI)."""
        with self._history_lock:
            samples = self._history.get(device_id, ())
            newest: list[Sample] = []
            for sample in reversed(samples):
                if sample.reading.time_s < since_s and len(newest) >= at_least:
                    break
                newest.append(sample)
        newest.reverse()
        return newest

    def latest(self, device_id: str) -> Sample | None:
        with self._history_lock:
            samples = self._history.get(device_id)
            return samples[-1] if samples else None

    # -- the loop ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("sampler already started")
        self._thread = threading.Thread(target=self._run, name="gpuscope-sampler", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop after the tick in progress; safe to call twice or before start."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the loop ends (stopped or failed) or the timeout passes; True if ended."""
        return self._stop.wait(timeout_s)

    def _run(self) -> None:
        """The loop; whatever ends it early (a listener's disk full, or any bug) is kept in
        ``error`` and ends ``wait``, so the thread never dies unseen."""
        try:
            self._loop()
        except BaseException as exc:
            self.error = exc
            self._stop.set()

    def _loop(self) -> None:
        interval = self._interval_s
        deadline = self._clock()
        while not self._stop.is_set():
            self.tick()  # a listener that raises (e.g. disk full) ends the loop: see _run
            if self._interval_s != interval:  # changed at run time: re-anchor the schedule
                interval = self._interval_s
                deadline = self._clock()
            deadline += interval
            now = self._clock()
            if deadline <= now:  # overran: skip whole slots, stay on the grid
                skipped = int((now - deadline) // interval) + 1
                self.missed_ticks += skipped
                deadline += skipped * interval
            if self._wake.wait(deadline - now):
                self._wake.clear()

    def tick(self) -> list[Sample]:
        """Read every device once now, account energy, store and publish the samples."""
        return self._take(publish=True)

    def _take(self, publish: bool) -> list[Sample]:
        """A sample of every device, accounted and kept in history; published to listeners only
        for a tick on the grid. A window edge (``publish`` False) reads the devices too, their
        energy counters included however recently read, so that its energy is exact; but a
        recording must not get an extra row off the grid for it."""
        with self._lock:
            with self._history_lock:
                added, self._pending = self._pending, []
                activity = bool(self._activity_owners)
            for device in added:
                self._devices.append(device)
                self._meters[device.info.device_id] = EnergyMeter()
            self._tell_activity(activity)
            samples = [
                self._sample(device, exact_energy=not publish)
                for device in self._devices
                if not self._is_done(device)
            ]
            with self._history_lock:
                for sample in samples:
                    kept = self._history[sample.device_id]
                    kept.append(sample)
                    if self._history_s is not None:
                        oldest_s = sample.reading.time_s - self._history_s
                        while kept[0].reading.time_s < oldest_s:
                            kept.popleft()
                self.ticks += publish
            if publish:
                for listener in self._listeners:  # a tuple: a listener may unsubscribe itself
                    listener(samples)
            return samples

    def _tell_activity(self, wanted: bool) -> None:
        """Tell each device that samples activity counters whether they are wanted, on change."""
        for device in self._devices:
            device_id = device.info.device_id
            told = self._activity_told.get(device_id, False)
            if told is None or (told == wanted and device_id in self._activity_told):
                continue
            if not isinstance(device, ActivitySampling):  # asked once per device
                self._activity_told[device_id] = None
                continue
            self._activity_told[device_id] = wanted
            device.want_activity(wanted)

    def _is_done(self, device: Device) -> bool:
        """Lost and its "lost" sample already published."""
        device_id = device.info.device_id
        if device_id not in self._lost:
            return False
        latest = self._history[device_id]
        return bool(latest) and latest[-1].lost

    def _mark_lost(self, device_id: str, reason: str) -> None:
        with self._history_lock:
            self._lost[device_id] = reason

    def _sample(self, device: Device, exact_energy: bool) -> Sample:
        info = device.info
        now = self._clock()
        meter = self._meters[info.device_id]
        if info.device_id not in self._lost:
            try:
                reading = device.read(now, exact_energy=exact_energy)
            except DeviceLost as exc:
                self._mark_lost(info.device_id, str(exc) or "device lost")
            except Exception as exc:  # one device's failure must not stop the others
                self._mark_lost(info.device_id, f"read failed: {type(exc).__name__}: {exc}")
            else:
                meter.add(reading)
                energy_j, source, bridged = sample_energy(meter)
                return Sample(
                    info.device_id, info.vendor, reading, energy_j, source, False, bridged
                )
        energy_j, source, bridged = sample_energy(meter)
        return Sample(
            info.device_id,
            info.vendor,
            Reading(time_s=now, wall_time_s=time.time()),
            energy_j,
            source,
            lost=True,
            energy_bridged=bridged,
        )

    # -- measurement windows ----------------------------------------------------------------

    def begin_window(self, name: str) -> None:
        """Start a named window now (takes a fresh sample so the edge is exact; listeners are
        not told of it)."""
        with self._lock:
            if name in self._windows:
                raise ValueError(f"window {name!r} already open")
            self._take(publish=False)
            self._windows[name] = self._snapshot()

    def end_window(self, name: str) -> dict[str, WindowResult]:
        """Close a window: per device, energy J, average W, duration s and the energy source."""
        with self._lock:
            begin = self._windows.pop(name)  # KeyError for an unknown window is a caller bug
            self._take(publish=False)
            end = self._snapshot()
            return {
                device_id: _window_result(
                    device_id, begin[device_id], end[device_id], device_id in self._lost
                )
                for device_id in begin
            }

    @contextmanager
    def window(self, name: str) -> Iterator[Window]:
        handle = Window(name)
        self.begin_window(name)
        try:
            yield handle
        finally:
            handle.results = self.end_window(name)

    def _snapshot(self) -> dict[str, EnergyTotals]:
        snapshot = {}
        now = self._clock()
        for device_id, meter in self._meters.items():
            snapshot[device_id] = meter.totals or EnergyTotals(time_s=now)
        return snapshot


def _window_result(
    device_id: str, begin: EnergyTotals, end: EnergyTotals, lost: bool
) -> WindowResult:
    duration_s = end.time_s - begin.time_s
    source = window_source(begin, end)  # any estimate makes it an estimate
    energy_j = end.energy_j - begin.energy_j if source is not None else None
    return WindowResult(
        device_id=device_id,
        duration_s=duration_s,
        energy_j=energy_j,
        avg_power_w=energy_j / duration_s if energy_j is not None and duration_s > 0 else None,
        source=source,
        gap_intervals=max(end.gap_intervals - begin.gap_intervals, 0),
        device_lost=lost,
    )


def stopped_line(error: BaseException) -> str:
    """What ended sampling, in one line for every face: the error's kind, and its message where
    it has one (a bare ``NotImplementedError`` has none, and "sampling stopped: " said nothing)."""
    message = " ".join(str(error).split())
    return f"sampling stopped: {type(error).__name__}" + (f": {message}" if message else "")
