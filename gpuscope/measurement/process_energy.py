"""Energy per GPU process: the device's measured energy, attributed by SM share. An estimate.

The model, interval by interval (between two samples of one device):

- ``E`` is the device's energy over the interval, as the sampler accounted it (hardware counter
  or integrated power).
- Each process listed at the interval's end with an SM share ``s`` (its % of the SMs over the
  driver's last sampling window) is charged ``E * s / 100``. Shares that add up to more than
  100 % (the driver's windows do not line up with ours) are scaled down to 100 %.
- What no process is charged for stays **unattributed**: the device's idle power, the part of
  the interval the SMs were not busy, and every interval in which the driver reported no
  per-process shares (not supported, as on the H100 with driver 580; or a sample without a
  process list). A process that starts or ends within an interval is charged by the share the
  driver reported at the interval's end: an interval it was not listed at the end of is not
  charged to it.

So, per device, the attributed energies plus the unattributed remainder add up to the device's
measured energy exactly; ``ProcessEnergyLedger`` keeps those sums. A process's figures run from
the start of the interval it first appeared in; once it is no longer listed it moves to the
departed (its energy stays in the device's attributed sum), so a reused pid starts from zero.
Attribution is a model, so every per-process figure is labelled ``estimate`` wherever shown.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from gpuscope.telemetry.model import EnergySource, ProcessUsage, Sample

SOURCE = EnergySource.ESTIMATE  # what every attributed figure is labelled
DEPARTED_KEPT = 1000  # ended processes remembered, newest first out last


@dataclass(frozen=True, slots=True)
class ProcessEnergy:
    """One process's attributed energy on one device, since gpuscope first saw it there."""

    device_id: str
    pid: int
    energy_j: float
    first_seen_s: float
    last_seen_s: float

    @property
    def avg_power_w(self) -> float | None:
        """Its average attributed power since first seen; None before a whole interval."""
        seconds = self.last_seen_s - self.first_seen_s
        return self.energy_j / seconds if seconds > 0 else None


@dataclass(frozen=True, slots=True)
class DeviceLedger:
    """A device's measured energy since the ledger began, and how much of it is attributed."""

    device_id: str
    measured_j: float
    attributed_j: float

    @property
    def unattributed_j(self) -> float:
        return self.measured_j - self.attributed_j


class ProcessEnergyLedger:
    """Takes every sample (a sampler listener) and keeps the attribution above. Thread-safe:
    the sampler thread adds, a view reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, Sample] = {}
        self._processes: dict[tuple[str, int], ProcessEnergy] = {}
        self._devices: dict[str, DeviceLedger] = {}
        self._departed: deque[ProcessEnergy] = deque(maxlen=DEPARTED_KEPT)  # the newest ended

    def add(self, samples: Sequence[Sample]) -> None:
        with self._lock:
            for sample in samples:
                self._add(sample)

    def _add(self, sample: Sample) -> None:
        device_id, now = sample.device_id, sample.reading.time_s
        before, self._last[device_id] = self._last.get(device_id), sample
        listed = sample.reading.processes or ()
        # A process no longer listed is forgotten: a pid that comes back (reused by another
        # process) starts from zero, and a long run does not keep every short job.
        pids = {p.pid for p in listed}
        for key in [k for k in self._processes if k[0] == device_id and k[1] not in pids]:
            self._departed.append(self._processes.pop(key))
        # A new process's clock starts where the interval it arrived in starts, as its first
        # charge covers that interval: its average power is then the charge over its time.
        start = before.reading.time_s if before is not None else now
        for process in listed:
            key = (device_id, process.pid)
            known = self._processes.get(key)
            self._processes[key] = (
                ProcessEnergy(device_id, process.pid, 0.0, start, now)
                if known is None
                else ProcessEnergy(device_id, process.pid, known.energy_j, known.first_seen_s, now)
            )
        if before is None or before.energy_j is None or sample.energy_j is None or sample.lost:
            return
        energy = sample.energy_j - before.energy_j
        if energy < 0:  # the sampler's accounting never goes back; guard all the same
            return
        shares = {p.pid: p.sm_pct for p in listed}
        known_shares = {pid: s for pid, s in shares.items() if s is not None}
        total = sum(known_shares.values())
        scale = 100.0 / total if total > 100.0 else 1.0
        attributed = 0.0
        if known_shares and len(known_shares) == len(shares):
            for pid, share in known_shares.items():
                charged = energy * share * scale / 100.0
                attributed += charged
                key = (device_id, pid)
                entry = self._processes[key]
                self._processes[key] = ProcessEnergy(
                    device_id, pid, entry.energy_j + charged, entry.first_seen_s, now
                )
        ledger = self._devices.get(device_id, DeviceLedger(device_id, 0.0, 0.0))
        self._devices[device_id] = DeviceLedger(
            device_id, ledger.measured_j + energy, ledger.attributed_j + attributed
        )

    def process(self, device_id: str, pid: int) -> ProcessEnergy | None:
        with self._lock:
            return self._processes.get((device_id, pid))

    def charged(self, device_id: str, process: ProcessUsage) -> ProcessEnergy | None:
        """What ``process`` is charged, as every face shows and records it: None (n/a, not
        0 J) where the driver gives it no SM share now, since nothing is then attributed."""
        return self.process(device_id, process.pid) if process.sm_pct is not None else None

    def processes(self) -> list[ProcessEnergy]:
        with self._lock:
            return list(self._processes.values())

    def departed(self) -> list[ProcessEnergy]:
        """Processes no longer listed, with what they were charged (the newest ones)."""
        with self._lock:
            return list(self._departed)

    def device(self, device_id: str) -> DeviceLedger | None:
        with self._lock:
            return self._devices.get(device_id)
