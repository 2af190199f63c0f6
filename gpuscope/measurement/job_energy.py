"""Energy, GPU time and activity per job and device, on one node: what each job cost and
whether it used what it held, kept after its processes exit (``JOB_KEEP_S``, then dropped, so
memory and the exporter's series stay bounded). Aggregation across nodes is Prometheus's."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

from gpuscope.measurement.interval_energy import Bridges, ChargeBasis, interval_charges
from gpuscope.telemetry.job_owner import ProcessOwner
from gpuscope.telemetry.model import EnergySource, ProcessUsage, Reading, Sample

JOB_KEEP_S = 600.0  # a job's figures stay this long after its last process left the device
JOB_ENTRIES_MAX = 1000  # (job, device) entries kept at most: the longest gone are dropped first
UNKNOWN_JOB = "unknown"  # processes whose owner /proc does not show (another pid namespace)


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


@dataclass(slots=True)
class _Use:
    """A ``JobUse`` being added to (the sampler thread's own; ``uses`` hands out copies)."""

    user: str
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


# A charge's key on a bridge: the job, and whether it was charged by SM share (an estimate).
_BridgeKey = tuple[str, bool]


class JobLedger:
    """A sampler listener: takes every sample and keeps ``JobUse`` per (job, device).

    Each interval of a device (between two of its samples) is charged by the rules of
    ``interval_energy`` with the job as the key: by SM share where the driver gives shares (an
    estimate), else the whole interval to the only job whose compute processes are listed at
    both ends (several processes of one job included), else to no job. A job *holds* the device
    over an interval it is listed at both ends of, and holds it *alone* where it is the only job
    listed at both ends; GPU busy and GPM activity are the device's over its alone intervals
    (with another job on the device, the device's activity is not this job's). A pid /proc does
    not place (another pid namespace) is a job of its own for the rules, and adds to
    ``UNKNOWN_JOB``. Thread-safe: the sampler thread adds, the exporter reads."""

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
        self._uses: dict[tuple[str, str], _Use] = {}  # (job, device id) -> its use
        self._last: dict[str, Sample] = {}
        self._on_device: dict[str, set[str]] = {}  # device id -> the jobs it listed last
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

    def _job_of(self, process: ProcessUsage) -> str:
        owner = self._owners.read(process.pid)
        return owner.job if owner is not None else f"{UNKNOWN_JOB}#{process.pid}"

    def _add(self, sample: Sample) -> None:
        device_id, reading = sample.device_id, sample.reading
        before, self._last[device_id] = self._last.get(device_id), sample
        if sample.lost:
            return
        now_jobs = self._listed(device_id, reading.processes or (), reading)
        if before is None:
            return
        dt = reading.time_s - before.reading.time_s
        before_jobs = {self._job_of(p) for p in before.reading.processes or ()}
        for job in {_folded(job) for job in now_jobs & before_jobs}:
            self._use(job, device_id).held_s += dt
        if len(now_jobs) == 1 and before_jobs == now_jobs:
            self._alone(self._use(next(iter(now_jobs)), device_id), reading, dt)
        self._charge(before, sample)

    def _listed(self, device_id: str, processes: Sequence[ProcessUsage], now: Reading) -> set[str]:
        """Count each job's processes on the device now; returns the jobs listed."""
        counts: dict[str, int] = {}
        for process in processes:
            job = self._job_of(process)
            counts[job] = counts.get(job, 0) + 1
            started = (owner := self._owners.read(process.pid)) and owner.started_s
            use = self._use(job, device_id, owner.user if owner else UNKNOWN_JOB)
            if started and (use.started_s is None or started < use.started_s):
                use.started_s = started
        for job in self._on_device.pop(device_id, ()):  # those listed before: 0 unless listed now
            if (listed := self._uses.get((job, device_id))) is not None:
                listed.processes = 0
        for job, count in counts.items():
            use = self._use(job, device_id)
            use.processes = use.processes + count
            use.last_seen_s, use.last_seen_unix_s = now.time_s, now.wall_time_s
        self._on_device[device_id] = {_folded(job) for job in counts}
        return set(counts)

    def _use(self, job: str, device_id: str, user: str = UNKNOWN_JOB) -> _Use:
        """The entry a job's figures add to; every pid /proc does not place adds to one."""
        job = _folded(job)
        use = self._uses.get((job, device_id))
        if use is None:
            use = self._uses[(job, device_id)] = _Use(user)
        return use

    @staticmethod
    def _alone(use: _Use, reading: Reading, dt: float) -> None:
        """The device's busy and activity over an interval the job held it alone (each an
        interval's figure: NVML utilization over its last period, GPM since the last read)."""
        use.alone_s += dt
        if reading.util_gpu_pct is not None:
            use.busy_s = (use.busy_s or 0.0) + reading.util_gpu_pct / 100 * dt
        if reading.sm_active_pct is not None:
            use.activity_s += dt
            use.sm_active_s += reading.sm_active_pct / 100 * dt
            use.tensor_active_s += (reading.tensor_active_pct or 0.0) / 100 * dt

    def _charge(self, before: Sample, sample: Sample) -> None:
        """The interval's energy to the jobs: only settled figures are added (a bridge's
        charges when the counter settles them), so every total only grows: a counter."""
        device_id = sample.device_id
        split = self._bridges.interval(before, sample)
        if split is None:
            return
        if split.settled is not None:
            for (job, estimate), charged in split.settled.charged.items():
                self._add_energy(job, device_id, charged * split.scale, estimate, sample)
        charges = interval_charges(before.reading.processes, sample.reading.processes, self._job_of)
        estimate = charges.basis is ChargeBasis.SM_SHARE
        for job, fraction in charges.fractions.items():
            joules = split.own_j * fraction
            if split.provisional:
                self._bridges.charge(device_id, (job, estimate), joules)
            else:
                self._add_energy(job, device_id, joules, estimate, sample)

    def _add_energy(
        self, job: str, device_id: str, joules: float, estimate: bool, sample: Sample
    ) -> None:
        use = self._use(job, device_id)
        if estimate:
            use.estimate_j += max(joules, 0.0)
        else:
            use.energy_j += max(joules, 0.0)
            # the label of an exported counter must not change: a series that changes its label
            # restarts from the whole total, which breaks rate() and increase() across the change
            use.energy_source = use.energy_source or sample.energy_source

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
        """Every (job, device) kept now: those listed, and those ended within ``keep_s``."""
        with self._lock:
            return [
                JobUse(job=job, device_id=device, **asdict(use))
                for (job, device), use in self._uses.items()
            ]


def _folded(job: str) -> str:
    """The entry a job adds to: every pid /proc does not place (``unknown#PID``, a job of its
    own for the charging rules) adds to ``UNKNOWN_JOB``."""
    return UNKNOWN_JOB if job.startswith(UNKNOWN_JOB + "#") else job
