"""AMD GPUs through ``amdsmi`` (ROCm's Python bindings).

amdsmi units (7.x): memory in bytes, power in W (``power_limit`` in microwatts on some releases,
told apart by magnitude), energy as ``energy_accumulator * counter_resolution`` µJ, clocks in
MHz, temperature in °C. Values the hardware does not report come back as the string "N/A";
they become ``None`` here and go no further.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import time
from pathlib import Path
from types import ModuleType
from typing import Any

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
from gpuscope.telemetry.precisions import amd_precisions

# AMD's update period is not measured here yet; NVML's 100 ms (H100) is the working assumption.
POWER_PERIOD_S = 0.1
LIMIT_PERIOD_S = 1.0
# A power limit above this many "watts" is really µW (the 7.13 preview reports µW).
_MICROWATT_THRESHOLD = 100_000

_STATUS_NOT_SUPPORTED = 2
_STATUS_NOT_YET_IMPLEMENTED = 3
_STATUS_NO_PERM = 10
_STATUS_DRIVER_NOT_LOADED = 34
_STATUS_AMDGPU_RESTART_ERR = 54


def number(value: Any) -> float | None:
    """amdsmi's value as a float, or None for its "N/A" (and any other non-number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _classifier(smi: ModuleType) -> Any:
    def classify(exc: Exception) -> CallFailure | None:
        if not isinstance(exc, smi.AmdSmiLibraryException):
            return None
        code = exc.get_error_code()
        if code in (_STATUS_NOT_SUPPORTED, _STATUS_NOT_YET_IMPLEMENTED, _STATUS_NO_PERM):
            return CallFailure.UNSUPPORTED
        if code in (_STATUS_DRIVER_NOT_LOADED, _STATUS_AMDGPU_RESTART_ERR):
            return CallFailure.LOST
        return CallFailure.TRANSIENT

    return classify


class AmdDevice:
    """One amdsmi processor handle."""

    def __init__(self, smi: ModuleType, index: int, handle: Any) -> None:
        self._smi = smi
        self._handle = handle
        self._calls = calls = GuardedCalls(_classifier(smi))
        self._gfx_busy: dict[int, tuple[float, float]] = {}  # pid -> (read at, gfx busy ns)
        asic = calls("asic", smi.amdsmi_get_gpu_asic_info, handle) or {}
        board = calls("board", smi.amdsmi_get_gpu_board_info, handle) or {}
        driver = calls("driver", smi.amdsmi_get_gpu_driver_info, handle) or {}
        total = calls(
            "vram_total", smi.amdsmi_get_gpu_memory_total, handle, smi.AmdSmiMemoryType.VRAM
        )
        energy = calls("energy", smi.amdsmi_get_energy_count, handle)
        self._fan_max = number(calls("fan_max", smi.amdsmi_get_gpu_fan_speed_max, handle, 0))
        self._mem_total_mib = total / MIB if total is not None else None
        name = _text_or_none(asic.get("market_name")) or _text_or_none(board.get("product_name"))
        self.info = DeviceInfo(
            device_id=f"amd:{index}",
            vendor=Vendor.AMD,
            index=index,
            name=name or "AMD GPU",
            uuid=calls("uuid", smi.amdsmi_get_gpu_device_uuid, handle),
            pci_bus_id=calls("bdf", smi.amdsmi_get_gpu_device_bdf, handle),
            driver=_text_or_none(driver.get("driver_version")),
            mem_total_mib=self._mem_total_mib,
            has_energy_counter=energy is not None,
            notes=() if energy is not None else ("energy counter not supported: power integrated",),
            precisions=amd_precisions(_text_or_none(asic.get("target_graphics_version"))),
        )

    def read(self, now_s: float, exact_energy: bool = False) -> Reading:
        smi, calls, handle = self._smi, self._calls, self._handle
        activity = calls("activity", smi.amdsmi_get_gpu_activity, handle) or {}
        used = calls(
            "vram_used", smi.amdsmi_get_gpu_memory_usage, handle, smi.AmdSmiMemoryType.VRAM
        )
        power = calls.every("power", POWER_PERIOD_S, now_s, smi.amdsmi_get_power_info, handle) or {}
        energy = calls.every("energy", POWER_PERIOD_S, now_s, smi.amdsmi_get_energy_count, handle)
        gfx = calls("clock_gfx", smi.amdsmi_get_clock_info, handle, smi.AmdSmiClkType.GFX) or {}
        mem = calls("clock_mem", smi.amdsmi_get_clock_info, handle, smi.AmdSmiClkType.MEM) or {}
        fan = number(calls("fan", smi.amdsmi_get_gpu_fan_speed, handle, 0))
        return Reading(
            time_s=now_s,
            wall_time_s=time.time(),
            util_gpu_pct=number(activity.get("gfx_activity")),
            util_mem_pct=number(activity.get("umc_activity")),
            mem_used_mib=used / MIB if used is not None else None,
            mem_total_mib=self._mem_total_mib,
            power_w=_socket_power_w(power),
            power_limit_w=_power_limit_w(power.get("power_limit")),
            energy_counter_j=_energy_j(energy),
            temp_c=self._temperature_c(),
            clock_core_mhz=number(gfx.get("clk")),
            clock_mem_mhz=number(mem.get("clk")),
            pstate=None,  # amdsmi has performance levels, not P-states
            throttle_reasons=None,
            fan_pct=100 * fan / self._fan_max if fan is not None and self._fan_max else None,
            processes=self._processes(now_s),
        )

    def _temperature_c(self) -> float | None:
        # EDGE is often unsupported on MI-series parts; HOTSPOT (== JUNCTION) usually is.
        smi = self._smi
        return number(
            self._calls.first_of(
                *(
                    (
                        f"temp_{sensor.lower()}",
                        smi.amdsmi_get_temp_metric,
                        (
                            self._handle,
                            getattr(smi.AmdSmiTemperatureType, sensor),
                            smi.AmdSmiTemperatureMetric.CURRENT,
                        ),
                    )
                    for sensor in ("HOTSPOT", "EDGE")
                )
            )
        )

    def _processes(self, now_s: float) -> tuple[ProcessUsage, ...] | None:
        """The GPU's processes; each one's graphics-engine share is its ``engine_usage.gfx``
        (cumulative busy ns) over the time since the previous read: n/a on its first read."""
        procs = self._calls("processes", self._smi.amdsmi_get_gpu_process_list, self._handle)
        if procs is None:
            return None
        busy_before, self._gfx_busy = self._gfx_busy, {}
        result = []
        for proc in procs:
            pid = int(proc["pid"])
            vram = number(proc.get("memory_usage", {}).get("vram_mem"))
            gfx_ns = number(proc.get("engine_usage", {}).get("gfx"))
            share = None
            if gfx_ns is not None:
                self._gfx_busy[pid] = (now_s, gfx_ns)
                before = busy_before.get(pid)
                if before is not None and now_s > before[0] and gfx_ns >= before[1]:
                    busy = (gfx_ns - before[1]) / 1e9 / (now_s - before[0])
                    share = min(100.0, 100.0 * busy)
            result.append(
                ProcessUsage(
                    pid=pid,
                    name=_text_or_none(proc.get("name")),
                    gpu_mem_mib=vram / MIB if vram is not None else None,
                    sm_pct=share,  # the graphics engine's share: AMD's nearest to SM %
                )
            )
        return tuple(result)


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value and value != "N/A" else None


def _socket_power_w(power: dict[str, Any]) -> float | None:
    # current_socket_power is filled on MI300+, average_socket_power on Navi and MI200 and earlier.
    for key in ("current_socket_power", "average_socket_power", "socket_power"):
        value = number(power.get(key))
        if value is not None:
            return value
    return None


def _power_limit_w(value: Any) -> float | None:
    limit = number(value)
    if limit is None:
        return None
    return limit / 1e6 if limit > _MICROWATT_THRESHOLD else limit


def _energy_j(energy: dict[str, Any] | None) -> float | None:
    if not energy:
        return None
    count = number(energy.get("energy_accumulator"))
    resolution_uj = number(energy.get("counter_resolution"))
    if count is None or resolution_uj is None:
        return None
    return count * resolution_uj / 1e6


def _without_library() -> str | None:
    """Why amdsmi cannot work here, found without importing it; None where it may."""
    try:
        spec = importlib.util.find_spec("amdsmi")
    except Exception:  # a finder that fails: let the import say
        return None
    if spec is None:
        return NOT_INSTALLED
    package = Path(spec.origin).parent if spec.origin else None
    rocm = os.environ.get("ROCM_HOME", os.environ.get("ROCM_PATH"))
    candidates: list[str | Path] = [  # where amdsmi looks (amdsmi_wrapper.find_smi_library)
        *([Path(rocm) / "lib" / "libamd_smi.so"] if rocm else []),
        "libamd_smi.so",
        *([package / "libamd_smi.so"] if package else []),
        Path(os.environ.get("ROCM_PATH", "/opt/rocm")) / "lib" / "libamd_smi.so",
    ]
    return (
        None if loads(candidates) else "amdsmi: ROCm library not loadable (libamd_smi.so not found)"
    )


NOT_INSTALLED = "amdsmi: not installed (pip install 'gpuscope[amd]')"
LIBRARY_NOT_FOUND = "amdsmi: ROCm library not loadable (libamd_smi.so not found)"


def probe() -> BackendProbe:
    """Open every AMD GPU, or say in one line why there are none."""
    probe_result = BackendProbe(name="amdsmi")
    if worth_asking("amdsmi"):
        missing = _without_library()
        if missing is not None:
            probe_result.absent_reason = missing
            return probe_result
    try:
        # amdsmi print()s its library-load failures to stdout, which would corrupt
        # `gpuscope record -o -` and `gpuscope list --json`: keep them out.
        with contextlib.redirect_stdout(io.StringIO()):
            import amdsmi as smi
    except ModuleNotFoundError:
        probe_result.absent_reason = NOT_INSTALLED
        return probe_result
    except Exception as exc:  # KeyError('libamd_smi.so') when ROCm is absent, OSError elsewhere
        probe_result.absent_reason = (
            f"amdsmi: ROCm library not loadable ({type(exc).__name__}: {exc})"
        )
        return probe_result
    try:
        smi.amdsmi_init(smi.AmdSmiInitFlags.INIT_AMD_GPUS)
    except smi.AmdSmiException as exc:
        probe_result.absent_reason = (
            f"amdsmi: init failed, amdgpu driver not loaded? ({exc})".replace("\n", " ")
        )
        return probe_result
    probe_result.shutdown = smi.amdsmi_shut_down
    try:
        handles = smi.amdsmi_get_processor_handles()
        for index, handle in enumerate(handles):
            try:
                probe_result.devices.append(AmdDevice(smi, index, handle))
            except (DeviceLost, smi.AmdSmiException) as exc:  # one bad GPU must not hide the others
                probe_result.unusable.append(
                    f"amdsmi: GPU {index} unusable ({exc})".replace("\n", " ")
                )
    except smi.AmdSmiException as exc:
        probe_result.close()
        probe_result.absent_reason = f"amdsmi: cannot enumerate GPUs ({exc})".replace("\n", " ")
        return probe_result
    if not probe_result.devices and not probe_result.unusable:
        probe_result.close()
        probe_result.absent_reason = "amdsmi: no AMD GPU found"
    return probe_result
