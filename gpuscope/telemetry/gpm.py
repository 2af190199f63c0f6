"""NVML GPM (Hopper and newer): SM, tensor-pipe, DRAM, PCIe and NVLink activity of one GPU.

GPM reports what the GPU's performance counters saw between two samples, the same counters
DCGM's profiling reads (its ``DCGM_FI_PROF_*`` fields are these metrics, as ratios). So they are
read only while someone wants them: each read then takes a sample and asks for the metrics
between it and the previous read's sample (two buffers, swapped), at two NVML calls a read. While
nobody wants them no GPM call is made at all. Why they are n/a is one line: for good at open
(``reason``, a ``DeviceInfo`` note), or for now (the reading's ``activity_note``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

from gpuscope.telemetry.guarded_calls import CallFailure
from gpuscope.telemetry.model import DeviceLost

# Reading field -> NVML GPM metric (nvml.h). Percentages are of time (or of the peak, for DRAM
# bandwidth and occupancy), 0-100; traffic is MiB/s. DCGM's DCGM_FI_PROF_PIPE_TENSOR_DFMA_ACTIVE
# (1015) is NVML_GPM_METRIC_DFMA_TENSOR_UTIL (dcgm_fields.cpp, DcgmFieldIdToNvmlGpmMetricId), the
# fp64 tensor pipe: tensor_dfma_pct reads that one, not the newer DMMA_TENSOR_UTIL.
METRICS: tuple[tuple[str, str], ...] = (
    ("sm_active_pct", "NVML_GPM_METRIC_SM_UTIL"),
    ("sm_occupancy_pct", "NVML_GPM_METRIC_SM_OCCUPANCY"),
    ("tensor_active_pct", "NVML_GPM_METRIC_ANY_TENSOR_UTIL"),
    ("tensor_hmma_pct", "NVML_GPM_METRIC_HMMA_TENSOR_UTIL"),
    ("tensor_imma_pct", "NVML_GPM_METRIC_IMMA_TENSOR_UTIL"),
    ("tensor_dfma_pct", "NVML_GPM_METRIC_DFMA_TENSOR_UTIL"),
    ("dram_active_pct", "NVML_GPM_METRIC_DRAM_BW_UTIL"),
    ("fp64_active_pct", "NVML_GPM_METRIC_FP64_UTIL"),
    ("fp32_active_pct", "NVML_GPM_METRIC_FP32_UTIL"),
    ("fp16_active_pct", "NVML_GPM_METRIC_FP16_UTIL"),
    ("pcie_tx_mib_s", "NVML_GPM_METRIC_PCIE_TX_PER_SEC"),
    ("pcie_rx_mib_s", "NVML_GPM_METRIC_PCIE_RX_PER_SEC"),
    ("nvlink_tx_mib_s", "NVML_GPM_METRIC_NVLINK_TOTAL_TX_PER_SEC"),
    ("nvlink_rx_mib_s", "NVML_GPM_METRIC_NVLINK_TOTAL_RX_PER_SEC"),
)

NOTE_PREFIX = "GPM activity: "  # a DeviceInfo note about GPM starts so (``gpuscope list``)
IN_USE_RETRY_S = 10.0  # counters held by another tool: ask again after this long

# Why GPM is n/a on a device, for good (the DeviceInfo note says "GPM activity: n/a (...)")
NO_BINDINGS = "nvidia-ml-py has no GPM calls: upgrade it"
NO_DRIVER = "the driver's NVML has no GPM: too old"
NO_SUPPORT = "this GPU has no GPM: Hopper or newer"
VGPU = "a vGPU: GPM not offered to the guest"
MIG = "MIG mode on: device-level GPM not read"
# Why the activity fields are n/a now, on a device that has GPM (Reading.activity_note)
NOT_WANTED = "paused: no view or recording asks for it now"
FIRST_SAMPLE = "first GPM sample taken: figures from the next read"
IN_USE = (
    f"GPM counters in use by another tool (DCGM profiling?): retrying every {IN_USE_RETRY_S:.0f} s"
)

_CALLS: tuple[str, ...] = ("nvmlGpmQueryDeviceSupport", "nvmlGpmSampleAlloc", "nvmlGpmSampleFree")
_CALLS += ("nvmlGpmSampleGet", "nvmlGpmMetricsGet", "c_nvmlGpmMetricsGet_t")
_NOTHING: dict[str, Any] = {}

Classify = Callable[[Exception], "CallFailure | None"]


def device_note(reason: str) -> str:
    """The DeviceInfo note for a device whose GPM cannot be used."""
    return f"{NOTE_PREFIX}n/a ({reason})"


class GpmCounters:
    """GPM for one NVML device handle; ``reason`` is None where it can be sampled."""

    def __init__(self, nv: ModuleType, handle: Any, classify: Classify) -> None:
        self._nv, self._handle, self._classify = nv, handle, classify
        self._wanted = False
        self._samples: list[Any] = []  # [previous, next] once allocated; freed by close()
        self._have_previous = False
        self._retry_at = -math.inf
        self._stopped: str | None = None  # GPM failed for good after open: why
        self._asked: list[tuple[str, int]] = []
        self._request: Any = None  # one c_nvmlGpmMetricsGet_t, reused
        self.reason = self._unusable_reason()
        if self.reason is None:
            # a metric the bindings do not name yet is not asked for (its field stays None)
            self._ask([(name, getattr(nv, m)) for name, m in METRICS if hasattr(nv, m)])

    def _unusable_reason(self) -> str | None:
        nv, handle = self._nv, self._handle
        if not all(hasattr(nv, name) for name in _CALLS):
            return NO_BINDINGS
        try:
            supported = bool(nv.nvmlGpmQueryDeviceSupport(handle).isSupportedDevice)
        except nv.NVMLError as exc:
            self._raise_if_lost(exc)
            if exc.value == nv.NVML_ERROR_FUNCTION_NOT_FOUND:
                return NO_DRIVER
            if exc.value != nv.NVML_ERROR_NOT_SUPPORTED:
                return f"GPM support query failed ({exc})"
            supported = False
        if not supported:
            return VGPU if self._is_vgpu() else NO_SUPPORT
        if self._mig_enabled():
            return MIG
        return None

    def _is_vgpu(self) -> bool:
        """Asked only where GPM is absent, to say why: one call."""
        nv = self._nv
        mode = self._answer("nvmlDeviceGetVirtualizationMode")
        return mode is not None and mode == getattr(nv, "NVML_GPU_VIRTUALIZATION_MODE_VGPU", -1)

    def _mig_enabled(self) -> bool:
        """MIG mode cannot change without a GPU reset (which ends this handle): asked at open."""
        modes = self._answer("nvmlDeviceGetMigMode")
        return modes is not None and modes[0] == getattr(self._nv, "NVML_DEVICE_MIG_ENABLE", 1)

    def _answer(self, fn_name: str) -> Any:
        """``fn(handle)``, or None where the call is missing or not supported."""
        fn = getattr(self._nv, fn_name, None)
        if fn is None:
            return None
        try:
            return fn(self._handle)
        except self._nv.NVMLError as exc:
            self._raise_if_lost(exc)
            return None

    def _raise_if_lost(self, exc: Exception) -> None:
        if self._classify(exc) is CallFailure.LOST:
            raise DeviceLost(f"GPM: {exc}") from exc

    def _ask(self, metrics: list[tuple[str, int]]) -> None:
        """Set the request's metric list (at open, and when a metric turns out unsupported)."""
        nv = self._nv
        if self._request is None:
            self._request = nv.c_nvmlGpmMetricsGet_t()
            self._request.version = nv.NVML_GPM_METRICS_GET_VERSION
        self._asked = metrics
        self._request.numMetrics = len(metrics)
        for slot, (_, metric_id) in zip(self._request.metrics, metrics, strict=False):
            slot.metricId = metric_id

    def want(self, wanted: bool) -> None:
        """Sample from the next read on, or stop; a restart begins with a fresh first sample."""
        self._wanted = wanted
        if not wanted:
            self._have_previous = False

    def read(self, now_s: float) -> tuple[dict[str, Any], str | None]:
        """The activity fields with a value over the interval since the previous read, and why
        they are all n/a now (None where some have values, or the device has no GPM at all)."""
        if self.reason is not None:
            return _NOTHING, None
        if self._stopped is not None:
            return _NOTHING, self._stopped
        if not self._wanted:
            return _NOTHING, NOT_WANTED
        if now_s < self._retry_at:
            return _NOTHING, IN_USE
        nv = self._nv
        try:
            if not self._samples:
                self._allocate()
            nv.nvmlGpmSampleGet(self._handle, self._samples[1])
        except nv.NVMLError as exc:
            return _NOTHING, self._failed(exc, now_s)
        previous, taken = self._samples
        self._samples = [taken, previous]  # this sample is the next interval's start
        if not self._have_previous:
            self._have_previous = True
            return _NOTHING, FIRST_SAMPLE
        request = self._request
        request.sample1, request.sample2 = previous, taken
        try:
            nv.nvmlGpmMetricsGet(request)
        except nv.NVMLError as exc:
            return _NOTHING, self._failed(exc, now_s)
        return self._values(request), None

    def _allocate(self) -> None:
        """Two sample buffers, or none: the first is freed if the second cannot be had."""
        nv = self._nv
        first = nv.nvmlGpmSampleAlloc()
        try:
            second = nv.nvmlGpmSampleAlloc()
        except nv.NVMLError:
            nv.nvmlGpmSampleFree(first)
            raise
        self._samples = [first, second]

    def _values(self, request: Any) -> dict[str, Any]:
        nv = self._nv
        values: dict[str, Any] = {}  # Reading field -> float
        unsupported: set[str] = set()
        for slot, (name, _) in zip(request.metrics, self._asked, strict=False):
            if slot.nvmlReturn == nv.NVML_SUCCESS:
                if not math.isnan(slot.value):
                    values[name] = float(slot.value)
            elif slot.nvmlReturn == nv.NVML_ERROR_NOT_SUPPORTED:
                unsupported.add(name)  # e.g. NVLink on a PCIe card: never asked again
        if unsupported:
            self._ask([asked for asked in self._asked if asked[0] not in unsupported])
        return values

    def _failed(self, exc: Any, now_s: float) -> str:
        """Why this read has no activity, after ``exc`` from a GPM call."""
        self._raise_if_lost(exc)
        if exc.value == getattr(self._nv, "NVML_ERROR_IN_USE", 19):
            self._retry_at = now_s + IN_USE_RETRY_S
            self._have_previous = False  # the other tool may have reset the counters
            return IN_USE
        if self._classify(exc) is CallFailure.UNSUPPORTED:
            self._stopped = f"GPM stopped: the driver says {exc}"
            self.close()
            return self._stopped
        return f"GPM read failed this time ({exc})"  # the previous sample still holds

    def close(self) -> None:
        """Free the sample buffers (before nvmlShutdown); a later wanted read allocates anew."""
        samples, self._samples = self._samples, []
        self._have_previous = False
        for sample in samples:  # best effort: the library may be going away
            with contextlib.suppress(self._nv.NVMLError):
                self._nv.nvmlGpmSampleFree(sample)
