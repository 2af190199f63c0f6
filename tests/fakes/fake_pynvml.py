"""A fake ``pynvml`` that mirrors the real nvidia-ml-py API gpuscope uses.

Same function names, same exception classes (``NVMLError(value)`` mapping to subclasses such as
``NVMLError_NotSupported``), same units (bytes, mW, mJ, MHz, °C), same quirks (``nvmlInit`` first,
``usedGpuMemory`` None when unknown, ``busId`` as bytes). ``tests/test_fakes_conform.py`` checks
the names and constants against the installed real module. GPUs follow scripted timelines driven
by an injectable clock so energy has a known integral.
"""

from __future__ import annotations

import time
import types
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.fake_gpm import FakeGpm, install_gpm

# Error codes and constants, as in the real pynvml.
NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_RESET_REQUIRED = 16
NVML_ERROR_IN_USE = 19  # e.g. GPM counters held by DCGM's profiling
NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25
NVML_ERROR_UNKNOWN = 999
NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_VALUE_TYPE_UNSIGNED_INT = 1
NVML_FI_DEV_POWER_AVERAGE = 185
NVML_FI_DEV_POWER_INSTANT = 186
nvmlMemory_v2 = 0x02000028

_ERROR_STRINGS = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized",
    NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
    NVML_ERROR_NOT_SUPPORTED: "Not Supported",
    NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
    NVML_ERROR_NOT_FOUND: "Not Found",
    NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
    NVML_ERROR_TIMEOUT: "Timeout",
    NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
    NVML_ERROR_FUNCTION_NOT_FOUND: "Function Not Found",
    NVML_ERROR_GPU_IS_LOST: "GPU is lost",
    NVML_ERROR_RESET_REQUIRED: "GPU requires restart",
    NVML_ERROR_UNKNOWN: "Unknown Error",
}


class NVMLError(Exception):
    """As in pynvml: ``NVMLError(code)`` builds the matching subclass; ``.value`` is the code."""

    _valClassMapping: dict[int, type[NVMLError]] = {}  # noqa: RUF012 (mirrors pynvml)

    def __new__(cls, value: int) -> NVMLError:
        if cls is NVMLError:
            cls = NVMLError._valClassMapping.get(value, cls)
        obj = Exception.__new__(cls)
        obj.value = value  # type: ignore[attr-defined]
        return obj

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)

    def __str__(self) -> str:
        return _ERROR_STRINGS.get(self.value, f"NVML Error with code {self.value}")  # type: ignore[attr-defined]


def _error_class(name: str, code: int) -> type[NVMLError]:
    def new(cls: type[NVMLError], *args: Any) -> NVMLError:
        return NVMLError.__new__(cls, code)

    cls = type(name, (NVMLError,), {"__new__": new})
    NVMLError._valClassMapping[code] = cls
    return cls


NVMLError_Uninitialized = _error_class("NVMLError_Uninitialized", NVML_ERROR_UNINITIALIZED)
NVMLError_NotSupported = _error_class("NVMLError_NotSupported", NVML_ERROR_NOT_SUPPORTED)
NVMLError_NoPermission = _error_class("NVMLError_NoPermission", NVML_ERROR_NO_PERMISSION)
NVMLError_NotFound = _error_class("NVMLError_NotFound", NVML_ERROR_NOT_FOUND)
NVMLError_DriverNotLoaded = _error_class("NVMLError_DriverNotLoaded", NVML_ERROR_DRIVER_NOT_LOADED)
NVMLError_Timeout = _error_class("NVMLError_Timeout", NVML_ERROR_TIMEOUT)
NVMLError_LibraryNotFound = _error_class("NVMLError_LibraryNotFound", NVML_ERROR_LIBRARY_NOT_FOUND)
NVMLError_FunctionNotFound = _error_class(
    "NVMLError_FunctionNotFound", NVML_ERROR_FUNCTION_NOT_FOUND
)
NVMLError_GpuIsLost = _error_class("NVMLError_GpuIsLost", NVML_ERROR_GPU_IS_LOST)
NVMLError_ResetRequired = _error_class("NVMLError_ResetRequired", NVML_ERROR_RESET_REQUIRED)
NVMLError_InUse = _error_class("NVMLError_InUse", NVML_ERROR_IN_USE)
NVMLError_Unknown = _error_class("NVMLError_Unknown", NVML_ERROR_UNKNOWN)


@dataclass(frozen=True)
class Ramp:
    """Power that changes linearly with time: its integral is exact, and so are trapezoids on it."""

    start_w: float
    slope_w_per_s: float = 0.0
    origin_s: float = 0.0  # the time at which power is start_w

    def power_w(self, t: float) -> float:
        return self.start_w + self.slope_w_per_s * (t - self.origin_s)

    def energy_j(self, t0: float, t1: float) -> float:
        return (self.power_w(t0) + self.power_w(t1)) / 2 * (t1 - t0)  # exact for a line


@dataclass
class FakeGpu:
    """One scripted GPU. Times are seconds on the fake's clock; power in W, as a function of t."""

    name: str = "NVIDIA H100 80GB HBM3"
    compute_capability: tuple[int, int] = (9, 0)  # (major, minor), as the real call returns
    uuid: str = "GPU-95357a56-2693-2a14-bbc1-4162166b5e18"
    bus_id: str = "00000000:00:06.0"
    mem_total: int = 85520809984  # bytes
    mem_used: int = 0  # allocated by processes (what _v2 calls "used")
    mem_reserved: int = 503316480  # driver-reserved; the v1 call counts it as used
    power: Ramp = field(default_factory=lambda: Ramp(75.0))
    # Ampere (except GA100) and newer: nvmlDeviceGetPowerUsage is the mean of the last second.
    power_usage_is_1s_average: bool = True
    energy_offset_mj: int = 2726435  # the counter counts since the driver loaded, not from 0
    power_limit_mw: int = 700000
    util_gpu: int = 0
    util_mem: int = 0
    temperature: int = 37
    sm_clock: int = 885
    mem_clock: int = 2619
    pstate: int = 0
    clock_events: int = 0x1  # GpuIdle, as the H100 reports at rest
    processes: list[tuple[int, int | None]] = field(default_factory=list)  # (pid, bytes or None)
    graphics_processes: list[tuple[int, int | None]] = field(default_factory=list)
    # The driver's per-process sample buffer: (pid, timestamp in µs, SM %, memory %). Both
    # utilization calls return the samples newer than the timestamp they are given, and raise
    # NotFound when there are none (which means idle, not unsupported).
    process_samples: list[tuple[int, int, int, int]] = field(default_factory=list)
    # Processes busy at a steady share: (SM %, memory %) by pid, sampled "now" at every call.
    busy_processes: dict[int, tuple[int, int]] = field(default_factory=dict)
    # Real-API function or field names that are NotSupported here (the H100 has no fan reading).
    unsupported: set[str] = field(
        default_factory=lambda: {
            "nvmlDeviceGetFanSpeed",
            "nvmlDeviceGetProcessUtilization",  # the H100 on driver 580 samples no processes
            "nvmlDeviceGetProcessesUtilizationInfo",
        }
    )
    lost_at: float | None = None  # from this time on every call raises NVMLError_GpuIsLost
    counter_resets_at: float | None = None  # driver reload: the energy counter restarts at 0
    gpm: FakeGpm = field(default_factory=FakeGpm)  # GPM: support, scripted activity, MIG


class _Struct:
    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


class FakeNvml:
    """Builds a module object standing in for ``pynvml``; counts every call by function name."""

    def __init__(
        self,
        gpus: list[FakeGpu],
        clock: Callable[[], float] = time.monotonic,
        driver: str = "580.159.04",
        init_error: int | None = None,
    ) -> None:
        self.gpus = gpus
        self.clock = clock
        self.driver = driver
        self.init_error = init_error
        self.initialised = False
        self.calls: Counter[str] = Counter()
        self.gpm_samples: dict[int, Any] = {}  # GPM samples allocated and not yet freed

    @staticmethod
    def energy_mj(gpu: FakeGpu, t: float) -> int:
        """The counter at time t: the power timeline's integral, in whole mJ like NVML."""
        start = 0.0
        offset = gpu.energy_offset_mj
        if gpu.counter_resets_at is not None and t >= gpu.counter_resets_at:
            start, offset = gpu.counter_resets_at, 0
        return offset + int(gpu.power.energy_j(start, t) * 1000)

    def module(self) -> types.ModuleType:
        mod = types.ModuleType("pynvml")
        for name, value in globals().items():
            if name.startswith(("NVML_", "NVMLError", "nvmlMemory_")):
                setattr(mod, name, value)

        def api(fn: Callable[..., Any]) -> Callable[..., Any]:
            name = fn.__name__

            def wrapper(*args: Any) -> Any:
                self.calls[name] = self.calls[name] + 1
                if name not in ("nvmlInit", "nvmlShutdown") and not self.initialised:
                    raise NVMLError(NVML_ERROR_UNINITIALIZED)
                if args and isinstance(args[0], FakeGpu):
                    gpu = args[0]
                    if gpu.lost_at is not None and self.clock() >= gpu.lost_at:
                        raise NVMLError(NVML_ERROR_GPU_IS_LOST)
                    if name in gpu.unsupported:
                        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
                return fn(*args)

            wrapper.__name__ = name
            setattr(mod, name, wrapper)
            return wrapper

        @api
        def nvmlInit() -> None:
            if self.init_error is not None:
                raise NVMLError(self.init_error)
            self.initialised = True

        @api
        def nvmlShutdown() -> None:
            self.initialised = False

        @api
        def nvmlDeviceGetCount() -> int:
            return len(self.gpus)

        @api
        def nvmlDeviceGetHandleByIndex(index: int) -> FakeGpu:
            if not 0 <= index < len(self.gpus):
                raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
            return self.gpus[index]

        @api
        def nvmlSystemGetDriverVersion() -> str:
            return self.driver

        @api
        def nvmlSystemGetNVMLVersion() -> str:
            return f"13.{self.driver}"  # as the H100's driver 580.159.04 reports 13.580.159.04

        @api
        def nvmlSystemGetCudaDriverVersion() -> int:
            return 13000  # CUDA 13.0, encoded as 1000 * major + 10 * minor

        @api
        def nvmlDeviceGetName(gpu: FakeGpu) -> str:
            return gpu.name

        @api
        def nvmlDeviceGetUUID(gpu: FakeGpu) -> str:
            return gpu.uuid

        @api
        def nvmlDeviceGetCudaComputeCapability(gpu: FakeGpu) -> tuple[int, int]:
            return gpu.compute_capability

        @api
        def nvmlDeviceGetPciInfo(gpu: FakeGpu) -> _Struct:
            return _Struct(busId=gpu.bus_id.encode(), busIdLegacy=gpu.bus_id[4:].encode())

        @api
        def nvmlDeviceGetMemoryInfo(gpu: FakeGpu, version: int | None = None) -> _Struct:
            if not version:  # v1: reserved memory counts as used
                used = gpu.mem_used + gpu.mem_reserved
                return _Struct(total=gpu.mem_total, free=gpu.mem_total - used, used=used)
            if "nvmlDeviceGetMemoryInfo_v2" in gpu.unsupported:  # a driver without the _v2 symbol
                raise NVMLError(NVML_ERROR_FUNCTION_NOT_FOUND)
            return _Struct(
                version=version,
                total=gpu.mem_total,
                reserved=gpu.mem_reserved,
                free=gpu.mem_total - gpu.mem_reserved - gpu.mem_used,
                used=gpu.mem_used,
            )

        @api
        def nvmlDeviceGetUtilizationRates(gpu: FakeGpu) -> _Struct:
            return _Struct(gpu=gpu.util_gpu, memory=gpu.util_mem)

        @api
        def nvmlDeviceGetPowerUsage(gpu: FakeGpu) -> int:
            t = self.clock()
            watts = (
                gpu.power.energy_j(t - 1, t)
                if gpu.power_usage_is_1s_average
                else gpu.power.power_w(t)
            )
            return round(watts * 1000)

        @api
        def nvmlDeviceGetFieldValues(gpu: FakeGpu, fieldIds: list[int]) -> list[_Struct]:
            t = self.clock()
            values = []
            for field_id in fieldIds:
                if (
                    field_id == NVML_FI_DEV_POWER_INSTANT
                    and "NVML_FI_DEV_POWER_INSTANT" not in gpu.unsupported
                ):
                    status, value = NVML_SUCCESS, round(gpu.power.power_w(t) * 1000)
                elif (
                    field_id == NVML_FI_DEV_POWER_AVERAGE
                    and "NVML_FI_DEV_POWER_AVERAGE" not in gpu.unsupported
                ):
                    status, value = NVML_SUCCESS, round(gpu.power.energy_j(t - 1, t) * 1000)
                else:
                    status, value = NVML_ERROR_NOT_SUPPORTED, 0
                values.append(
                    _Struct(
                        fieldId=field_id,
                        scopeId=0,
                        timestamp=int(t * 1e6),
                        latencyUsec=0,
                        valueType=NVML_VALUE_TYPE_UNSIGNED_INT,
                        nvmlReturn=status,
                        value=_Struct(uiVal=value),
                    )
                )
            return values

        @api
        def nvmlDeviceGetEnforcedPowerLimit(gpu: FakeGpu) -> int:
            return gpu.power_limit_mw

        @api
        def nvmlDeviceGetTotalEnergyConsumption(gpu: FakeGpu) -> int:
            return self.energy_mj(gpu, self.clock())

        @api
        def nvmlDeviceGetTemperatureV(gpu: FakeGpu, sensor: int) -> int:
            return gpu.temperature

        @api
        def nvmlDeviceGetTemperature(gpu: FakeGpu, sensor: int) -> int:
            return gpu.temperature

        @api
        def nvmlDeviceGetClockInfo(gpu: FakeGpu, clock_type: int) -> int:
            return gpu.sm_clock if clock_type == NVML_CLOCK_SM else gpu.mem_clock

        @api
        def nvmlDeviceGetPerformanceState(gpu: FakeGpu) -> int:
            return gpu.pstate

        @api
        def nvmlDeviceGetCurrentClocksEventReasons(gpu: FakeGpu) -> int:
            return gpu.clock_events

        @api
        def nvmlDeviceGetFanSpeed(gpu: FakeGpu) -> int:
            return 30

        @api
        def nvmlDeviceGetComputeRunningProcesses(gpu: FakeGpu) -> list[_Struct]:
            return [_Struct(pid=pid, usedGpuMemory=used) for pid, used in gpu.processes]

        @api
        def nvmlDeviceGetGraphicsRunningProcesses(gpu: FakeGpu) -> list[_Struct]:
            return [_Struct(pid=pid, usedGpuMemory=used) for pid, used in gpu.graphics_processes]

        def newer_samples(gpu: FakeGpu, time_stamp: int) -> list[tuple[int, int, int, int]]:
            now_us = int(self.clock() * 1e6)
            steady = [(pid, now_us, sm, mem) for pid, (sm, mem) in gpu.busy_processes.items()]
            every = [*gpu.process_samples, *steady]
            if not every:  # nvidia-ml-py: the size call succeeds with 0, and it raises anyway
                raise NVMLError(NVML_SUCCESS)
            found = [s for s in every if s[1] > time_stamp]
            if not found:
                raise NVMLError(NVML_ERROR_NOT_FOUND)
            return found

        @api
        def nvmlDeviceGetProcessUtilization(gpu: FakeGpu, timeStamp: int) -> list[_Struct]:
            # c_nvmlProcessUtilizationSample_t
            return [
                _Struct(pid=pid, timeStamp=ts, smUtil=sm, memUtil=mem, encUtil=0, decUtil=0)
                for pid, ts, sm, mem in newer_samples(gpu, timeStamp)
            ]

        @api
        def nvmlDeviceGetProcessesUtilizationInfo(gpu: FakeGpu, timeStamp: int) -> list[_Struct]:
            # nvidia-ml-py returns the c_nvmlProcessUtilizationInfo_v1_t array (procUtilArray)
            return [
                _Struct(
                    timeStamp=ts,
                    pid=pid,
                    smUtil=sm,
                    memUtil=mem,
                    encUtil=0,
                    decUtil=0,
                    jpgUtil=0,
                    ofaUtil=0,
                )
                for pid, ts, sm, mem in newer_samples(gpu, timeStamp)
            ]

        install_gpm(mod, self, api)
        return mod
