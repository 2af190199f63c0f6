"""What any job on a GPU achieves, estimated from its pipe activity: TFLOP/s and GFLOP per joule.

Our own workloads count their work; another process's we cannot see. NVML GPM says what share
of the time each pipe of the SMs was busy (the counters DCGM's profiling reads), and a pipe
busy 100 % of the time runs at its datasheet peak, so each pipe contributes activity x peak:

- the HMMA tensor pipe at the part's dense bf16/fp16 peak (tf32 runs on it at half that rate,
  so a tf32 job reads about 2x high: the method says so);
- the DFMA tensor pipe at the fp64 tensor peak; the fp64, fp32 and fp16 vector pipes at theirs;
- integer MMA (IMMA) is not floating point and is left out.

Where GPM gives only "any tensor pipe", that figure stands in for HMMA (said in the method).
It is an estimate, labelled so wherever shown: it ignores that a pipe can be busy at less than
full rate (memory stalls inside an instruction) and that clocks run below boost under a power
cap. The GPU check compares it with the bundled GEMM's counted throughput.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpuscope.measurement.peaks import peak_tflops, pipe_peak_tflops
from gpuscope.telemetry.model import DeviceInfo, Reading

# (Reading field, how the peak is found, the pipe's name in the method line)
_PIPES: tuple[tuple[str, str, str], ...] = (
    ("tensor_hmma_pct", "bf16", "HMMA"),
    ("tensor_dfma_pct", "fp64_tensor", "DFMA"),
    ("fp64_active_pct", "fp64", "fp64"),
    ("fp32_active_pct", "fp32", "fp32"),
    ("fp16_active_pct", "fp16_vector", "fp16"),
)


@dataclass(frozen=True, slots=True)
class AchievedEstimate:
    """An estimate, never a measurement: ``method`` says how it was made."""

    tflops: float
    gflop_per_j: float | None  # None where the device gives no power
    method: str


def _peak(device_name: str, key: str) -> float | None:
    if key in ("bf16", "fp32"):
        return peak_tflops(device_name, key)
    return pipe_peak_tflops(device_name, key)


def achieved_estimate(reading: Reading, info: DeviceInfo) -> AchievedEstimate | None:
    """The estimate for the interval ending at ``reading``; None where no pipe activity was
    read or the part's peaks are not known (``no_estimate_reason`` says which)."""
    if reading.tensor_hmma_pct is None and reading.tensor_active_pct is None:
        return None  # without the tensor pipes, most of any ML job's work would read as 0
    terms: list[str] = []
    total = 0.0
    for field, key, label in _PIPES:
        activity = getattr(reading, field)
        if field == "tensor_hmma_pct" and activity is None:
            activity, label = reading.tensor_active_pct, "any tensor pipe as HMMA"
        peak = _peak(info.name, key)
        if activity is None or peak is None:
            continue
        total += activity / 100.0 * peak
        terms.append(f"{label} {peak:g}")
    if not terms:
        return None
    power = reading.power_w
    return AchievedEstimate(
        tflops=total,
        gflop_per_j=total * 1000.0 / power if power else None,
        method=f"estimate: pipe activity x datasheet peak TFLOP/s ({', '.join(terms)})",
    )


def no_estimate_reason(reading: Reading, info: DeviceInfo) -> str:
    """One line: why ``achieved_estimate`` gave none for this reading."""
    if not any(getattr(reading, field) is not None for field, _, _ in _PIPES) and (
        reading.tensor_active_pct is None
    ):
        return reading.activity_note or "no pipe activity (GPM) read on this device"
    if reading.tensor_hmma_pct is None and reading.tensor_active_pct is None:
        return "no tensor-pipe activity read: the estimate would miss most of the work"
    return f"no datasheet peaks known for {info.name}"
