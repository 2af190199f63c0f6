"""Which number formats a device computes in hardware, read from what the device says of itself.

A precision a device lacks still runs, emulated, and can be ruinously slow: a bf16 matmul on a
CPU with AVX2 but no AVX512-BF16 or AMX ran at 0.3-1.3 GFLOP/s where fp32 gave 126-149 (2-core
AMD EPYC VM, torch 2.13, 2026-12-07). Workload defaults and fair CPU-vs-GPU ratios are chosen
from this (``measurement.run_params``). Each answer says what it was decided from, so a user can
check it: CPU flags from ``/proc/cpuinfo``, NVIDIA's compute capability, AMD's gfx target.
"""

from __future__ import annotations

from collections.abc import Iterable

from gpuscope.telemetry.model import NativePrecisions

# The formats gpuscope says a device emulates: fp32 is native everywhere, and tf32 and fp8 are
# GPU formats a workload refuses on its own where they do not exist.
EMULATABLE = ("bf16", "fp16")

# CPU flags (Linux /proc/cpuinfo) that do a format in hardware: x86 AVX512-BF16 (Cooper Lake,
# Zen 4 and newer) and AMX (Sapphire Rapids and newer), AVX512-FP16; Arm's BF16 extension.
_X86_BF16 = ("avx512_bf16", "amx_bf16")
_X86_FP16 = ("avx512_fp16", "amx_fp16")
_ARM_BF16 = ("bf16",)


def cpu_precisions(cpuinfo: str | None) -> NativePrecisions:
    """From the text of /proc/cpuinfo (None where there is none): fp32 always, bf16 and fp16
    where a flag says the CPU does them in hardware."""
    flags = _flags(cpuinfo)
    if flags is None:
        return NativePrecisions(frozenset({"fp32"}), "the CPU's features are not readable here")
    native = {"fp32"}
    arm = "asimd" in flags  # Arm's Features line; x86 has none
    if any(f in flags for f in (_ARM_BF16 if arm else _X86_BF16)):
        native.add("bf16")
    if not arm and any(f in flags for f in _X86_FP16):
        native.add("fp16")
    return NativePrecisions(frozenset(native), _cpu_basis(flags, arm))


def _flags(cpuinfo: str | None) -> set[str] | None:
    if not cpuinfo:
        return None
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return None


def _cpu_basis(flags: set[str], arm: bool) -> str:
    """What the CPU's best matrix instructions are, in the words its makers use."""
    if arm:
        return "Arm BF16" if "bf16" in flags else "Arm, no BF16 extension"
    if "amx_bf16" in flags:
        return "AMX-BF16"
    if "avx512_bf16" in flags:
        return "AVX512-BF16, no AMX"
    level = "AVX512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{level}, no AVX512-BF16 or AMX"


def nvidia_precisions(major: int, minor: int) -> NativePrecisions:
    """From the CUDA compute capability: fp16 at full rate from Volta (7.0; also GP100, 6.0),
    bf16 and tf32 tensor cores from Ampere (8.0), fp8 from Ada and Hopper (8.9)."""
    capability = (major, minor)
    native = {"fp32"}
    if capability >= (7, 0) or capability in ((5, 3), (6, 0), (6, 2)):
        native.add("fp16")
    if capability >= (8, 0):
        native |= {"bf16", "tf32"}
    if capability >= (8, 9):
        native.add("fp8")
    return NativePrecisions(frozenset(native), f"compute capability {major}.{minor}")


# gfx target prefix -> what it does in hardware beyond fp32; the first that matches wins. bf16 on
# CDNA matrix cores (MI100 gfx908 on) and RDNA3/4 WMMA, fp8 on MI300/MI350 and RDNA4, packed
# fp16 also on gfx906 (MI50) and RDNA1/2.
_AMD_TARGETS: tuple[tuple[str, frozenset[str]], ...] = (
    ("gfx94", frozenset({"fp16", "bf16", "fp8"})),
    ("gfx95", frozenset({"fp16", "bf16", "fp8"})),
    ("gfx90a", frozenset({"fp16", "bf16"})),
    ("gfx908", frozenset({"fp16", "bf16"})),
    ("gfx12", frozenset({"fp16", "bf16", "fp8"})),
    ("gfx11", frozenset({"fp16", "bf16"})),
    ("gfx10", frozenset({"fp16"})),
    ("gfx906", frozenset({"fp16"})),
)


def amd_precisions(target: str | None) -> NativePrecisions | None:
    """From amdsmi's gfx target (``gfx942``); None for one not known here."""
    name = (target or "").strip().lower()
    extra = next((formats for prefix, formats in _AMD_TARGETS if name.startswith(prefix)), None)
    return None if extra is None else NativePrecisions(frozenset({"fp32"}) | extra, name)


def describe(precisions: Iterable[str]) -> str:
    """``bf16, fp16, fp32``: fastest first, as people list them."""
    order = ("fp8", "bf16", "fp16", "tf32", "fp32")
    chosen = set(precisions)
    return ", ".join(p for p in order if p in chosen)
