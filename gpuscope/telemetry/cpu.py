"""The host CPU through psutil, plus package energy from RAPL where readable.

Utilization is computed from our own ``cpu_times`` deltas rather than ``psutil.cpu_percent``, whose
state is global to the process: another caller would silently shorten our intervals.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psutil

from gpuscope.telemetry.model import MIB, BackendProbe, DeviceInfo, Reading, Vendor
from gpuscope.telemetry.precisions import cpu_precisions
from gpuscope.telemetry.rapl import POWERCAP, RaplReader

FREQ_PERIOD_S = 0.5
TEMP_PERIOD_S = 2.0  # hwmon reads are slow-ish and temperatures move slowly
# Preferred sensors (psutil.sensors_temperatures keys and labels), most specific first.
_TEMP_SENSORS: tuple[tuple[str, str | None], ...] = (
    ("coretemp", "Package id 0"),
    ("k10temp", "Tctl"),
    ("k10temp", "Tdie"),
    ("zenpower", None),
    ("cpu_thermal", None),
    ("coretemp", None),
    ("k10temp", None),
)


CPUINFO = Path("/proc/cpuinfo")


def read_cpuinfo(path: Path | None = None) -> str | None:
    """The text of /proc/cpuinfo; None where there is none (macOS, Windows)."""
    try:
        return (path or CPUINFO).read_text(errors="replace")
    except OSError:
        return None


def cpu_model_name(cpuinfo: str | None = None) -> str:
    """The marketing name from /proc/cpuinfo where there is one."""
    for line in (cpuinfo if cpuinfo is not None else read_cpuinfo() or "").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    import platform  # only where /proc/cpuinfo is not: 4 ms of every start otherwise

    return platform.processor() or "CPU"


def _busy_and_total(times: Any) -> tuple[float, float]:
    total = sum(times)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


class CpuDevice:
    """All logical cores of the host as one device."""

    def __init__(self, powercap_root: Path = POWERCAP, cpuinfo_path: Path | None = None) -> None:
        """``cpuinfo_path``: where the CPU's flags are read (default ``CPUINFO``)."""
        self._rapl, rapl_reason = RaplReader.open(powercap_root)
        cpuinfo = read_cpuinfo(cpuinfo_path or CPUINFO)
        self._last_times = psutil.cpu_times(percpu=True)
        self._last_energy: tuple[float, float] | None = None  # (time_s, joules)
        self._freq: tuple[float, float | None] | None = None
        self._temp: tuple[float, float | None] | None = None
        self.info = DeviceInfo(
            device_id="cpu",
            vendor=Vendor.CPU,
            index=0,
            name=f"{cpu_model_name(cpuinfo)} ({psutil.cpu_count()} threads)",
            mem_total_mib=psutil.virtual_memory().total / MIB,
            has_energy_counter=self._rapl is not None,
            notes=(rapl_reason,) if rapl_reason else (),
            delta_metrics=frozenset(
                ("util_cpu_pct", "util_cores_pct", *(("power_w",) if self._rapl else ()))
            ),
            precisions=cpu_precisions(cpuinfo),
        )

    def read(self, now_s: float, exact_energy: bool = False) -> Reading:
        util_cpu, util_cores = self._utilization()
        memory = psutil.virtual_memory()
        energy_j = self._rapl.read_j() if self._rapl is not None else None
        return Reading(
            time_s=now_s,
            wall_time_s=time.time(),
            util_cpu_pct=util_cpu,
            util_cores_pct=util_cores,
            # total - available: what programs cannot have, the figure htop and btop show
            mem_used_mib=(memory.total - memory.available) / MIB,
            mem_total_mib=memory.total / MIB,
            power_w=self._power_w(now_s, energy_j),
            power_limit_w=self._rapl.power_limit_w if self._rapl is not None else None,
            energy_counter_j=energy_j,
            temp_c=self._temperature_c(now_s),
            clock_core_mhz=self._frequency_mhz(now_s),
        )

    def _utilization(self) -> tuple[float | None, tuple[float, ...] | None]:
        times = psutil.cpu_times(percpu=True)
        cores: list[float] = []
        busy_sum = total_sum = 0.0
        for before, after in zip(self._last_times, times, strict=False):
            busy0, total0 = _busy_and_total(before)
            busy1, total1 = _busy_and_total(after)
            d_total = total1 - total0
            d_busy = min(max(busy1 - busy0, 0.0), d_total)
            cores.append(100 * d_busy / d_total if d_total > 0 else 0.0)
            busy_sum += d_busy
            total_sum += d_total
        self._last_times = times
        if total_sum <= 0:  # read twice within one clock tick: no new information
            return None, None
        return 100 * busy_sum / total_sum, tuple(cores)

    def _power_w(self, now_s: float, energy_j: float | None) -> float | None:
        """Average power since the previous read, from RAPL energy (RAPL has no power reading)."""
        if energy_j is None:
            return None
        last, self._last_energy = self._last_energy, (now_s, energy_j)
        if last is None or now_s <= last[0]:
            return None
        return (energy_j - last[1]) / (now_s - last[0])

    def _frequency_mhz(self, now_s: float) -> float | None:
        if self._freq is None or now_s - self._freq[0] >= FREQ_PERIOD_S:
            try:
                freq = psutil.cpu_freq()
            except (OSError, NotImplementedError, AttributeError):
                freq = None
            self._freq = (now_s, float(freq.current) if freq and freq.current else None)
        return self._freq[1]

    def _temperature_c(self, now_s: float) -> float | None:
        if self._temp is None or now_s - self._temp[0] >= TEMP_PERIOD_S:
            self._temp = (now_s, _package_temperature_c())
        return self._temp[1]


def _package_temperature_c() -> float | None:
    try:
        sensors = psutil.sensors_temperatures()
    except (OSError, AttributeError, NotImplementedError):  # not on macOS/Windows
        return None
    for key, label in _TEMP_SENSORS:
        for entry in sensors.get(key, []):
            if label is None or entry.label == label:
                return float(entry.current)
    return None


def probe(powercap_root: Path = POWERCAP) -> BackendProbe:
    """The CPU is always present."""
    return BackendProbe(name="cpu", devices=[CpuDevice(powercap_root)])
