"""Energy per GPU process: the device's measured energy, charged to its processes.

The model, interval by interval (between two samples of one device):

- ``E`` is the device's energy over the interval, as the sampler accounted it (hardware counter
  or integrated power). Where the counter is read once a second, the samples between carry a
  *bridge* of integrated power (``Sample.energy_bridged``) that the next counter reading settles
  (``gpuscope.energy``): the charges made on the bridge are then scaled, interval by interval, to
  the counter's figure for the whole stretch (each interval's power integral x counter / the
  stretch's power integral), those of a process that ended within it included. So no interval
  takes the whole stretch's correction, and no charge turns negative.
- **By SM share** (``ChargeBasis.SM_SHARE``, an estimate): each process listed at the interval's
  end with an SM share ``s`` (its % of the SMs over the driver's last sampling window) is charged
  ``E * s / 100``. Shares that add up to more than 100 % (the driver's windows do not line up with
  ours) are scaled down to 100 %. A process that starts or ends within an interval is charged by
  the share the driver reported at the interval's end: an interval it was not listed at the end
  of is not charged to it.
- **As the sole process** (``ChargeBasis.SOLE``): where the driver gives no per-process shares
  (NotSupported, as on the H100 with driver 580) and the same one compute process (kind ``C`` or
  ``C+G``) is the only one listed at both ends of the interval, it is charged all of ``E``: the
  GPU's measured energy while it alone held the GPU, idle power included. Graphics-only processes
  (a display server) are not charged; any draw of theirs is in the sole process's figure.
- What no process is charged for stays **unattributed**: the device's idle power and the part of
  the interval the SMs were not busy (by share), and every interval no rule covers, with its
  reason (``Unattributed``): several processes and no shares, no compute process, the process
  list changed within the interval, or no process list.

So, per device, the attributed energies plus the unattributed remainder add up to the device's
measured energy exactly; ``ProcessEnergyLedger`` keeps those sums. A process's figures run from
the start of the interval it first appeared in; once it is no longer listed it moves to the
departed (its energy stays in the device's attributed sum), so a reused pid starts from zero.
Every per-process figure is shown with its basis: by SM share it is labelled ``estimate``; as the
sole process, with the device's own energy source (``counter``, ``integrated``, ...).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

from gpuscope.measurement.interval_energy import (
    Bridges,
    ChargeBasis,
    Unattributed,
    interval_charges,
)
from gpuscope.telemetry.model import EnergySource, ProcessUsage, Sample

SOURCE = EnergySource.ESTIMATE  # what every figure charged by SM share is labelled
DEPARTED_KEPT = 1000  # ended processes remembered, newest first out last


@dataclass(frozen=True, slots=True)
class ProcessEnergy:
    """One process's attributed energy on one device, since gpuscope first saw it there."""

    device_id: str
    pid: int
    energy_j: float
    first_seen_s: float
    last_seen_s: float
    # how it was charged: by SM share if ever so (its figure is then an estimate), else as the
    # sole process; None: never charged
    basis: ChargeBasis | None = None

    @property
    def avg_power_w(self) -> float | None:
        """Its average attributed power since first seen; None before a whole interval."""
        seconds = self.last_seen_s - self.first_seen_s
        return self.energy_j / seconds if seconds > 0 else None


@dataclass(frozen=True, slots=True)
class DeviceLedger:
    """A device's measured energy since the ledger began, and how much of it is attributed.
    ``sole_pid`` / ``unattributed_why``: the newest interval's charge, as the sole process's
    or left unattributed, with why (both None: charged by SM share)."""

    device_id: str
    measured_j: float
    attributed_j: float
    sole_pid: int | None = None
    unattributed_why: Unattributed | None = None

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
        self._bridges: Bridges[int] = Bridges()  # charges awaiting the counter, by pid

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
                else replace(known, last_seen_s=now)
            )
        if before is None:
            return
        split = self._bridges.interval(before, sample)
        if split is None:
            return
        attributed = 0.0
        if split.settled is not None:  # the bridge's charges become their share of the counter
            for pid, charged in split.settled.charged.items():
                attributed += self._charge(device_id, pid, charged * (split.scale - 1.0), None)
        charges = interval_charges(
            before.reading.processes, sample.reading.processes, lambda p: p.pid
        )
        for pid, fraction in charges.fractions.items():
            charged = self._charge(device_id, pid, split.own_j * fraction, charges.basis)
            attributed += charged
            if split.provisional:
                self._bridges.charge(device_id, pid, charged)
        ledger = self._devices.get(device_id, DeviceLedger(device_id, 0.0, 0.0))
        self._devices[device_id] = DeviceLedger(
            device_id,
            ledger.measured_j + split.measured_j,
            ledger.attributed_j + attributed,
            charges.sole,
            charges.why,
        )

    def _charge(self, device_id: str, pid: int, joules: float, basis: ChargeBasis | None) -> float:
        """Add ``joules`` to a process, listed or ended within a bridge (None ``basis``: a
        settling correction, its basis as it was); returns what was charged."""
        key = (device_id, pid)
        entry = self._processes.get(key)
        if entry is None:  # it ended within the bridge: correct its departed record
            for index in range(len(self._departed) - 1, -1, -1):
                gone = self._departed[index]
                if (gone.device_id, gone.pid) == key:
                    self._departed[index] = replace(gone, energy_j=gone.energy_j + joules)
                    return joules
            return 0.0  # forgotten (beyond DEPARTED_KEPT): left unattributed
        kept = entry.basis if basis is None else basis
        if ChargeBasis.SM_SHARE in (entry.basis, basis):
            kept = ChargeBasis.SM_SHARE
        self._processes[key] = replace(entry, energy_j=entry.energy_j + joules, basis=kept)
        return joules

    def process(self, device_id: str, pid: int) -> ProcessEnergy | None:
        with self._lock:
            return self._processes.get((device_id, pid))

    def charged(self, device_id: str, process: ProcessUsage) -> ProcessEnergy | None:
        """What ``process`` is charged, as every face shows and records it: None (n/a, not
        0 J) unless it is being charged now, by its SM share or as its device's sole process;
        the device's ``unattributed_why`` then says why not."""
        with self._lock:
            entry = self._processes.get((device_id, process.pid))
            device = self._devices.get(device_id)
        if entry is None:
            return None
        if process.sm_pct is not None:  # by share: 0 J before its first whole interval
            return entry if entry.basis is not None else replace(entry, basis=ChargeBasis.SM_SHARE)
        return entry if device is not None and device.sole_pid == process.pid else None

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
