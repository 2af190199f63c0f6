"""Plain records shared by every backend, the sampler and the sinks.

Units live in field names (``power_w``, ``mem_used_mib``) so that a CSV header built from these
names carries its units for free. ``None`` always means "this device does not report it" (or could
not this time); it is never a stand-in for zero.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Protocol, runtime_checkable

MIB = 1024 * 1024  # bytes per MiB: every memory figure is reported in MiB


class Vendor(str, enum.Enum):
    """Which backend produced a device (and so which library each metric came from)."""

    NVIDIA = "nvidia"
    AMD = "amd"
    CPU = "cpu"


class EnergySource(str, enum.Enum):
    """Where an energy figure came from; every energy figure carries one."""

    COUNTER = "counter"  # hardware energy counter deltas (NVML, amdsmi, RAPL)
    INTEGRATED = "integrated"  # trapezoid integral of sampled power
    MIXED = "counter+integrated"  # counter, with intervals the counter could not cover integrated
    ESTIMATE = "estimate"  # a model (the CPU's TDP and utilization); never a measured figure


class DeviceLost(Exception):
    """Raised by ``Device.read`` when the device has gone (e.g. NVML "GPU is lost")."""


@dataclass(frozen=True, slots=True)
class NativePrecisions:
    """The number formats a device computes in hardware at full rate ("fp32", "tf32", "fp16",
    "bf16", "fp8"); any other it emulates, far slower. ``basis``: what this was decided from,
    in words a user can check ("AVX2, no AVX512-BF16 or AMX", "compute capability 9.0")."""

    native: frozenset[str]
    basis: str


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """Static facts about one device, read once when it is opened."""

    device_id: str  # "nvidia:0", "amd:1", "cpu"
    vendor: Vendor
    index: int
    name: str
    uuid: str | None = None
    pci_bus_id: str | None = None
    driver: str | None = None
    mem_total_mib: float | None = None
    has_energy_counter: bool = False
    notes: tuple[str, ...] = ()  # one line each, e.g. why energy is unavailable
    # Metrics computed from the change since the previous read (the CPU's utilization, power
    # from RAPL energy): None on the first read, reported from the second on. ``gpuscope list``
    # counts them as supported without reading twice.
    delta_metrics: frozenset[str] = frozenset()
    precisions: NativePrecisions | None = None  # None: not known here (a remote host's device)
    # NVML GPM (Hopper and newer) can be sampled here; where it cannot, a ``notes`` line says why
    activity_counters: bool = False


@dataclass(frozen=True, slots=True)
class ProcessUsage:
    """A process using a GPU. ``gpu_mem_mib`` is None where the driver does not say.

    ``sm_pct`` / ``mem_bus_pct``: its share of the GPU's SMs and memory bandwidth over the last
    second or so, where the driver samples processes (None where it does not: the H100 on driver
    580); 0 for a listed process the driver saw no activity from for 3 s. ``kind``: "C"
    (compute), "G" (graphics) or "C+G", as nvidia-smi and nvitop write it; None where not
    known."""

    pid: int
    name: str | None
    gpu_mem_mib: float | None
    kind: str | None = None
    sm_pct: float | None = None
    mem_bus_pct: float | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """What one poll of one device returned.

    ``time_s`` is ``time.monotonic()`` (for intervals), ``wall_time_s`` is ``time.time()`` (for
    humans). ``energy_counter_j`` is the raw cumulative hardware counter, which may reset; the
    sampler turns it into accounted energy. ``power_estimate_w`` is a model's figure, never a
    measurement: it is kept apart from ``power_w`` so no measured figure can include it.
    """

    time_s: float
    wall_time_s: float
    util_gpu_pct: float | None = None
    util_mem_pct: float | None = None  # memory-controller busy %, not memory used
    util_cpu_pct: float | None = None
    util_cores_pct: tuple[float, ...] | None = None
    mem_used_mib: float | None = None
    mem_total_mib: float | None = None
    power_w: float | None = None
    power_estimate_w: float | None = None  # modelled (telemetry.cpu_estimate), not measured
    power_limit_w: float | None = None
    energy_counter_j: float | None = None
    # True: ``energy_counter_j`` is the value read at an earlier poll, carried to this one (a
    # counter that is costly to read is read about once a second); energy is not accounted by it
    energy_counter_stale: bool = False
    temp_c: float | None = None
    clock_core_mhz: float | None = None
    clock_mem_mhz: float | None = None
    pstate: int | None = None
    throttle_reasons: tuple[str, ...] | None = None  # () means "supported, none active"
    fan_pct: float | None = None
    processes: tuple[ProcessUsage, ...] | None = None
    # Activity over the interval since the previous reading, from two NVML GPM samples (the
    # counters DCGM's profiling reads): % of time, or MiB/s for traffic. None where the device
    # has no GPM, a metric is not supported, or nothing wants them sampled now.
    sm_active_pct: float | None = None  # SMs with a warp resident, averaged over SMs
    sm_occupancy_pct: float | None = None  # resident warps vs the SMs' maximum
    tensor_active_pct: float | None = None  # any tensor pipe
    tensor_hmma_pct: float | None = None  # half-precision MMA (fp16, bf16; tf32 too)
    tensor_imma_pct: float | None = None  # integer MMA
    tensor_dfma_pct: float | None = None  # fp64 MMA
    dram_active_pct: float | None = None  # DRAM bandwidth used vs its peak
    fp64_active_pct: float | None = None  # non-tensor pipes
    fp32_active_pct: float | None = None
    fp16_active_pct: float | None = None
    pcie_tx_mib_s: float | None = None
    pcie_rx_mib_s: float | None = None
    nvlink_tx_mib_s: float | None = None  # all links
    nvlink_rx_mib_s: float | None = None
    activity_note: str | None = None  # why the activity fields are n/a now, where GPM exists


ACTIVITY_METRICS: tuple[str, ...] = (
    "sm_active_pct",
    "sm_occupancy_pct",
    "tensor_active_pct",
    "tensor_hmma_pct",
    "tensor_imma_pct",
    "tensor_dfma_pct",
    "dram_active_pct",
    "fp64_active_pct",
    "fp32_active_pct",
    "fp16_active_pct",
    "pcie_tx_mib_s",
    "pcie_rx_mib_s",
    "nvlink_tx_mib_s",
    "nvlink_rx_mib_s",
)

_NOT_METRICS = (
    "time_s",
    "wall_time_s",
    "energy_counter_j",
    "energy_counter_stale",
    "activity_note",
)
METRIC_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Reading) if f.name not in _NOT_METRICS)


def supported_metrics(reading: Reading) -> list[str]:
    """Metric names this reading carries a value for (what ``gpuscope list`` reports)."""
    return [name for name in METRIC_NAMES if getattr(reading, name) is not None]


@dataclass(frozen=True, slots=True)
class Sample:
    """One device at one instant, with energy accounted by the sampler since it started."""

    device_id: str
    vendor: Vendor
    reading: Reading
    energy_j: float | None = None
    energy_source: EnergySource | None = None
    lost: bool = False
    # energy_j's newest part, since the device's last energy-counter reading (at most about a
    # second), is integrated power until the next counter reading settles it; energy_source
    # then labels what is settled (``gpuscope.energy``)
    energy_bridged: bool = False


@runtime_checkable
class ActivitySampling(Protocol):
    """A device that can sample activity counters (GPM). They cost a library call or two per
    read and share the hardware counters with DCGM's profiling, so they are sampled only while
    someone asks (``Sampler.want_activity``)."""

    def want_activity(self, wanted: bool) -> None: ...


class Device(Protocol):
    """One device a backend opened. Not thread-safe: only the sampler calls ``read``."""

    info: DeviceInfo

    def read(self, now_s: float, exact_energy: bool = False) -> Reading:
        """Poll every metric; raise ``DeviceLost`` if the device has gone. ``exact_energy``:
        read the energy counter now even where it is read less often than the other metrics
        (a measurement window's edge); a device that reads its counter at every poll ignores it."""
        ...


@dataclass
class BackendProbe:
    """What probing one backend found: its devices, or one line saying why it is absent."""

    name: str
    devices: list[Device] = field(default_factory=list)
    absent_reason: str | None = None
    unusable: list[str] = field(default_factory=list)  # one line per device that failed to open
    shutdown: Callable[[], None] | None = None  # e.g. nvmlShutdown, once the devices are done

    def close(self) -> None:
        if self.shutdown is not None:
            shutdown, self.shutdown = self.shutdown, None
            shutdown()
