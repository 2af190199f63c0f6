"""Each NVIDIA process's share of the SMs and the memory bus, from the driver's own samples.

The driver samples processes about once a second or less (``nvmlDeviceGetProcessesUtilizationInfo``
on driver 550 and newer, else ``nvmlDeviceGetProcessUtilization``) and hands back the samples
newer than a timestamp; on the H100 with driver 580 both are NotSupported, and every share is
then None (the Processes tab's n/a, and no energy charged by share).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from gpuscope.telemetry.guarded_calls import GuardedCalls

PROCESS_UTIL_PERIOD_S = 1.0  # per-process samples: the driver's window is ~1 s or more
SHARE_HOLD_S = 3.0  # a process's last share holds this long without a new sample, then 0 %

Shares = dict[int, tuple[float, float]]  # pid -> (SM %, memory-bus %)


class ProcessShares:
    """The shares of one GPU's processes, read through that device's guarded calls."""

    def __init__(self, nv: ModuleType, handle: Any, calls: GuardedCalls) -> None:
        self._nv, self._handle, self._calls = nv, handle, calls
        self._cache: tuple[float, Shares | None] | None = None
        self._seen_us = 0  # the newest per-process sample's timestamp (driver clock, µs)
        self._held: dict[int, tuple[float, tuple[float, float]]] = {}  # pid -> (at, share)

    def read(self, now_s: float) -> Shares | None:
        """pid -> (SM %, memory-bus %), the mean of the driver's samples since the last read;
        None where the driver does not sample processes. Read at most once a second (the
        driver's own sampling is coarser), so a fast sampler does not pay for it each tick; the
        same dict comes back until then."""
        cached = self._cache
        if cached is not None and now_s - cached[0] < PROCESS_UTIL_PERIOD_S:
            return cached[1]
        newer = getattr(self._nv, "nvmlDeviceGetProcessesUtilizationInfo", None)  # driver >= 550
        older = getattr(self._nv, "nvmlDeviceGetProcessUtilization", None)
        samples = self._calls.first_of(
            ("process_util_info", self._samples, (newer,)),
            ("process_util", self._samples, (older,)),
        )
        if samples is None:
            self._cache = (now_s, None)
            return None
        sums: dict[int, list[float]] = {}
        for s in samples:
            totals = sums.setdefault(s.pid, [0.0, 0.0, 0])
            totals[0] += s.smUtil
            totals[1] += s.memUtil
            totals[2] += 1
            self._seen_us = max(self._seen_us, int(s.timeStamp))
        for pid, (sm, mem, n) in sums.items():
            self._held[pid] = (now_s, (sm / n, mem / n))
        # The driver samples a process about once a second or less: a read with no new sample
        # for a pid keeps its last share for a while, instead of flickering to 0 %.
        self._held = {
            pid: held for pid, held in self._held.items() if now_s - held[0] <= SHARE_HOLD_S
        }
        shares = {pid: held[1] for pid, held in self._held.items()}
        self._cache = (now_s, shares)
        return shares

    def _samples(self, fn: Any) -> list[Any]:
        """The driver's per-process samples newer than the last one seen. "Not found" means
        none since then (every process idle), not "unsupported"; nvidia-ml-py also raises with
        NVML_SUCCESS when there is no sample at all."""
        if fn is None:
            raise self._nv.NVMLError_FunctionNotFound(self._nv.NVML_ERROR_FUNCTION_NOT_FOUND)
        try:
            return list(fn(self._handle, self._seen_us))
        except self._nv.NVMLError as exc:
            if exc.value in (self._nv.NVML_ERROR_NOT_FOUND, self._nv.NVML_SUCCESS):
                return []
            raise
