"""Energy, GPU time and activity per job and device, on one node: what each job cost and
whether it used what it held, kept after its processes exit (``JOB_KEEP_S``, then dropped, so
memory and the exporter's series stay bounded). Aggregation across nodes is Prometheus's."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from gpuscope.measurement.interval_energy import Bridges, ChargeBasis, interval_charges
from gpuscope.telemetry.job_owner import ProcessOwner
from gpuscope.telemetry.model import EnergySource, ProcessUsage, Reading, Sample

JOB_KEEP_S = 600.0  # a job's figures stay this long after its last process left the device
# ... and at least this long: its last energy is settled up to ~1 s after it ends (the counter's
# next read), and a scrape must see the settled figure before the series goes
JOB_KEEP_MIN_S = 10.0
JOB_ENTRIES_MAX = 1000  # (job, device) entries kept at most: the longest gone are dropped first
UNKNOWN_JOB = "unknown"  # processes whose owner /proc does not show (another pid namespace)
# Whom the ledger charges: (job, user). A job's processes run as its user; keyed by both, a
# process of another user's in the same job (were one placed there) is never merged into it.
Holder = tuple[str, str]


class OwnerLookup(Protocol):
    """Where the ledger learns whom a pid belongs to (``telemetry.job_owner.JobOwners``)."""

    def read(self, pid: int) -> ProcessOwner | None: ...

    def forget_exited(self, alive: set[int]) -> None: ...


@dataclass(frozen=True, slots=True)
class JobUse:
    """One job's use of one device since this ledger first saw it there.

    ``energy_j`` was charged as the device's only job (the device's measured energy, labelled
    ``energy_source``: the device's source when the job was first charged, kept so an exported
    series keeps its labels); ``estimate_j`` by its processes' SM shares (an
    estimate). ``held_s``: seconds it was listed at both ends of an interval; ``alone_s``: of
    those, as the device's only job; ``busy_s`` (GPU utilization), ``sm_active_s`` and
    ``tensor_active_s`` (GPM) are fractions x alone seconds, over ``activity_s`` for GPM.
    ``processes``: listed now (0 once it ended); ``started_s``: its earliest process's start
    (Unix time); ``last_seen_s``: the sampler clock when it was last listed, and
    ``last_seen_unix_s`` the same instant in Unix time (its running time ends there)."""

    job: str
    user: str
    device_id: str
    energy_j: float = 0.0
    energy_source: EnergySource | None = None
    estimate_j: float = 0.0
    held_s: float = 0.0
    alone_s: float = 0.0
    busy_s: float | None = None
    activity_s: float = 0.0
    sm_active_s: float = 0.0
    tensor_active_s: float = 0.0
    processes: int = 0
    started_s: float | None = None
    last_seen_s: float = 0.0
    last_seen_unix_s: float | None = None


# A charge's key on a bridge: who, and whether it was charged by SM share (an estimate).
_BridgeKey = tuple[Holder, bool]


class JobLedger:
    """A sampler listener: takes every sample and keeps ``JobUse`` per (job, user, device).

    Each interval of a device (between two of its samples) is charged by the rules of
    ``interval_energy`` with the job as the key: by SM share where the driver gives shares (an
    estimate), else the whole interval to the only job whose compute processes are listed at
    both ends (several processes of one job included), else to no job. A job *holds* the device
    over an interval it is listed at both ends of, and holds it *alone* where it is the only job
    listed at both ends; GPU busy and GPM activity are the device's over its alone intervals
    (with another job on the device, the device's activity is not this job's). A pid /proc does
    not place (another pid namespace) is a job of its own for the rules, and adds to
    ``UNKNOWN_JOB``. Thread-safe: the sampler thread adds, the exporter reads copies."""

    def __init__(
        self,
        owners: OwnerLookup,
        *,
        keep_s: float = JOB_KEEP_S,
        entries_max: int = JOB_ENTRIES_MAX,
        skip_devices: frozenset[str] = frozenset(),
    ) -> None:
        self._owners = owners
        self.keep_s, self.entries_max = keep_s, entries_max
        self._skip = skip_devices
        self._lock = threading.Lock()
        self._uses: dict[tuple[Holder, str], JobUse] = {}  # (holder, device id) -> its use
        self._last: dict[str, Sample] = {}
        self._on_device: dict[str, set[Holder]] = {}  # device id -> who it listed last
        self._bridges: Bridges[_BridgeKey] = Bridges()

    def add(self, samples: Sequence[Sample]) -> None:
        with self._lock:
            alive: set[int] = set()
            for sample in samples:
                if sample.device_id in self._skip:
                    continue
                alive.update(p.pid for p in sample.reading.processes or ())
                self._add(sample)
            self._owners.forget_exited(alive)
            if samples:
                self._expire(max(s.reading.time_s for s in samples))

    def _holder(self, process: ProcessUsage) -> Holder:
        owner = self._owners.read(process.pid)
        if owner is None:  # a job of its own for the rules; its figures add to UNKNOWN_JOB
            return f"{UNKNOWN_JOB}#{process.pid}", UNKNOWN_JOB
        return owner.job, owner.user

    def _add(self, sample: Sample) -> None:
        device_id, reading = sample.device_id, sample.reading
        before, self._last[device_id] = self._last.get(device_id), sample
        if sample.lost:
            return
        now = self._listed(device_id, reading.processes or (), reading)
        if before is None:
            return
        dt = reading.time_s - before.reading.time_s
        earlier = {self._holder(p) for p in before.reading.processes or ()}
        for holder in {_folded(h) for h in now & earlier}:
            self._update(holder, device_id, held_s=self._get(holder, device_id).held_s + dt)
        if len(now) == 1 and earlier == now:
            self._alone(_folded(next(iter(now))), device_id, reading, dt)
        self._charge(before, sample)

    def _listed(
        self, device_id: str, processes: Sequence[ProcessUsage], now: Reading
    ) -> set[Holder]:
        """Count each holder's processes on the device now, and when they started; returns who
        is listed."""
        counts: dict[Holder, int] = {}
        started: dict[Holder, float] = {}
        for process in processes:
            holder = _folded(self._holder(process))
            counts[holder] = counts.get(holder, 0) + 1
            owner = self._owners.read(process.pid)
            if owner is not None and owner.started_s is not None:
                started[holder] = min(started.get(holder, owner.started_s), owner.started_s)
        for holder in self._on_device.pop(device_id, ()):  # listed before: 0 unless listed now
            if (holder, device_id) in self._uses:
                self._update(holder, device_id, processes=0)
        for holder, count in counts.items():
            use = self._get(holder, device_id)
            first = started.get(holder)
            if use.started_s is not None and (first is None or use.started_s < first):
                first = use.started_s
            self._update(
                holder, device_id, processes=count, started_s=first,
                last_seen_s=now.time_s, last_seen_unix_s=now.wall_time_s,
            )  # fmt: skip
        self._on_device[device_id] = set(counts)
        return {self._holder(p) for p in processes}

    def _get(self, holder: Holder, device_id: str) -> JobUse:
        use = self._uses.get((holder, device_id))
        return use if use is not None else JobUse(holder[0], holder[1], device_id)

    def _update(self, holder: Holder, device_id: str, **changes: object) -> None:
        self._uses[(holder, device_id)] = replace(self._get(holder, device_id), **changes)  # type: ignore[arg-type]

    def _alone(self, holder: Holder, device_id: str, reading: Reading, dt: float) -> None:
        """The device's busy and activity over an interval the job held it alone (each an
        interval's figure: NVML utilization over its last period, GPM since the last read)."""
        use = self._get(holder, device_id)
        busy = use.busy_s
        if reading.util_gpu_pct is not None:
            busy = (busy or 0.0) + reading.util_gpu_pct / 100 * dt
        activity = (use.activity_s, use.sm_active_s, use.tensor_active_s)
        if reading.sm_active_pct is not None:
            activity = (
                use.activity_s + dt,
                use.sm_active_s + reading.sm_active_pct / 100 * dt,
                use.tensor_active_s + (reading.tensor_active_pct or 0.0) / 100 * dt,
            )
        self._update(
            holder, device_id, alone_s=use.alone_s + dt, busy_s=busy, activity_s=activity[0],
            sm_active_s=activity[1], tensor_active_s=activity[2],
        )  # fmt: skip

    def _charge(self, before: Sample, sample: Sample) -> None:
        """The interval's energy to the jobs: only settled figures are added (a bridge's
        charges when the counter settles them), so every total only grows: a counter."""
        device_id = sample.device_id
        split = self._bridges.interval(before, sample)
        if split is None:
            return
        if split.settled is not None:
            for (holder, estimate), charged in split.settled.charged.items():
                self._add_energy(holder, device_id, charged * split.scale, estimate, sample)
        charges = interval_charges(before.reading.processes, sample.reading.processes, self._holder)
        estimate = charges.basis is ChargeBasis.SM_SHARE
        for holder, fraction in charges.fractions.items():
            joules = split.own_j * fraction
            if split.provisional:
                self._bridges.charge(device_id, (holder, estimate), joules)
            else:
                self._add_energy(holder, device_id, joules, estimate, sample)

    def _add_energy(
        self, holder: Holder, device_id: str, joules: float, estimate: bool, sample: Sample
    ) -> None:
        holder, joules = _folded(holder), max(joules, 0.0)
        use = self._get(holder, device_id)
        if estimate:
            self._update(holder, device_id, estimate_j=use.estimate_j + joules)
        else:
            # the label of an exported counter must not change: a series that changes its label
            # restarts from the whole total, which breaks rate() and increase() across the change
            source = use.energy_source or sample.energy_source
            self._update(holder, device_id, energy_j=use.energy_j + joules, energy_source=source)

    def _expire(self, now_s: float) -> None:
        """Drop jobs gone for ``keep_s``; past ``entries_max``, the longest gone first."""
        for key in [
            key
            for key, use in self._uses.items()
            if use.processes == 0 and now_s - use.last_seen_s > self.keep_s
        ]:
            del self._uses[key]
        excess = len(self._uses) - self.entries_max
        if excess > 0:
            by_age = sorted(
                self._uses, key=lambda k: (self._uses[k].processes > 0, self._uses[k].last_seen_s)
            )
            for key in by_age[:excess]:
                del self._uses[key]

    def uses(self) -> list[JobUse]:
        """Every (job, user, device) kept now: those listed, and those ended within ``keep_s``
        (frozen records: safe to read while the sampler adds)."""
        with self._lock:
            return list(self._uses.values())


def _folded(holder: Holder) -> Holder:
    """The entry a holder adds to: every pid /proc does not place (``unknown#PID``, a job of
    its own for the charging rules) adds to ``UNKNOWN_JOB``."""
    return (UNKNOWN_JOB, UNKNOWN_JOB) if holder[0].startswith(UNKNOWN_JOB + "#") else holder
