"""SIMULATED GPUs and CPU for ``gpuscope --demo`` (and the UI's tests).

They implement the product's ``Device`` protocol, so the sampler, the panels and the recordings
treat them as devices. Every value is a function of the time the sampler passes to ``read`` (plus
the previous reading, for temperature lag and the energy counter), so a fixed clock gives a fixed
screen. Power stays between idle and a maximum that is at most the power limit; the energy
counter is the integral of that power.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from gpuscope.telemetry.gpm import FIRST_SAMPLE, NOT_WANTED
from gpuscope.telemetry.model import (
    DeviceInfo,
    DeviceLost,
    NativePrecisions,
    ProcessUsage,
    Reading,
    Vendor,
)
from gpuscope.telemetry.nvidia import ENERGY_PERIOD_S
from gpuscope.telemetry.precisions import amd_precisions, cpu_precisions, nvidia_precisions

Timeline = Callable[[float], float]  # seconds since start -> utilization 0..1


def training_job(t: float) -> float:
    """A training loop: 40 s of steps at ~97 %, 5 s of evaluation, 5 s of data loading."""
    phase = t % 50.0
    if phase < 40.0:
        return 0.97 - 0.02 * math.sin(t * 1.7)
    if phase < 45.0:
        return 0.62
    return 0.28


def inference_server(t: float) -> float:
    """Idle for 20 s, then bursty inference traffic between ~35 % and ~85 %."""
    if t < 20.0:
        return 0.0
    return 0.6 + 0.25 * math.sin(t / 6.0) * math.sin(t / 1.3)


def idle(t: float) -> float:
    return 0.0


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def simulated_activity(util: float, tensor_share: float, nvlink: bool) -> dict[str, float | None]:
    """SIMULATED GPM activity for a GPU busy ``util`` (0..1) of the time: no pipe is busier
    than the SMs, no SM busier than the GPU, tensor pipes only for a share of tensor work (bf16:
    HMMA), traffic within an H100's PCIe Gen5 and NVLink 4 links."""
    sm = 100 * util * 0.92
    tensor = sm * _clamp(tensor_share)
    return {
        "sm_active_pct": round(sm, 1),
        "sm_occupancy_pct": round(sm * 0.45, 1),
        "tensor_active_pct": round(tensor, 1),
        "tensor_hmma_pct": round(tensor, 1),
        "tensor_imma_pct": 0.0,
        "tensor_dfma_pct": 0.0,
        "dram_active_pct": round(100 * util * 0.55, 1),
        "fp64_active_pct": 0.0,
        "fp32_active_pct": round(sm * 0.12, 1),
        "fp16_active_pct": round(sm * 0.04, 1),
        "pcie_tx_mib_s": round(40 + 300 * util, 1),
        "pcie_rx_mib_s": round(60 + 900 * util, 1),
        "nvlink_tx_mib_s": round(25000 * util, 1) if nvlink else None,
        "nvlink_rx_mib_s": round(25000 * util, 1) if nvlink else None,
    }


@dataclass
class SimulatedGpu:
    """A GPU whose utilization follows ``timeline`` (plus ``extra_load`` from a simulated run)."""

    index: int
    name: str
    start_s: float
    timeline: Timeline = idle
    vendor: Vendor = Vendor.NVIDIA
    mem_total_mib: float = 81559.0
    mem_base_mib: float = 0.0
    idle_w: float = 70.0
    max_w: float = 690.0
    limit_w: float = 700.0
    has_energy_counter: bool = True
    processes: tuple[ProcessUsage, ...] = ()
    lost_at_s: float | None = None  # seconds after start when "the GPU has fallen off the bus"
    extra_load: float = 0.0
    tensor_share: float = 0.0  # of the SMs' busy time, on tensor pipes (a GEMM-heavy job: 0.75)
    nvlink: bool = True  # an SXM part; False: a PCIe card, its NVLink fields n/a
    # the driver samples each process's SM share (False: as the H100 on driver 580, n/a)
    process_shares: bool = True
    # what the part it plays does in hardware: an H100 (compute capability 9.0) by default
    precisions: NativePrecisions | None = field(default_factory=lambda: nvidia_precisions(9, 0))
    info: DeviceInfo = field(init=False)
    _last: Reading | None = field(default=None, init=False)
    _energy_j: float = field(default=1000.0, init=False)  # counters count since driver load
    _temp_c: float = field(default=34.0, init=False)
    _activity: str | None = field(default=None, init=False)  # None: not wanted; "first"; "on"
    _counter_read: tuple[float, float] | None = field(default=None, init=False)  # (at, J)

    def __post_init__(self) -> None:
        if not 0 <= self.idle_w <= self.max_w <= self.limit_w:
            raise ValueError(
                f"power must satisfy 0 <= idle ({self.idle_w} W) <= max ({self.max_w} W) "
                f"<= limit ({self.limit_w} W)"
            )
        prefix = "GPU-" if self.vendor is Vendor.NVIDIA else ""
        self.info = DeviceInfo(
            device_id=f"{self.vendor.value}:{self.index}",
            vendor=self.vendor,
            index=self.index,
            name=self.name,
            uuid=f"{prefix}5151a7ed-0000-4000-8000-00000000000{self.index}",
            pci_bus_id=f"00000000:{0x18 + self.index:02X}:00.0",
            driver="580.159.04 (simulated)"
            if self.vendor is Vendor.NVIDIA
            else "6.8.5 (simulated)",
            mem_total_mib=self.mem_total_mib,
            has_energy_counter=self.has_energy_counter,
            precisions=self.precisions,
            activity_counters=self.vendor is Vendor.NVIDIA,  # GPM, as an H100 has it
        )

    def _energy_counter(self, now_s: float, exact_energy: bool) -> dict[str, Any]:
        """The counter as an H100's is read: about once a second and at window edges (an AMD
        GPU's at every read); between, the last reading, marked stale."""
        if not self.has_energy_counter:
            return {}
        held = self._counter_read
        if (
            self.vendor is Vendor.NVIDIA
            and not exact_energy
            and held is not None
            and now_s - held[0] < ENERGY_PERIOD_S * 0.95
        ):
            return {"energy_counter_j": held[1], "energy_counter_stale": True}
        self._counter_read = (now_s, self._energy_j)
        return {"energy_counter_j": self._energy_j}

    def want_activity(self, wanted: bool) -> None:
        """Like a real GPU's GPM: the first read after turning on has no interval yet."""
        self._activity = "first" if wanted else None

    def read(self, now_s: float, exact_energy: bool = False) -> Reading:
        t = now_s - self.start_s
        if self.lost_at_s is not None and t >= self.lost_at_s:
            raise DeviceLost("GPU is lost (simulated)")
        util = _clamp(self.timeline(t) + self.extra_load)
        power_w = self.idle_w + (self.max_w - self.idle_w) * util
        last = self._last
        dt = now_s - last.time_s if last is not None else 0.0
        if last is not None and last.power_w is not None and dt > 0:
            self._energy_j += (last.power_w + power_w) / 2 * dt
            # first-order lag towards the temperature this power settles at (time constant 20 s)
            target_c = 32.0 + 45.0 * (power_w - self.idle_w) / (self.max_w - self.idle_w)
            self._temp_c += (target_c - self._temp_c) * (1 - math.exp(-dt / 20.0))
        busy = util > 0.02
        reasons: tuple[str, ...] = ("gpu_idle",) if not busy else ()
        if power_w > 0.95 * self.limit_w:
            reasons = ("sw_power_cap",)
        background = _clamp(self.timeline(t))
        listed = self.processes if busy or self.extra_load else ()
        used_mib = self.mem_base_mib + sum(p.gpu_mem_mib or 0.0 for p in listed)
        # each process's share of the SMs and memory bus: the timeline's load split by memory,
        # and a simulated run's (its extra load) to the run, listed as gpuscope's own process
        weight = sum(p.gpu_mem_mib or 0.0 for p in listed) or 1.0
        load = (background + self.extra_load) or 1.0
        shares = [(p, background * (p.gpu_mem_mib or 0.0) / weight) for p in listed]
        if self.extra_load:
            run = ProcessUsage(os.getpid(), "gpuscope (simulated run)", 1024.0, kind="C")
            shares.append((run, self.extra_load))
            used_mib += run.gpu_mem_mib or 0.0
        processes = tuple(
            replace(
                p,
                kind=p.kind or "C",
                sm_pct=round(100 * util * part / load, 1) if self.process_shares else None,
                mem_bus_pct=round(70 * util * part / load, 1) if self.process_shares else None,
            )
            for p, part in shares
        )
        activity: dict[str, Any] = {}  # Reading field -> float | None
        note = None
        if self.info.activity_counters:
            note = NOT_WANTED if self._activity is None else None
            if self._activity == "first":
                self._activity, note = "on", FIRST_SAMPLE
            elif self._activity == "on":
                activity = simulated_activity(util, self.tensor_share, self.nvlink)
        reading = Reading(
            time_s=now_s,
            wall_time_s=time.time(),
            util_gpu_pct=round(100 * util, 1),
            util_mem_pct=round(70 * util, 1),
            mem_used_mib=used_mib,
            mem_total_mib=self.mem_total_mib,
            power_w=round(power_w, 1),
            power_limit_w=self.limit_w,
            **self._energy_counter(now_s, exact_energy),
            temp_c=round(self._temp_c),
            clock_core_mhz=1980.0 if busy else 345.0,
            clock_mem_mhz=2619.0,
            pstate=0,
            throttle_reasons=reasons,
            fan_pct=None,  # like the H100: no fan reading
            processes=processes,
            activity_note=note,
            **activity,
        )
        self._last = reading
        return reading


@dataclass
class SimulatedCpu:
    """An 8-thread CPU without RAPL (so, like most laptops in a VM, no CPU energy)."""

    start_s: float
    timeline: Timeline = lambda t: 0.12 + 0.05 * math.sin(t / 3.0)
    threads: int = 8
    mem_total_mib: float = 64216.0
    extra_load: float = 0.0
    cpuinfo_flags: str = "fpu sse2 avx avx2 fma"  # a laptop's: no native bf16
    info: DeviceInfo = field(init=False)

    def __post_init__(self) -> None:
        self.info = DeviceInfo(
            device_id="cpu",
            vendor=Vendor.CPU,
            index=0,
            name=f"Simulated CPU ({self.threads} threads)",
            mem_total_mib=self.mem_total_mib,
            notes=("RAPL: not present (simulated)",),
            precisions=cpu_precisions(f"flags\t\t: {self.cpuinfo_flags}\n"),
        )

    def read(self, now_s: float, exact_energy: bool = False) -> Reading:
        t = now_s - self.start_s
        util = _clamp(self.timeline(t) + self.extra_load)
        cores = tuple(
            round(100 * _clamp(util + 0.1 * math.sin(t + i)), 1) for i in range(self.threads)
        )
        return Reading(
            time_s=now_s,
            wall_time_s=time.time(),
            util_cpu_pct=round(100 * util, 1),
            util_cores_pct=cores,
            mem_used_mib=round(14000.0 + 2000.0 * util, 1),
            mem_total_mib=self.mem_total_mib,
            temp_c=round(45.0 + 30.0 * util),
            clock_core_mhz=round(2400.0 + 1200.0 * util),
        )


def demo_gpus(start_s: float) -> list[SimulatedGpu]:
    """Three GPUs with a realistic day: one training, one serving, one AMD card mostly idle."""
    return [
        SimulatedGpu(
            0,
            "Simulated H100 80GB HBM3",
            start_s,
            training_job,
            mem_base_mib=512.0,
            tensor_share=0.75,  # bf16 training: mostly GEMMs
            processes=(ProcessUsage(4242, "python", 61440.0),),
            process_shares=False,  # as the H100 on driver 580: its sole process is charged
        ),
        SimulatedGpu(
            1,
            "Simulated H100 80GB HBM3",
            start_s,
            inference_server,
            mem_base_mib=512.0,
            tensor_share=0.55,  # inference: GEMMs and attention, more memory-bound
            processes=(ProcessUsage(5150, "vllm", 70656.0), ProcessUsage(5188, "python", 1024.0)),
            process_shares=False,  # two processes and no shares: its energy stays unattributed
        ),
        SimulatedGpu(
            0,
            "Simulated Radeon PRO W7900",
            start_s,
            lambda t: 0.35 if (t % 30.0) > 24.0 else 0.0,
            vendor=Vendor.AMD,
            mem_total_mib=49136.0,
            mem_base_mib=300.0,
            idle_w=25.0,
            max_w=280.0,
            limit_w=295.0,
            has_energy_counter=False,  # shows an integrated-power energy figure
            processes=(ProcessUsage(6001, "blender", 5120.0, kind="G"),),
            precisions=amd_precisions("gfx1100"),  # RDNA3
        ),
    ]
