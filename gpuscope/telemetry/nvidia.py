"""NVIDIA GPUs through NVML (the ``nvidia-ml-py`` package, module ``pynvml``).

NVML units: memory in bytes, power in mW, energy in mJ (``nvmlDeviceGetTotalEnergyConsumption``,
Volta and newer, cumulative since the driver was loaded), clocks in MHz, temperature in °C.
"""

from __future__ import annotations

import functools
import time
from types import ModuleType
from typing import Any

from gpuscope.telemetry.gpm import GpmCounters, device_note
from gpuscope.telemetry.guarded_calls import CallFailure, GuardedCalls
from gpuscope.telemetry.model import (
    MIB,
    BackendProbe,
    DeviceInfo,
    DeviceLost,
    ProcessUsage,
    Reading,
    Vendor,
)
from gpuscope.telemetry.native_library import loads, worth_asking
from gpuscope.telemetry.nvidia_shares import ProcessShares, Shares
from gpuscope.telemetry.precisions import nvidia_precisions
from gpuscope.telemetry.processes import ProcessNames

# NVML power and energy readings change every 100 ms on the H100 (driver 580, measured); reading
# them faster returns the same value.
POWER_PERIOD_S = 0.1
# nvmlDeviceGetTotalEnergyConsumption costs ~3.6 ms a call on the H100 and H200 (driver 580, issue
# 24), about 100 times any other call a sample makes. The counter is cumulative, so reading it
# less often loses nothing: it is read about once a second and at every measurement window's edge
# (``exact_energy``); the energy meter bridges the polls between with integrated power.
ENERGY_PERIOD_S = 1.0
LIMIT_PERIOD_S = 1.0

Listed = list[tuple[int, int | None]]  # (pid, bytes or None), as the driver lists processes

# nvmlClocksEventReason* bits (formerly "throttle reasons"), as named in nvml.h.
CLOCK_EVENT_REASONS: tuple[tuple[int, str], ...] = (
    (0x1, "gpu_idle"),
    (0x2, "applications_clocks"),
    (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal"),
    (0x40, "hw_thermal"),
    (0x80, "hw_power_brake"),
    (0x100, "display_clock"),
)


@functools.lru_cache(maxsize=64)  # read at every sample, and a GPU shows only a few masks
def clock_event_names(mask: int) -> tuple[str, ...]:
    """Names of the active clock-event reasons in an NVML bitmask; () when none is active."""
    return tuple(name for bit, name in CLOCK_EVENT_REASONS if mask & bit)


def _text(value: str | bytes) -> str:
    """Old nvidia-ml-py releases return bytes where new ones return str."""
    return value.decode() if isinstance(value, bytes) else value


def _classifier(nv: ModuleType) -> Any:
    unsupported = tuple(
        getattr(nv, name)
        for name in (
            "NVMLError_NotSupported",
            "NVMLError_FunctionNotFound",
            "NVMLError_NoPermission",
        )
        if hasattr(nv, name)
    )
    lost = tuple(
        getattr(nv, name)
        for name in ("NVMLError_GpuIsLost", "NVMLError_ResetRequired")
        if hasattr(nv, name)
    )

    def classify(exc: Exception) -> CallFailure | None:
        if isinstance(exc, lost):
            return CallFailure.LOST
        if isinstance(exc, unsupported):
            return CallFailure.UNSUPPORTED
        if isinstance(exc, nv.NVMLError):
            return CallFailure.TRANSIENT
        return None

    return classify


class NvidiaDevice:
    """One NVML device. A read is about ten NVML calls of 1-10 µs each and ~12 µs of our own
    Python (benchmarks/sample_cost.py), plus ~3.6 ms when the energy counter is read (H100,
    about once a second: ``ENERGY_PERIOD_S``) and two GPM calls while activity is wanted."""

    def __init__(self, nv: ModuleType, index: int, driver: str | None) -> None:
        self._nv = nv
        self._handle = nv.nvmlDeviceGetHandleByIndex(index)
        classify = _classifier(nv)
        self._calls = GuardedCalls(classify)
        self._process_names = ProcessNames()
        # what _processes last built its rows from: (pid, memory) lists, and the shares
        self._listed: tuple[Listed, Listed] | None = None
        self._listed_shares: Shares | None = None
        self._usages: tuple[ProcessUsage, ...] = ()
        self._bind_reads(nv)
        calls, handle = self._calls, self._handle
        self._shares = ProcessShares(nv, handle, calls)
        memory = self._memory()
        pci = calls("pci", nv.nvmlDeviceGetPciInfo, handle)
        energy = calls("energy", nv.nvmlDeviceGetTotalEnergyConsumption, handle)
        uuid = calls("uuid", nv.nvmlDeviceGetUUID, handle)
        capability = calls("capability", nv.nvmlDeviceGetCudaComputeCapability, handle)
        self._gpm = GpmCounters(nv, handle, classify)  # activity counters, while wanted
        self._activity: tuple[dict[str, Any], str | None] = ({}, None)  # the last tick's
        notes: tuple[str, ...] = ()
        if energy is None:
            notes += ("energy counter not supported: power integrated",)
        if self._gpm.reason is not None:
            notes += (device_note(self._gpm.reason),)
        self.info = DeviceInfo(
            device_id=f"nvidia:{index}",
            vendor=Vendor.NVIDIA,
            index=index,
            name=_text(nv.nvmlDeviceGetName(handle)),
            uuid=_text(uuid) if uuid is not None else None,
            pci_bus_id=_text(pci.busId) if pci is not None else None,
            driver=driver,
            mem_total_mib=memory.total / MIB if memory is not None else None,
            has_energy_counter=energy is not None,
            notes=notes,
            precisions=nvidia_precisions(*capability) if capability is not None else None,
            activity_counters=self._gpm.reason is None,
        )

    def _bind_reads(self, nv: ModuleType) -> None:
        """Bind every call a read makes, once: a read at 10 Hz then pays for the NVML calls and
        their guard, not for looking them up again (issue 24: the raw floor + 5 %)."""
        calls, handle = self._calls, self._handle
        bind = calls.bind
        self._utilization = bind("utilization", nv.nvmlDeviceGetUtilizationRates, handle)
        self._clock_sm = bind("clock_sm", nv.nvmlDeviceGetClockInfo, handle, nv.NVML_CLOCK_SM)
        self._clock_mem = bind("clock_mem", nv.nvmlDeviceGetClockInfo, handle, nv.NVML_CLOCK_MEM)
        self._pstate = bind("pstate", nv.nvmlDeviceGetPerformanceState, handle)
        self._fan = bind("fan", nv.nvmlDeviceGetFanSpeed, handle)
        self._compute_processes = bind("processes", nv.nvmlDeviceGetComputeRunningProcesses, handle)
        graphics_fn = getattr(nv, "nvmlDeviceGetGraphicsRunningProcesses", None)
        self._graphics_processes = (
            bind("graphics_processes", graphics_fn, handle) if graphics_fn else _absent
        )
        # Newer bindings renamed "clocks throttle reasons" to "clocks event reasons".
        clock_events_fn = getattr(
            nv,
            "nvmlDeviceGetCurrentClocksEventReasons",
            getattr(nv, "nvmlDeviceGetCurrentClocksThrottleReasons", None),
        )
        self._clock_events = (
            bind("clock_events", clock_events_fn, handle) if clock_events_fn else _absent
        )
        # Rate-limited by ``GuardedCalls.every``, which guards them
        self._energy = functools.partial(nv.nvmlDeviceGetTotalEnergyConsumption, handle)
        self._power_limit = functools.partial(nv.nvmlDeviceGetEnforcedPowerLimit, handle)
        # nvmlDeviceGetTemperature is deprecated (removal announced for CUDA 14); drivers older
        # than the V call answer FunctionNotFound, which marks it unsupported after one try.
        self._temperature = calls.bind_first_of(
            *(
                (key, getattr(nv, fn_name), (handle, nv.NVML_TEMPERATURE_GPU))
                for key, fn_name in (
                    ("temperature_v", "nvmlDeviceGetTemperatureV"),
                    ("temperature", "nvmlDeviceGetTemperature"),
                )
                if hasattr(nv, fn_name)
            )
        )
        # nvmlDeviceGetPowerUsage is a 1 s average on Ampere (except GA100) and newer (NVML docs);
        # the instant field is what a live view and a power integral need. Older GPUs lack the
        # field, and their nvmlDeviceGetPowerUsage is instantaneous anyway.
        self._power = calls.bind_first_of(
            ("power_instant", _instant_power_mw, (nv, handle)),
            ("power_usage", nv.nvmlDeviceGetPowerUsage, (handle,)),
        )
        # The v1 memory call folds driver-reserved memory into "used" (480 MiB on an idle H100);
        # _v2 reports what processes allocated, as nvidia-smi 580 does. Old drivers lack _v2.
        v2 = getattr(nv, "nvmlMemory_v2", None)
        self._memory = calls.bind_first_of(
            *([("memory_v2", nv.nvmlDeviceGetMemoryInfo, (handle, v2))] if v2 is not None else []),
            ("memory", nv.nvmlDeviceGetMemoryInfo, (handle,)),
        )

    def want_activity(self, wanted: bool) -> None:
        """GPM is sampled only while wanted (the sampler says so, on its thread)."""
        self._gpm.want(wanted)

    def close(self) -> None:
        """Free what this device holds in NVML (GPM samples); before nvmlShutdown."""
        self._gpm.close()

    def read(self, now_s: float, exact_energy: bool = False) -> Reading:
        calls = self._calls
        util = self._utilization()
        memory = self._memory()
        power_mw = calls.every("power", POWER_PERIOD_S, now_s, self._power)
        energy_period_s = 0.0 if exact_energy else ENERGY_PERIOD_S
        energy_mj = calls.every("energy", energy_period_s, now_s, self._energy)
        limit_mw = calls.every("power_limit", LIMIT_PERIOD_S, now_s, self._power_limit)
        events = self._clock_events()
        if not exact_energy:
            self._activity = self._gpm.read(now_s)
        # A window's edge is an extra read between two ticks: a GPM sample there would cut the
        # next tick's interval short, and leave the stretch before the edge unpublished. It
        # repeats the last tick's activity instead.
        activity, activity_note = self._activity
        return Reading(
            time_s=now_s,
            wall_time_s=time.time(),
            util_gpu_pct=float(util.gpu) if util is not None else None,
            util_mem_pct=float(util.memory) if util is not None else None,
            mem_used_mib=memory.used / MIB if memory is not None else None,
            mem_total_mib=memory.total / MIB if memory is not None else None,
            power_w=power_mw / 1000 if power_mw is not None else None,
            power_limit_w=limit_mw / 1000 if limit_mw is not None else None,
            energy_counter_j=energy_mj / 1000 if energy_mj is not None else None,
            energy_counter_stale=calls.read_at("energy") != now_s,
            temp_c=_float(self._temperature()),
            clock_core_mhz=_float(self._clock_sm()),
            clock_mem_mhz=_float(self._clock_mem()),
            pstate=self._pstate(),
            throttle_reasons=clock_event_names(events) if events is not None else None,
            fan_pct=_float(self._fan()),
            processes=self._processes(now_s),
            **activity,
            activity_note=activity_note,
        )

    def _processes(self, now_s: float) -> tuple[ProcessUsage, ...] | None:
        """Compute and graphics processes, merged by pid, with their SM and memory-bus share
        where the driver samples processes. The rows are built again only when the driver's
        lists or the shares changed: a busy GPU lists the same processes read after read."""
        compute = self._compute_processes()
        if compute is None:
            return None
        graphics = self._graphics_processes() or ()
        utilization = self._shares.read(now_s) if compute or graphics else None
        listed = (
            [(p.pid, p.usedGpuMemory) for p in compute],
            [(p.pid, p.usedGpuMemory) for p in graphics],
        )
        # the shares are the same object until they are read again (about once a second)
        if listed != self._listed or utilization is not self._listed_shares:
            self._usages = self._process_rows(*listed, utilization)
            self._listed, self._listed_shares = listed, utilization
        return self._usages

    def _process_rows(
        self, compute: Listed, graphics: Listed, utilization: Shares | None
    ) -> tuple[ProcessUsage, ...]:
        kinds: dict[int, str] = {}
        memory: dict[int, int | None] = {}
        for kind, listed in (("C", compute), ("G", graphics)):
            for pid, used in listed:
                kinds[pid] = "C+G" if kinds.get(pid, kind) != kind else kind
                known = [m for m in (memory.get(pid), used) if m is not None]
                memory[pid] = max(known) if known else None  # one allocation, listed twice
        usages = []
        for pid, kind in kinds.items():
            used = memory[pid]
            # a listed process the driver sampled no activity from since the last read: 0 %
            sm, bus = (None, None) if utilization is None else utilization.get(pid, (0.0, 0.0))
            usages.append(
                ProcessUsage(
                    pid=pid,
                    name=self._process_names.name(pid),
                    # None when the driver cannot attribute memory (WDDM, some containers)
                    gpu_mem_mib=used / MIB if used is not None else None,
                    kind=kind,
                    sm_pct=sm,
                    mem_bus_pct=bus,
                )
            )
        return tuple(usages)


def _instant_power_mw(nv: ModuleType, handle: Any) -> int:
    (field,) = nv.nvmlDeviceGetFieldValues(handle, [nv.NVML_FI_DEV_POWER_INSTANT])
    if field.nvmlReturn != nv.NVML_SUCCESS:  # per-field status, e.g. NotSupported
        raise nv.NVMLError(field.nvmlReturn)
    return int(field.value.uiVal)


def _absent() -> None:  # a call these bindings lack: its metric is None
    return None


def _float(value: int | float | None) -> float | None:
    return float(value) if value is not None else None


def probe() -> BackendProbe:
    """Open every NVIDIA GPU, or say in one line why there are none."""
    probe_result = BackendProbe(name="nvml")
    if worth_asking("pynvml") and not loads(["libnvidia-ml.so.1"]):  # what nvidia-ml-py loads
        probe_result.absent_reason = LIBRARY_NOT_FOUND
        return probe_result
    try:
        import pynvml as nv
    except Exception as exc:  # any import failure means the backend is absent
        probe_result.absent_reason = f"NVML: nvidia-ml-py not importable ({type(exc).__name__})"
        return probe_result
    try:
        nv.nvmlInit()
    except nv.NVMLError as exc:
        probe_result.absent_reason = _init_failure(nv, exc)
        return probe_result
    probe_result.shutdown = functools.partial(_shutdown, nv, probe_result.devices)
    try:
        count = nv.nvmlDeviceGetCount()
        driver = _text(nv.nvmlSystemGetDriverVersion())
        for index in range(count):
            try:
                probe_result.devices.append(NvidiaDevice(nv, index, driver))
            except (DeviceLost, nv.NVMLError) as exc:  # one bad GPU must not hide the others
                probe_result.unusable.append(f"NVML: GPU {index} unusable ({exc})")
    except nv.NVMLError as exc:
        probe_result.close()
        probe_result.absent_reason = f"NVML: cannot enumerate GPUs ({exc})"
        return probe_result
    if not probe_result.devices and not probe_result.unusable:
        probe_result.close()
        probe_result.absent_reason = "NVML: driver loaded but no NVIDIA GPU found"
    return probe_result


def _shutdown(nv: ModuleType, devices: list[Any]) -> None:
    """Free every device's GPM samples, then shut NVML down."""
    for device in devices:
        device.close()
    nv.nvmlShutdown()


LIBRARY_NOT_FOUND = "NVML: driver not found (libnvidia-ml.so.1 not loadable)"


def _init_failure(nv: ModuleType, exc: Exception) -> str:
    if isinstance(exc, getattr(nv, "NVMLError_LibraryNotFound", ())):
        return LIBRARY_NOT_FOUND
    if isinstance(exc, getattr(nv, "NVMLError_DriverNotLoaded", ())):
        return "NVML: NVIDIA driver not loaded"
    if isinstance(exc, getattr(nv, "NVMLError_NoPermission", ())):
        return "NVML: no permission to open the NVIDIA devices"
    return f"NVML: init failed ({exc})"
