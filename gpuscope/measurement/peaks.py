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
