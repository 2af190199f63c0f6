"""Datasheet peak matrix throughput, dense (no sparsity), in TFLOP/s, for "% of peak".

Sources: NVIDIA H100 / H200 / A100 / L40S datasheets; AMD Instinct MI300X / MI250X datasheets.
fp32 is the non-tensor (NVIDIA) or matrix (AMD) fp32 rate. An unknown part, or a dtype the part
has no figure for, gives None ("n/a"), never a guess.
"""

from __future__ import annotations

# (device-name substring, case-insensitive, most specific first) -> dtype -> TFLOP/s
PEAK_TFLOPS: tuple[tuple[str, dict[str, float]], ...] = (
    ("H100 PCIe", {"fp32": 51.2, "tf32": 378.0, "bf16": 756.0, "fp16": 756.0, "fp8": 1513.0}),
    ("H100", {"fp32": 66.9, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4, "fp8": 1978.9}),  # SXM5
    ("H200", {"fp32": 66.9, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4, "fp8": 1978.9}),
    ("A100", {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0}),
    ("L40S", {"fp32": 91.6, "tf32": 183.0, "bf16": 362.05, "fp16": 362.05, "fp8": 733.0}),
    ("MI300X", {"fp32": 163.4, "tf32": 653.7, "bf16": 1307.4, "fp16": 1307.4, "fp8": 2614.9}),
    ("MI250X", {"fp32": 95.7, "bf16": 383.0, "fp16": 383.0}),
)


def peak_tflops(device_name: str | None, dtype: str | None) -> float | None:
    """The datasheet peak for this part and dtype, or None when not known."""
    if not device_name or not dtype:
        return None
    lowered = device_name.lower()
    for fragment, peaks in PEAK_TFLOPS:
        if fragment.lower() in lowered:
            return peaks.get(dtype)
    return None


# (device-name substring, most specific first) -> memory bandwidth in GB/s, from the same
# datasheets (H100 SXM5 HBM3, H100 PCIe HBM2e, H200 HBM3e, A100 80GB SXM HBM2e, L40S GDDR6,
# MI300X HBM3, MI250X HBM2e). A part not listed has none ("n/a").
PEAK_BANDWIDTH_GBPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 2000.0),
    ("H100", 3350.0),
    ("H200", 4800.0),
    ("A100 80GB", 2039.0),
    ("L40S", 864.0),
    ("MI300X", 5300.0),
    ("MI250X", 3276.8),
)


def datasheet(device_name: str | None) -> tuple[dict[str, float], float | None]:
    """The part's peak TFLOP/s per dtype and memory bandwidth (GB/s), as far as known."""
    lowered = (device_name or "").lower()
    peaks = next((p for f, p in PEAK_TFLOPS if lowered and f.lower() in lowered), {})
    bandwidth = next((b for f, b in PEAK_BANDWIDTH_GBPS if lowered and f.lower() in lowered), None)
    return dict(peaks), bandwidth


# NVIDIA pipes that have no dtype row above, dense, TFLOP/s, from the same datasheets and the
# H100 whitepaper (table 1): fp64 vector, fp64 on the tensor cores (DFMA/DMMA), fp16 vector.
# For the pipe-activity estimate (measurement.achieved); a part not listed has none.
PIPE_PEAK_TFLOPS: tuple[tuple[str, dict[str, float]], ...] = (
    ("H100 PCIe", {"fp64": 25.6, "fp64_tensor": 51.2, "fp16_vector": 102.4}),
    ("H100", {"fp64": 33.5, "fp64_tensor": 66.9, "fp16_vector": 133.8}),  # SXM5
    ("H200", {"fp64": 33.5, "fp64_tensor": 66.9, "fp16_vector": 133.8}),
    ("A100", {"fp64": 9.7, "fp64_tensor": 19.5, "fp16_vector": 78.0}),
)


def pipe_peak_tflops(device_name: str | None, pipe: str) -> float | None:
    """The datasheet peak of one non-dtype pipe ("fp64", "fp64_tensor", "fp16_vector")."""
    lowered = (device_name or "").lower()
    for fragment, peaks in PIPE_PEAK_TFLOPS:
        if lowered and fragment.lower() in lowered:
            return peaks.get(pipe)
    return None
