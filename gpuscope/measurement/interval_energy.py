"""One interval of one device's energy, split among whoever held it: the rules both ledgers
charge by, per process (``process_energy``) and per job (``job_energy``).

``interval_charges`` says who is charged what fraction of an interval, grouping the listed
processes by a key (the pid, or the job): by SM share where the driver gives shares (an
estimate), else all of it to the only key whose compute processes are listed at both ends
(with the pid as the key, the sole process; with the job, the sole job), else no one, with why.
``Bridges`` says how much energy that is: a device whose counter is read about once a second
carries a *bridge* of integrated power between readings (``Sample.energy_bridged``); the
charges made on it are provisional until the next counter reading, which gives the scale that
turns each of them into its share of the counter's figure. See ``process_energy``'s docstring
for the model in full.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from gpuscope.energy import trapezoid_j
from gpuscope.telemetry.model import ProcessUsage, Sample

K = TypeVar("K", bound=Hashable)
COMPUTE_KINDS = frozenset({"C", "C+G"})


class ChargeBasis(str, enum.Enum):
    """How energy was charged; the values are written to ``record --processes``."""

    SM_SHARE = "sm share"  # the GPU's energy x the SM share: an estimate
    SOLE = "sole process"  # the GPU's whole measured energy: the only one computing on it


class Unattributed(str, enum.Enum):
    """Why an interval's energy was charged to no one (the values are shown and written)."""

    SEVERAL = "several processes, no SM shares"
    NO_COMPUTE = "no compute process"
    CHANGED = "process list changed"  # a process started or ended within the interval
    NO_LIST = "no process list"
    PARTIAL = "SM shares missing for some processes"
    UNKNOWN_KIND = "no SM shares, process kind unknown"


@dataclass(frozen=True, slots=True)
class Charges(Generic[K]):
    """An interval's charges: key -> fraction of its energy; their basis; the sole key (None
    by share); why nothing was charged (None where something was)."""

    fractions: dict[K, float]
    basis: ChargeBasis | None = None
    sole: K | None = None
    why: Unattributed | None = None


def interval_charges(
    before: tuple[ProcessUsage, ...] | None,
    after: tuple[ProcessUsage, ...] | None,
    key: Callable[[ProcessUsage], K],
) -> Charges[K]:
    """Who holding the device over an interval is charged what share of its energy."""
    if after is None:
        return Charges({}, why=Unattributed.NO_LIST)
    shares = {p.pid: p.sm_pct for p in after}
    known = {pid: share for pid, share in shares.items() if share is not None}
    if known and len(known) < len(shares):
        return Charges({}, why=Unattributed.PARTIAL)
    if known:
        total = sum(known.values())
        scale = 100.0 / total if total > 100.0 else 1.0
        fractions: dict[K, float] = {}
        for process in after:
            held = key(process)
            fractions[held] = fractions.get(held, 0.0) + known[process.pid] * scale / 100.0
        return Charges(fractions, ChargeBasis.SM_SHARE)
    computing = {key(p) for p in after if p.kind in COMPUTE_KINDS}
    if len(computing) > 1:
        return Charges({}, why=Unattributed.SEVERAL)
    if not computing:
        unknown = any(p.kind is None for p in after)  # amdsmi names no kind
        return Charges({}, why=Unattributed.UNKNOWN_KIND if unknown else Unattributed.NO_COMPUTE)
    if {key(p) for p in before or () if p.kind in COMPUTE_KINDS} != computing:
        return Charges({}, why=Unattributed.CHANGED)
    (sole,) = computing
    return Charges({sole: 1.0}, ChargeBasis.SOLE, sole)


@dataclass
class Bridge(Generic[K]):
    """A device's provisional charges since its last counter reading."""

    integrated_j: float = 0.0  # the stretch's power integral so far
    charged: dict[K, float] = field(default_factory=dict)  # key -> J charged on it


@dataclass(frozen=True, slots=True)
class IntervalEnergy(Generic[K]):
    """What one interval gives to charge. ``measured_j``: the device's energy over it as the
    sampler accounted it (a reading that settles a bridge may make it negative); ``own_j``: what
    this interval's charges split; ``settled``: the bridge this reading settled, whose charges
    are each worth ``scale`` times what was charged; ``provisional``: this interval is on a
    bridge, so its charges await the counter (``Bridges.charge`` them)."""

    measured_j: float
    own_j: float
    settled: Bridge[K] | None = None
    scale: float = 1.0
    provisional: bool = False


class Bridges(Generic[K]):
    """The open bridges of one ledger's devices. Not thread-safe: its ledger's lock guards it."""

    def __init__(self) -> None:
        self._open: dict[str, Bridge[K]] = {}

    def interval(self, before: Sample, sample: Sample) -> IntervalEnergy[K] | None:
        """The interval from ``before`` to ``sample`` of one device; None where either end has
        no energy or the sample is lost (an open bridge stays open: the counter reading that
        settles it comes later)."""
        if before.energy_j is None or sample.energy_j is None or sample.lost:
            return None
        energy = sample.energy_j - before.energy_j
        bridge = self._open.pop(sample.device_id, None)
        if sample.energy_bridged:
            bridge = bridge or Bridge()
            bridge.integrated_j += energy
            self._open[sample.device_id] = bridge
            return IntervalEnergy(energy, energy, provisional=True)
        if bridge is not None:
            # no power at this interval's ends: the bridge's intervals take the counter's figure
            dt = sample.reading.time_s - before.reading.time_s
            own = trapezoid_j(before.reading.power_w, sample.reading.power_w, dt) or 0.0
            stretch_j = bridge.integrated_j + energy  # the counter's figure since its last reading
            whole = bridge.integrated_j + own
            scale = max(stretch_j, 0.0) / whole if whole > 0 else 0.0
            return IntervalEnergy(energy, own * scale, bridge, scale)
        if before.energy_bridged:  # settles a bridge this ledger did not see: its correction
            return IntervalEnergy(energy, 0.0)  # is in this delta, which no interval may take
        return IntervalEnergy(energy, energy)

    def charge(self, device_id: str, key: K, joules: float) -> None:
        """Note a provisional charge on ``device_id``'s open bridge."""
        bridge = self._open[device_id]
        bridge.charged[key] = bridge.charged.get(key, 0.0) + joules
