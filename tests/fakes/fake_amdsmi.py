"""A fake ``amdsmi`` that mirrors the real package's API (7.0.2) as gpuscope uses it.

Same function names, enum classes and values, exception classes (``AmdSmiLibraryException(code)``
with ``get_error_code()``), dict keys, "N/A" strings for unreported values, and units (bytes, W,
µJ per accumulator count, MHz, °C). ``tests/test_fakes_conform.py`` checks names and enum values
against the installed real package's source.
"""

from __future__ import annotations

import time
import types
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from tests.fakes.fake_pynvml import Ramp

AMDSMI_STATUS_NOT_SUPPORTED = 2
AMDSMI_STATUS_INIT_ERROR = 18
AMDSMI_STATUS_DRIVER_NOT_LOADED = 34


class AmdSmiInitFlags(IntEnum):
    INIT_ALL_PROCESSORS = 0xFFFFFFFF
    INIT_AMD_CPUS = 1
    INIT_AMD_GPUS = 2


class AmdSmiMemoryType(IntEnum):
    VRAM = 0
    VIS_VRAM = 1
    GTT = 2


class AmdSmiTemperatureType(IntEnum):
    EDGE = 0
    HOTSPOT = 1
    JUNCTION = 1
    VRAM = 2


class AmdSmiTemperatureMetric(IntEnum):
    CURRENT = 0


class AmdSmiClkType(IntEnum):
    SYS = 0
    GFX = 0
    MEM = 4


class AmdSmiException(Exception):
    """Base smi exception class"""


class AmdSmiLibraryException(AmdSmiException):
    def __init__(self, err_code: int) -> None:
        err_code = abs(err_code)
        super().__init__(err_code)
        self.err_code = err_code

    def __str__(self) -> str:
        return f"Error code:\n\t{self.err_code} | AMDSMI status {self.err_code}"

    def get_error_code(self) -> int:
        return self.err_code


class AmdSmiParameterException(AmdSmiException):
    def __init__(self, receivedValue: Any, expectedType: Any, msg: str | None = None) -> None:
        super().__init__(msg or f"expected {expectedType}, got {receivedValue!r}")


@dataclass
class FakeAmdGpu:
    """One scripted AMD GPU (an MI300X by default)."""

    market_name: str = "AMD Instinct MI300X"
    uuid: str = "65ff74a1-0000-1000-80d8-5ebd1dd1b0f6"
    bdf: str = "0000:c1:00.0"
    vram_total: int = 206141652992  # bytes
    vram_used: int = 299761664
    power: Ramp = field(default_factory=lambda: Ramp(140.0))
    power_key: str = "current_socket_power"  # MI300+ fill this one; Navi/MI200 average_socket_power
    power_limit_w: int = 750
    counter_resolution_uj: float = 15.259
    gfx_activity: int | str = 0
    umc_activity: int | str = "N/A"
    hotspot_c: int = 41
    gfx_clock: int = 132
    mem_clock: int = 900
    processes: list[dict[str, Any]] = field(default_factory=list)
    # (function name, first positional argument after the handle, or None) raising NOT_SUPPORTED
    unsupported: set[tuple[str, Any]] = field(
        default_factory=lambda: {
            ("amdsmi_get_temp_metric", AmdSmiTemperatureType.EDGE),
            ("amdsmi_get_gpu_fan_speed", None),
            ("amdsmi_get_gpu_fan_speed_max", None),
        }
    )


class _Handle:
    """Stands in for ``amdsmi_wrapper.amdsmi_processor_handle``."""

    def __init__(self, gpu: FakeAmdGpu) -> None:
        self.gpu = gpu


class FakeAmdSmi:
    def __init__(
        self,
        gpus: list[FakeAmdGpu],
        clock: Callable[[], float] = time.monotonic,
        init_error: int | None = None,
    ) -> None:
        self.gpus = gpus
        self.clock = clock
        self.init_error = init_error
        self.initialised = False
        self.calls: Counter[str] = Counter()

    def module(self) -> types.ModuleType:
        mod = types.ModuleType("amdsmi")
        for cls in (
            AmdSmiInitFlags,
            AmdSmiMemoryType,
            AmdSmiTemperatureType,
            AmdSmiTemperatureMetric,
            AmdSmiClkType,
            AmdSmiException,
            AmdSmiLibraryException,
            AmdSmiParameterException,
        ):
            setattr(mod, cls.__name__, cls)

        def api(fn: Callable[..., Any]) -> Callable[..., Any]:
            name = fn.__name__

            def wrapper(*args: Any) -> Any:
                self.calls[name] = self.calls[name] + 1
                if name != "amdsmi_init" and not self.initialised:
                    raise AmdSmiLibraryException(AMDSMI_STATUS_INIT_ERROR)
                if args and name != "amdsmi_init":
                    handle = args[0]
                    if not isinstance(handle, _Handle):
                        raise AmdSmiParameterException(handle, _Handle)
                    first = args[1] if len(args) > 1 and isinstance(args[1], IntEnum) else None
                    if (name, first) in handle.gpu.unsupported:
                        raise AmdSmiLibraryException(AMDSMI_STATUS_NOT_SUPPORTED)
                    return fn(handle.gpu, *args[1:])
                return fn(*args)

            wrapper.__name__ = name
            setattr(mod, name, wrapper)
            return wrapper

        @api
        def amdsmi_init(flag: AmdSmiInitFlags = AmdSmiInitFlags.INIT_AMD_GPUS) -> None:
            if self.init_error is not None:
                raise AmdSmiLibraryException(self.init_error)
            self.initialised = True

        @api
        def amdsmi_shut_down() -> None:
            self.initialised = False

        @api
        def amdsmi_get_processor_handles() -> list[_Handle]:
            return [_Handle(gpu) for gpu in self.gpus]

        @api
        def amdsmi_get_gpu_asic_info(gpu: FakeAmdGpu) -> dict[str, Any]:
            return {
                "market_name": gpu.market_name,
                "vendor_id": "0x1002",
                "vendor_name": "Advanced Micro Devices Inc. [AMD/ATI]",
                "device_id": "0x74a1",
                "num_compute_units": 304,
                "target_graphics_version": "gfx942",
                "asic_serial": "0x1234",
            }

        @api
        def amdsmi_get_gpu_board_info(gpu: FakeAmdGpu) -> dict[str, Any]:
            return {
                "product_name": gpu.market_name,
                "model_number": "N/A",
                "manufacturer_name": "AMD",
            }

        @api
        def amdsmi_get_gpu_driver_info(gpu: FakeAmdGpu) -> dict[str, Any]:
            return {
                "driver_name": "amdgpu",
                "driver_version": "6.10.5",
                "driver_date": "2015/01/01 00:00",
            }

        @api
        def amdsmi_get_gpu_device_uuid(gpu: FakeAmdGpu) -> str:
            return gpu.uuid

        @api
        def amdsmi_get_gpu_device_bdf(gpu: FakeAmdGpu) -> str:
            return gpu.bdf

        @api
        def amdsmi_get_gpu_memory_total(gpu: FakeAmdGpu, mem_type: AmdSmiMemoryType) -> int:
            return gpu.vram_total

        @api
        def amdsmi_get_gpu_memory_usage(gpu: FakeAmdGpu, mem_type: AmdSmiMemoryType) -> int:
            return gpu.vram_used

        @api
        def amdsmi_get_gpu_activity(gpu: FakeAmdGpu) -> dict[str, Any]:
            return {
                "gfx_activity": gpu.gfx_activity,
                "umc_activity": gpu.umc_activity,
                "mm_activity": "N/A",
            }

        @api
        def amdsmi_get_power_info(gpu: FakeAmdGpu) -> dict[str, Any]:
            info: dict[str, Any] = {
                "socket_power": "N/A",
                "current_socket_power": "N/A",
                "average_socket_power": "N/A",
                "gfx_voltage": "N/A",
                "soc_voltage": "N/A",
                "mem_voltage": "N/A",
                "power_limit": gpu.power_limit_w,
            }
            info[gpu.power_key] = round(gpu.power.power_w(self.clock()))
            return info

        @api
        def amdsmi_get_energy_count(gpu: FakeAmdGpu) -> dict[str, Any]:
            joules = gpu.power.energy_j(0.0, self.clock())
            return {
                "energy_accumulator": int(joules * 1e6 / gpu.counter_resolution_uj),
                "counter_resolution": gpu.counter_resolution_uj,
                "timestamp": int(self.clock() * 1e9),
            }

        @api
        def amdsmi_get_temp_metric(
            gpu: FakeAmdGpu, sensor: AmdSmiTemperatureType, metric: AmdSmiTemperatureMetric
        ) -> int:
            return gpu.hotspot_c

        @api
        def amdsmi_get_clock_info(gpu: FakeAmdGpu, clock_type: AmdSmiClkType) -> dict[str, Any]:
            clk = gpu.mem_clock if clock_type == AmdSmiClkType.MEM else gpu.gfx_clock
            return {
                "clk": clk,
                "min_clk": 100,
                "max_clk": 2100,
                "clk_locked": False,
                "clk_deep_sleep": 0,
            }

        @api
        def amdsmi_get_gpu_fan_speed(gpu: FakeAmdGpu, sensor_idx: int) -> int:
            return 100

        @api
        def amdsmi_get_gpu_fan_speed_max(gpu: FakeAmdGpu, sensor_idx: int) -> int:
            return 255

        @api
        def amdsmi_get_gpu_process_list(gpu: FakeAmdGpu) -> list[dict[str, Any]]:
            return list(gpu.processes)

        return mod
