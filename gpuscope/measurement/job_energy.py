"""Energy, GPU time and activity per job and device, on one node: what each job cost and
whether it used what it held. (Interface landed first; the accounting follows.)"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gpuscope.telemetry.job_owner import ProcessOwner
from gpuscope.telemetry.model import EnergySource, Sample

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
    ``energy_source``: counter or integrated); ``estimate_j`` by its processes' SM shares (an
    estimate). ``held_s``: seconds it was listed at both ends of an interval; ``alone_s``: of
    those, as the device's only job; ``busy_s`` (GPU utilization), ``sm_active_s`` and
    ``tensor_active_s`` (GPM) are fractions x alone seconds, over ``activity_s`` for GPM.
    ``processes``: listed now (0 once it ended); ``started_s``: its earliest process's start
    (Unix time); ``last_seen_s``: the sampler clock when it was last listed."""

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


class JobLedger:
    """A sampler listener: takes every sample and keeps ``JobUse`` per (job, device).
    Thread-safe: the sampler thread adds, the exporter reads."""

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
        self._uses: dict[tuple[str, str], JobUse] = {}

    def add(self, samples: Sequence[Sample]) -> None:
        raise NotImplementedError  # the accounting lands next

    def uses(self) -> list[JobUse]:
        """Every (job, device) kept now: those listed, and those ended within ``keep_s``."""
        with self._lock:
            return list(self._uses.values())
