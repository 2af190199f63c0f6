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
)  # fmt: skip


def reading_fields() -> dict[str, tuple[str, float]]:
    """Exported sample name -> (Reading field, factor back from the exported unit)."""
    fields = {PREFIX + m.name: (m.field, 1.0 / m.scale) for m in FIELD_GAUGES}
    fields[PREFIX + ENERGY_COUNTER + "_total"] = ("energy_counter_j", 1.0)
    return fields
