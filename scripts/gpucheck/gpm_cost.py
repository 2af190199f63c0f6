"""What GPM and the energy counter cost on the card: the raw GPM calls straight through pynvml,
gpuscope's read with and without activity, and how often a recording reads the energy counter.

The raw calls are the floor no wrapper can beat (as ``benchmarks/sample_cost.py`` does for the
other calls); the energy count is what issue 24 asks to bring from every sample (52 reads in a
5 s recording at 10 Hz, 3.6 ms each) to about once a second plus the window edges.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpuscope.telemetry.model import ActivitySampling, Device

# The GPM metrics behind gpuscope's activity fields (Reading, in ACTIVITY_METRICS order), by
# their names in nvidia-ml-py ("## GPM ##" in pynvml.py).
GPM_METRIC_NAMES: tuple[str, ...] = (
    "NVML_GPM_METRIC_SM_UTIL",
    "NVML_GPM_METRIC_SM_OCCUPANCY",
    "NVML_GPM_METRIC_ANY_TENSOR_UTIL",
    "NVML_GPM_METRIC_HMMA_TENSOR_UTIL",
    "NVML_GPM_METRIC_IMMA_TENSOR_UTIL",
    "NVML_GPM_METRIC_DFMA_TENSOR_UTIL",
    "NVML_GPM_METRIC_DRAM_BW_UTIL",
    "NVML_GPM_METRIC_FP64_UTIL",
    "NVML_GPM_METRIC_FP32_UTIL",
    "NVML_GPM_METRIC_FP16_UTIL",
    "NVML_GPM_METRIC_PCIE_TX_PER_SEC",
    "NVML_GPM_METRIC_PCIE_RX_PER_SEC",
    "NVML_GPM_METRIC_NVLINK_TOTAL_TX_PER_SEC",
    "NVML_GPM_METRIC_NVLINK_TOTAL_RX_PER_SEC",
)
ENERGY_CALL = "nvmlDeviceGetTotalEnergyConsumption"


def median_us(seconds: Sequence[float]) -> float | None:
    return 1e6 * statistics.median(seconds) if seconds else None


@dataclass(frozen=True, slots=True)
class GpmCallCost:
    sample_get_s: list[float]  # nvmlGpmSampleGet, one per read
    metrics_get_s: list[float]  # nvmlGpmMetricsGet over GPM_METRIC_NAMES, one per read
    not_supported: list[str]  # metrics whose nvmlReturn was not NVML_SUCCESS on this card


def time_gpm_calls(
    nv: Any,
    handle: Any,
    reads: int,
    spacing_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> GpmCallCost:
    """Time what one GPM read costs: one new sample, and the metrics between it and the one
    before, as a GPM reader does each interval. The two samples are reused (alloc once)."""
    ids = [getattr(nv, name) for name in GPM_METRIC_NAMES]
    samples = [nv.nvmlGpmSampleAlloc(), nv.nvmlGpmSampleAlloc()]
    sample_get: list[float] = []
    metrics_get: list[float] = []
    not_supported: set[str] = set()
    try:
        nv.nvmlGpmSampleGet(handle, samples[0])
        for read in range(reads):
            sleep(spacing_s)
            older, newer = samples[read % 2], samples[(read + 1) % 2]
            start = time.perf_counter()
            nv.nvmlGpmSampleGet(handle, newer)
            sample_get.append(time.perf_counter() - start)
            request = nv.c_nvmlGpmMetricsGet_t()
            request.version = nv.NVML_GPM_METRICS_GET_VERSION
            request.numMetrics = len(ids)
            request.sample1, request.sample2 = older, newer
            for slot, metric_id in enumerate(ids):
                request.metrics[slot].metricId = metric_id
            start = time.perf_counter()
            nv.nvmlGpmMetricsGet(request)
            metrics_get.append(time.perf_counter() - start)
            not_supported.update(
                name
                for slot, name in enumerate(GPM_METRIC_NAMES)
                if request.metrics[slot].nvmlReturn != nv.NVML_SUCCESS
            )
    finally:
        for sample in samples:
            nv.nvmlGpmSampleFree(sample)
    return GpmCallCost(sample_get, metrics_get, sorted(not_supported))


def time_device_reads(
    device: Device, reads: int, spacing_s: float, sleep: Callable[[float], None] = time.sleep
) -> tuple[list[float], list[float]]:
    """gpuscope's ``read`` of the device, activity not wanted, then wanted: (seconds each).

    Called with no sampler running (the device is not thread-safe). The first read after each
    switch is not timed: the first wanted read takes the GPM sample the next one is measured
    against."""
    assert isinstance(device, ActivitySampling)
    timings: list[list[float]] = []
    try:
        for wanted in (False, True):
            device.want_activity(wanted)
            device.read(time.monotonic())
            times = []
            for _ in range(reads):
                sleep(spacing_s)
                start = time.perf_counter()
                device.read(time.monotonic())
                times.append(time.perf_counter() - start)
            timings.append(times)
    finally:
        device.want_activity(False)
    return timings[0], timings[1]


@contextmanager
def counting(module: Any, name: str) -> Iterator[list[int]]:
    """Count the calls to ``module.name`` while the block runs (a one-item list: the count)."""
    original = getattr(module, name)
    count = [0]

    def counted(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return original(*args, **kwargs)

    setattr(module, name, counted)
    try:
        yield count
    finally:
        setattr(module, name, original)


def energy_reads_while_recording(device_id: str, seconds: float, interval_s: float) -> int:
    """How many times ``gpuscope record -i INTERVAL -d SECONDS --devices DEVICE`` calls the
    energy counter, device probe included: the command runs here, pynvml's function wrapped
    before it opens the device."""
    import pynvml  # the module gpuscope's NVIDIA backend calls through

    from gpuscope.commands.record import RecordOptions, run_record

    with tempfile.TemporaryDirectory() as tmp, counting(pynvml, ENERGY_CALL) as count:
        options = RecordOptions(
            output=str(Path(tmp) / "record.csv"),
            interval_s=interval_s,
            duration_s=seconds,
            devices=device_id,
            force=True,
        )
        run_record(options)  # a failure raises (CommandFailed: one line), failing the section
    return count[0]


def energy_reads_allowed(seconds: float) -> int:
    """Issue 24's target for a recording of ``seconds``: about one read a second, plus the
    probe's and the two edges'."""
    return math.ceil(seconds) + 3
