"""The recording schema: one column per metric, named with its unit.

This table is the single source for the CSV header, the JSON-lines keys and the metrics reference
in docs/metrics.md (a test checks that every column is documented there).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gpuscope.measurement.achieved import achieved_estimate
from gpuscope.telemetry.model import ACTIVITY_METRICS, DeviceInfo, Sample


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    # the sample, and what the device is (None where it is not known, e.g. in a test's table);
    # a None value means unsupported or unknown: an empty CSV cell, JSON null
    value: Callable[[Sample, DeviceInfo | None], Any]


def _reading(field: str) -> Callable[[Sample, DeviceInfo | None], Any]:
    return lambda sample, _info: getattr(sample.reading, field)


def _sample(value: Callable[[Sample], Any]) -> Callable[[Sample, DeviceInfo | None], Any]:
    return lambda sample, _info: value(sample)


def _achieved(figure: str) -> Callable[[Sample, DeviceInfo | None], Any]:
    """A figure of the achieved-throughput estimate (``measurement.achieved``): None where the
    row has no pipe activity, or the device (its datasheet peaks) is not known."""

    def value(sample: Sample, info: DeviceInfo | None) -> Any:
        estimate = achieved_estimate(sample.reading, info) if info is not None else None
        return None if estimate is None else getattr(estimate, figure)

    return value


def iso_timestamp(wall_time_s: float) -> str:
    """Local time with its UTC offset and milliseconds: unambiguous, and pandas parses it."""
    return dt.datetime.fromtimestamp(wall_time_s).astimezone().isoformat(timespec="milliseconds")


COLUMNS: tuple[Column, ...] = (
    Column("timestamp", _sample(lambda s: iso_timestamp(s.reading.wall_time_s))),
    Column("device", _sample(lambda s: s.device_id)),
    Column("vendor", _sample(lambda s: s.vendor.value)),
    Column("status", _sample(lambda s: "lost" if s.lost else "ok")),
    Column("util_gpu_pct", _reading("util_gpu_pct")),
    Column("util_mem_pct", _reading("util_mem_pct")),
    Column("util_cpu_pct", _reading("util_cpu_pct")),
    Column("util_cores_pct", _reading("util_cores_pct")),
    Column("mem_used_mib", _reading("mem_used_mib")),
    Column("mem_total_mib", _reading("mem_total_mib")),
    Column("power_w", _reading("power_w")),
    Column("power_limit_w", _reading("power_limit_w")),
    Column("energy_j", _sample(lambda s: s.energy_j)),
    Column("energy_source", _sample(lambda s: s.energy_source.value if s.energy_source else None)),
    Column("temp_c", _reading("temp_c")),
    Column("clock_core_mhz", _reading("clock_core_mhz")),
    Column("clock_mem_mhz", _reading("clock_mem_mhz")),
    Column("pstate", _reading("pstate")),
    Column("throttle_reasons", _reading("throttle_reasons")),
    Column("fan_pct", _reading("fan_pct")),
    Column(
        "process_count",
        _sample(lambda s: len(s.reading.processes) if s.reading.processes is not None else None),
    ),
    # last: added after the others, so a reader that goes by position is not shifted
    Column("power_estimate_w", _reading("power_estimate_w")),
    # which hardware the row is from: ``device`` ids move with CUDA_VISIBLE_DEVICES and PCI order
    Column("device_name", lambda _s, info: info.name if info else None),
    Column("device_uuid", lambda _s, info: info.uuid if info else None),
    Column("device_driver", lambda _s, info: info.driver if info else None),
    # activity counters (GPM, ``record --gpm``), then what they make of the achieved throughput:
    # an estimate, so named; its method is in docs/metrics.md
    *(Column(name, _reading(name)) for name in ACTIVITY_METRICS),
    Column("achieved_tflops_estimate", _achieved("tflops")),
    Column("achieved_gflop_per_j_estimate", _achieved("gflop_per_j")),
    # true where energy_j's newest part (since the last energy-counter reading, at most about a
    # second) is integrated power, settled by the next reading; energy_source labels the rest
    Column(
        "energy_bridged", _sample(lambda s: s.energy_bridged if s.energy_j is not None else None)
    ),
)

COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in COLUMNS)
