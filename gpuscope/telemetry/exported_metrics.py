"""The metrics ``gpuscope serve`` exports that map to one ``Reading`` field: one table, read by
the exporter (``sinks.prometheus``) to write them and by ``telemetry.remote`` to read another
host's back, so a metric added or rescaled on one side cannot be missed on the other."""

from __future__ import annotations

from dataclasses import dataclass

from gpuscope.telemetry.model import MIB

PREFIX = "gpuscope_"
DEVICE_INFO = "device_info"
UTILIZATION = "utilization_ratio"  # GPU or CPU busy fraction: util_gpu_pct or util_cpu_pct
CLOCK = "clock_hertz"  # label clock="core" or "memory"
ENERGY_COUNTER = "energy_joules"  # a counter: exposed with "_total"
ESTIMATED_ENERGY = "estimated_energy_joules"  # a counter of modelled energy, never measured
# what ran on a GPU achieved, from its pipe activity (``measurement.achieved``): not a field
ESTIMATED_FLOPS = "estimated_achieved_flops"
ESTIMATED_FLOP_PER_JOULE = "estimated_achieved_flop_per_joule"


@dataclass(frozen=True, slots=True)
class FieldMetric:
    """A gauge taken straight from a ``Reading`` field: exported = field x ``scale``."""

    name: str
    help: str
    field: str
    scale: float = 1.0


FIELD_GAUGES: tuple[FieldMetric, ...] = (
    FieldMetric("memory_bandwidth_utilization_ratio", "Memory bus busy.", "util_mem_pct", 0.01),
    FieldMetric("memory_used_bytes", "Memory in use.", "mem_used_mib", MIB),
    FieldMetric("memory_total_bytes", "Memory size.", "mem_total_mib", MIB),
    FieldMetric("power_watts", "Power draw (NVML instant power where offered).", "power_w"),
    FieldMetric("estimated_power_watts", "CPU power from TDP (--cpu-tdp).", "power_estimate_w"),
    FieldMetric("power_limit_watts", "Enforced power limit.", "power_limit_w"),
    FieldMetric("temperature_celsius", "Temperature (GPU die, or CPU package).", "temp_c"),
    FieldMetric("fan_ratio", "Fan speed, 0-1 of its maximum.", "fan_pct", 0.01),
    FieldMetric("performance_state", "P-state (0 is the fastest).", "pstate"),
    # activity counters (NVML GPM, serve --gpm): docs/exporter.md names DCGM's equivalents
    FieldMetric("sm_active_ratio", "SMs with a warp resident, 0-1 (GPM).", "sm_active_pct", 0.01),
    FieldMetric("sm_occupancy_ratio", "Resident warps vs the SMs' maximum, 0-1 (GPM).",
                "sm_occupancy_pct", 0.01),
    FieldMetric("tensor_active_ratio", "Any tensor pipe busy, 0-1 (GPM).", "tensor_active_pct",
                0.01),
    FieldMetric("tensor_hmma_active_ratio", "Half-precision MMA tensor pipe busy, 0-1 (GPM).",
                "tensor_hmma_pct", 0.01),
    FieldMetric("tensor_imma_active_ratio", "Integer MMA tensor pipe busy, 0-1 (GPM).",
                "tensor_imma_pct", 0.01),
    FieldMetric("tensor_dfma_active_ratio", "FP64 MMA tensor pipe busy, 0-1 (GPM).",
                "tensor_dfma_pct", 0.01),
    FieldMetric("dram_active_ratio", "DRAM bandwidth used vs its peak, 0-1 (GPM).",
                "dram_active_pct", 0.01),
    FieldMetric("fp64_active_ratio", "FP64 pipe busy, 0-1 (GPM).", "fp64_active_pct", 0.01),
    FieldMetric("fp32_active_ratio", "FP32 pipe busy, 0-1 (GPM).", "fp32_active_pct", 0.01),
    FieldMetric("fp16_active_ratio", "FP16 pipe busy, 0-1 (GPM).", "fp16_active_pct", 0.01),
    FieldMetric("pcie_tx_bytes_per_second", "PCIe traffic out of the GPU (GPM).", "pcie_tx_mib_s",
                MIB),
    FieldMetric("pcie_rx_bytes_per_second", "PCIe traffic into the GPU (GPM).", "pcie_rx_mib_s",
                MIB),
    FieldMetric("nvlink_tx_bytes_per_second", "NVLink traffic out, all links (GPM).",
                "nvlink_tx_mib_s", MIB),
    FieldMetric("nvlink_rx_bytes_per_second", "NVLink traffic in, all links (GPM).",
                "nvlink_rx_mib_s", MIB),
)  # fmt: skip


def reading_fields() -> dict[str, tuple[str, float]]:
    """Exported sample name -> (Reading field, factor back from the exported unit)."""
    fields = {PREFIX + m.name: (m.field, 1.0 / m.scale) for m in FIELD_GAUGES}
    fields[PREFIX + ENERGY_COUNTER + "_total"] = ("energy_counter_j", 1.0)
    return fields


# Per-job series (``gpuscope serve``; ``measurement.job_energy``): counters, exposed with
# "_total", labelled JOB_LABELS (never a pid). docs/exporter.md "Clusters" says how to sum them.
JOB_LABELS = ("host", "job", "user", "device")
JOB_ENERGY = "job_energy_joules"  # + label energy_source: counter / integrated / estimate
JOB_GPU_SECONDS = "job_gpu_seconds"  # seconds the job held the device
JOB_ALONE_SECONDS = "job_gpu_alone_seconds"  # of those, as the device's only job
JOB_BUSY_SECONDS = "job_gpu_busy_seconds"  # GPU utilization x alone seconds
JOB_ACTIVITY_SECONDS = "job_activity_seconds"  # alone seconds with GPM activity sampled
JOB_SM_ACTIVE_SECONDS = "job_sm_active_seconds"  # SM active fraction x those seconds
JOB_TENSOR_ACTIVE_SECONDS = "job_tensor_active_seconds"  # tensor active fraction x those
JOB_PROCESSES = "job_processes"  # a gauge: the job's processes on the device now (0: ended)
JOB_START = "job_start_time_seconds"  # a gauge: its earliest process's start, Unix time
JOB_LAST_SEEN = "job_last_seen_time_seconds"  # a gauge: when it was last listed, Unix time
