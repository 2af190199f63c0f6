"""NVML's GPM API (Hopper and newer) for the fake ``pynvml``, mirroring nvidia-ml-py exactly.

The same ctypes structures (``c_nvmlGpmMetricsGet_t`` with ``metrics[i].metricId``,
``.nvmlReturn``, ``.value``, ``.metricInfo``; ``c_nvmlGpmSupport_t``), the same opaque sample
pointers (``c_nvmlGpmSample_t``), the same functions and constants. ``tests/test_fakes_conform.py``
checks the names, values and field names against the installed real module. A GPU's activity is
scripted per metric (``FakeGpm.activity``): a constant, or a function of the two samples' times,
so a test knows what ``nvmlGpmMetricsGet`` returns between two samples.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable
from ctypes import POINTER, Structure, c_char_p, c_double, c_uint, c_void_p, cast, pointer
from dataclasses import dataclass, field
from typing import Any

NVML_GPM_METRIC_SM_UTIL = 2
NVML_GPM_METRIC_SM_OCCUPANCY = 3
NVML_GPM_METRIC_ANY_TENSOR_UTIL = 5
NVML_GPM_METRIC_DFMA_TENSOR_UTIL = 6
NVML_GPM_METRIC_HMMA_TENSOR_UTIL = 7
NVML_GPM_METRIC_IMMA_TENSOR_UTIL = 9
NVML_GPM_METRIC_DRAM_BW_UTIL = 10
NVML_GPM_METRIC_FP64_UTIL = 11
NVML_GPM_METRIC_FP32_UTIL = 12
NVML_GPM_METRIC_FP16_UTIL = 13
NVML_GPM_METRIC_PCIE_TX_PER_SEC = 20
NVML_GPM_METRIC_PCIE_RX_PER_SEC = 21
NVML_GPM_METRIC_NVLINK_TOTAL_RX_PER_SEC = 60
NVML_GPM_METRIC_NVLINK_TOTAL_TX_PER_SEC = 61
NVML_GPM_METRIC_MAX = 477
NVML_GPM_METRICS_GET_VERSION = 1
NVML_GPM_SUPPORT_VERSION = 1
NVML_DEVICE_MIG_DISABLE = 0x0
NVML_DEVICE_MIG_ENABLE = 0x1
NVML_GPU_VIRTUALIZATION_MODE_NONE = 0
NVML_GPU_VIRTUALIZATION_MODE_VGPU = 2

_nvmlReturn_t = c_uint


class struct_c_nvmlGpmSample_t(Structure):
    pass  # opaque handle


c_nvmlGpmSample_t = POINTER(struct_c_nvmlGpmSample_t)


class c_metricInfo_t(Structure):
    _fields_ = [("shortName", c_char_p), ("longName", c_char_p), ("unit", c_char_p)]


class c_nvmlGpmMetric_t(Structure):
    _fields_ = [
        ("metricId", c_uint),
        ("nvmlReturn", _nvmlReturn_t),
        ("value", c_double),
        ("metricInfo", c_metricInfo_t),
    ]


class c_nvmlGpmMetricsGet_t(Structure):
    _fields_ = [
        ("version", c_uint),
        ("numMetrics", c_uint),
        ("sample1", c_nvmlGpmSample_t),
        ("sample2", c_nvmlGpmSample_t),
        ("metrics", c_nvmlGpmMetric_t * NVML_GPM_METRIC_MAX),
    ]


class c_nvmlGpmSupport_t(Structure):
    _fields_ = [("version", c_uint), ("isSupportedDevice", c_uint)]


STRUCTS = (
    "struct_c_nvmlGpmSample_t",
    "c_nvmlGpmSample_t",
    "c_metricInfo_t",
    "c_nvmlGpmMetric_t",
    "c_nvmlGpmMetricsGet_t",
    "c_nvmlGpmSupport_t",
)

Activity = float | Callable[[float, float], float]  # a constant, or (t1, t2) -> value


@dataclass
class FakeGpm:
    """What one fake GPU's GPM does. Times are on the fake's clock."""

    supported: bool = True  # nvmlGpmQueryDeviceSupport's isSupportedDevice (Hopper and newer)
    driver_has_gpm: bool = True  # False: an NVML older than GPM (FunctionNotFound)
    # metric id -> its value between two samples taken at t1 < t2; 0.0 for a metric not listed
    activity: dict[int, Activity] = field(default_factory=dict)
    unsupported_metrics: set[int] = field(default_factory=set)  # e.g. NVLink on a PCIe card
    in_use_until: float | None = None  # another tool (DCGM profiling) holds the counters
    mig_mode: int = NVML_DEVICE_MIG_DISABLE  # current (and pending) MIG mode
    virtualization_mode: int = NVML_GPU_VIRTUALIZATION_MODE_NONE


@dataclass
class _Sample:
    gpu: Any = None  # the FakeGpu it was last taken on
    t: float | None = None
    buffer: struct_c_nvmlGpmSample_t = field(default_factory=struct_c_nvmlGpmSample_t)


def _address(sample: Any) -> int | None:
    return cast(sample, c_void_p).value if sample else None


def install_gpm(mod: types.ModuleType, nvml: Any, api: Callable[..., Any]) -> None:
    """Add GPM to the fake module ``mod`` of ``nvml`` (a FakeNvml), wrapping each call in ``api``
    (which counts it and raises Uninitialized, GpuIsLost and per-GPU NotSupported)."""
    for name, value in globals().items():
        if name.startswith("NVML_") or name in STRUCTS:
            setattr(mod, name, value)
    samples: dict[int, _Sample] = nvml.gpm_samples  # address -> live sample
    error = mod.NVMLError

    def get(sample: Any) -> _Sample:
        found = samples.get(_address(sample) or 0)
        if found is None:  # never allocated, or freed
            raise error(mod.NVML_ERROR_INVALID_ARGUMENT)
        return found

    @api
    def nvmlGpmQueryDeviceSupport(gpu: Any) -> c_nvmlGpmSupport_t:
        if not gpu.gpm.driver_has_gpm:
            raise error(mod.NVML_ERROR_FUNCTION_NOT_FOUND)
        support = c_nvmlGpmSupport_t()
        support.version = NVML_GPM_SUPPORT_VERSION
        support.isSupportedDevice = int(gpu.gpm.supported)
        return support

    @api
    def nvmlGpmSampleAlloc() -> Any:
        sample = _Sample()
        handle = pointer(sample.buffer)
        samples[_address(handle) or 0] = sample
        return handle

    @api
    def nvmlGpmSampleFree(gpmSample: Any) -> None:
        get(gpmSample)
        del samples[_address(gpmSample) or 0]

    @api
    def nvmlGpmSampleGet(gpu: Any, gpmSample: Any) -> Any:
        sample = get(gpmSample)
        now = nvml.clock()
        if not gpu.gpm.driver_has_gpm:
            raise error(mod.NVML_ERROR_FUNCTION_NOT_FOUND)
        if not gpu.gpm.supported or gpu.gpm.mig_mode == NVML_DEVICE_MIG_ENABLE:
            raise error(mod.NVML_ERROR_NOT_SUPPORTED)
        if gpu.gpm.in_use_until is not None and now < gpu.gpm.in_use_until:
            raise error(mod.NVML_ERROR_IN_USE)
        sample.gpu, sample.t = gpu, now
        return gpmSample

    @api
    def nvmlGpmMetricsGet(metricsGet: c_nvmlGpmMetricsGet_t) -> c_nvmlGpmMetricsGet_t:
        if metricsGet.version != NVML_GPM_METRICS_GET_VERSION:
            raise error(mod.NVML_ERROR_ARGUMENT_VERSION_MISMATCH)
        first, second = get(metricsGet.sample1), get(metricsGet.sample2)
        gpu = first.gpu
        if gpu is None or second.gpu is not gpu or first.t is None or second.t is None:
            raise error(mod.NVML_ERROR_INVALID_ARGUMENT)
        if not first.t < second.t or metricsGet.numMetrics > NVML_GPM_METRIC_MAX:
            raise error(mod.NVML_ERROR_INVALID_ARGUMENT)
        if gpu.lost_at is not None and nvml.clock() >= gpu.lost_at:
            raise error(mod.NVML_ERROR_GPU_IS_LOST)
        for metric in metricsGet.metrics[: metricsGet.numMetrics]:
            if not 0 < metric.metricId < NVML_GPM_METRIC_MAX:  # no such metric: its own error
                metric.nvmlReturn, metric.value = mod.NVML_ERROR_INVALID_ARGUMENT, math.nan
                continue
            if metric.metricId in gpu.gpm.unsupported_metrics:
                metric.nvmlReturn, metric.value = mod.NVML_ERROR_NOT_SUPPORTED, math.nan
                continue
            script = gpu.gpm.activity.get(metric.metricId, 0.0)
            value = script(first.t, second.t) if callable(script) else script
            metric.nvmlReturn, metric.value = mod.NVML_SUCCESS, value
        return metricsGet

    @api
    def nvmlDeviceGetMigMode(gpu: Any) -> list[int]:
        return [gpu.gpm.mig_mode, gpu.gpm.mig_mode]  # [current, pending]

    @api
    def nvmlDeviceGetVirtualizationMode(gpu: Any) -> int:
        return int(gpu.gpm.virtualization_mode)
