"""CPU power estimated from the package's TDP and measured utilization, where RAPL cannot be read.

The model is linear between an idle floor and the TDP:

    P = P_idle + (TDP - P_idle) * u,   P_idle = IDLE_FRACTION * TDP,   u = util_cpu_pct / 100

``IDLE_FRACTION`` is 0.2: Cloud Carbon Footprint's per-vCPU coefficients, taken from SPECpower
results, put idle power at 16-32 % of full-load power across Intel and AMD server
micro-architectures (e.g. Cascade Lake 0.64 of 3.80 W, Broadwell 0.71 of 3.54 W, EPYC Milan
0.45 of 1.87 W). It is an estimate and can be far off (turbo above TDP, SMT, instruction mix, a
VM's share of the host): docs/metrics.md states the error bars. Its power goes to
``Reading.power_estimate_w`` and its energy is labelled ``EnergySource.ESTIMATE``, never
``integrated``; a CPU whose RAPL is readable is never estimated (measured beats estimate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from gpuscope.telemetry.discover import Discovery
from gpuscope.telemetry.model import Device, DeviceInfo, Reading, Vendor
from gpuscope.telemetry.rapl import ESTIMATE_HINT

IDLE_FRACTION = 0.2  # P_idle / TDP; source in the module docstring
MAX_TDP_W = 2000.0  # more than any host's CPUs summed: a larger figure is a typo (mW, or W x 1000)


def check_tdp_w(value: object, name: str) -> float:
    """``value`` as watts if it is a plausible TDP (finite, > 0, <= MAX_TDP_W); else ValueError
    with a one-line message naming ``name`` (the option, or the config key and file)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number of watts, got {value!r}")
    watts = float(value)
    if not math.isfinite(watts) or watts <= 0 or watts > MAX_TDP_W:
        raise ValueError(
            f"{name} must be the CPU's TDP in watts, > 0 and <= {MAX_TDP_W:g} "
            f"(all sockets together), got {value!r}"
        )
    return watts


@dataclass(frozen=True, slots=True)
class CpuPowerModel:
    """``power_w(util)``: the stated linear model for one host's CPUs (all sockets together)."""

    tdp_w: float
    idle_fraction: float = IDLE_FRACTION

    def power_w(self, util_cpu_pct: float) -> float:
        """Estimated package power, W, at this utilization (clamped to 0-100 %)."""
        busy = min(max(util_cpu_pct, 0.0), 100.0) / 100
        idle_w = self.idle_fraction * self.tdp_w
        return idle_w + (self.tdp_w - idle_w) * busy

    def describe(self) -> str:
        """One line for notes and reports: what the figure is and how it was made."""
        return (
            f"estimate: {self.idle_fraction:.0%} of TDP {self.tdp_w:g} W idle, "
            "rising linearly with utilization to TDP"
        )


def _without_hint(note: str) -> str:
    for suffix in (f"; or {ESTIMATE_HINT}", f"; {ESTIMATE_HINT}"):
        if note.endswith(suffix):
            return note[: -len(suffix)]
    return note


class EstimatedCpu:
    """A CPU without readable RAPL whose readings also carry the model's power estimate.

    Wraps the real device, so the CPU backend stays a pure measurement; not thread-safe, like
    any device (only the sampler reads it).
    """

    def __init__(self, device: Device, model: CpuPowerModel) -> None:
        self._device = device
        self.model = model
        # the reason RAPL is unreadable stays; its advice to use this estimate goes
        notes = tuple(_without_hint(note) for note in device.info.notes)
        self.info: DeviceInfo = replace(
            device.info,
            notes=(*notes, model.describe()),
            delta_metrics=device.info.delta_metrics | {"power_estimate_w"},  # from utilization
        )

    def read(self, now_s: float, exact_energy: bool = False) -> Reading:
        reading = self._device.read(now_s, exact_energy=exact_energy)
        if reading.util_cpu_pct is None:  # no utilization this time: no estimate either
            return reading
        return replace(reading, power_estimate_w=self.model.power_w(reading.util_cpu_pct))


def with_cpu_estimate(devices: list[Device], model: CpuPowerModel | None) -> list[Device]:
    """``devices`` with each CPU that has no energy counter wrapped in ``EstimatedCpu``; a CPU
    with readable RAPL, every GPU, and every device when ``model`` is None are left as they are."""
    if model is None:
        return list(devices)
    return [
        EstimatedCpu(d, model)
        if d.info.vendor is Vendor.CPU and not d.info.has_energy_counter
        else d
        for d in devices
    ]


def apply_cpu_estimate(found: Discovery, model: CpuPowerModel | None) -> None:
    """What every caller does after discovery, in place (the discovery stays the caller's to
    close): each CPU without an energy counter carries ``model``'s estimate."""
    found.devices = with_cpu_estimate(found.devices, model)
