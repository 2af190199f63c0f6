"""How torch numbers the GPUs that NVML and amdsmi list, known without importing torch.

NVML lists NVIDIA GPUs in PCI bus order; CUDA numbers them fastest first unless
``CUDA_DEVICE_ORDER=PCI_BUS_ID``, then keeps those ``CUDA_VISIBLE_DEVICES`` names (indices in
that order, or UUIDs and their unique prefixes), in the order named; an entry it cannot read ends
the list. GPUs of one model are in PCI bus order either way. A ROCm build of torch numbers AMD
GPUs as amdsmi lists them, less those ``HIP_VISIBLE_DEVICES`` / ``ROCR_VISIBLE_DEVICES`` /
``CUDA_VISIBLE_DEVICES`` leave out.

Where the numbering cannot be known (GPUs of different models in CUDA's default order, a MIG
instance named), the answer is None: a run named as torch names it still finds its telemetry
device by UUID once it starts, but a telemetry name (``nvidia:1``) cannot be turned into torch's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from gpuscope.telemetry.model import DeviceInfo, Vendor

UNKNOWN_NUMBERING = (
    "torch's numbering of these GPUs is not known here (GPUs of different models in CUDA's "
    "default order): set CUDA_DEVICE_ORDER=PCI_BUS_ID"
)
VISIBLE = {
    Vendor.NVIDIA: ("CUDA_VISIBLE_DEVICES",),
    Vendor.AMD: ("HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"),
}


def torch_gpu_vendor(infos: Sequence[DeviceInfo]) -> Vendor | None:
    """Whose GPUs torch's ``cuda:N`` are: NVIDIA's wherever there are any (a machine with both
    runs a CUDA build), else AMD's (a ROCm build names them ``cuda`` too)."""
    vendors = {i.vendor for i in infos}
    return next((v for v in (Vendor.NVIDIA, Vendor.AMD) if v in vendors), None)


def torch_numbering(
    infos: Sequence[DeviceInfo], env: Mapping[str, str] | None = None
) -> list[DeviceInfo] | None:
    """The GPUs torch can open, in torch's numbering (``cuda:0`` first); None where that
    numbering cannot be known here. GPUs hidden by a visible-devices variable are left out.
    ``env``: the environment torch runs in (default: this process's)."""
    env = os.environ if env is None else env
    vendor = torch_gpu_vendor(infos)
    gpus = [i for i in infos if vendor is not None and i.vendor is vendor]
    names = [env[v] for v in (VISIBLE[vendor] if vendor is not None else ()) if v in env]
    if vendor is Vendor.AMD and len(names) > 1:
        return None  # two masks apply one after the other: not worth guessing
    if vendor is Vendor.NVIDIA and not _bus_ordered(gpus, env):
        # fastest first, by a rule CUDA does not publish: known only where UUIDs name them all
        listed = [part.strip() for part in names[0].split(",")] if names else []
        if not listed or not all(entry.upper().startswith("GPU-") for entry in listed):
            return None
    return gpus if not names else _visible(gpus, names[0])


def _bus_ordered(gpus: Sequence[DeviceInfo], env: Mapping[str, str]) -> bool:
    """Whether CUDA numbers these GPUs in PCI bus order, as NVML lists them."""
    same_model = len({g.name for g in gpus}) <= 1  # fastest first is bus order among equals
    return same_model or env.get("CUDA_DEVICE_ORDER", "").strip() == "PCI_BUS_ID"


def parse_torch_name(name: str) -> tuple[str, int] | None:
    """``cuda``, ``cuda:1``, ``rocm:0`` -> (kind, index); None for any other name."""
    kind, colon, number = name.strip().lower().partition(":")
    if kind not in ("cuda", "rocm") or (colon and not number.isdigit()):
        return None
    return kind, int(number or 0)


def torch_gpu(
    infos: Sequence[DeviceInfo], index: int, env: Mapping[str, str] | None = None
) -> DeviceInfo | str:
    """The GPU torch calls ``cuda:index``, or one line saying why none can be named so."""
    numbering = torch_numbering(infos, env)
    if numbering is None:
        return UNKNOWN_NUMBERING
    if index >= len(numbering):
        seen = ", ".join(f"cuda:{i} ({info.device_id})" for i, info in enumerate(numbering))
        return f"torch would see: {seen or 'no GPU'}"
    return numbering[index]


def _visible(gpus: list[DeviceInfo], listed: str) -> list[DeviceInfo] | None:
    chosen: list[DeviceInfo] = []
    for entry in (part.strip() for part in listed.split(",")):
        if entry.isdigit():
            if int(entry) >= len(gpus):
                break  # CUDA stops at the first entry it cannot use
            found = gpus[int(entry)]
        elif entry.upper().startswith("GPU-"):
            matches = [g for g in gpus if (g.uuid or "").upper().startswith(entry.upper())]
            if len(matches) != 1:
                break
            found = matches[0]
        elif entry.upper().startswith("MIG-"):
            return None  # a MIG instance: not a whole GPU NVML lists
        else:
            break
        if found in chosen:
            return None  # CUDA refuses a device named twice: let torch say so
        chosen.append(found)
    return chosen


def torch_name(info: DeviceInfo, numbering: Sequence[DeviceInfo] | None) -> str | None:
    """``cuda:N`` for a GPU torch can open, as torch numbers it; None where the numbering is
    not known or the GPU is hidden from torch."""
    if numbering is None or info not in numbering:
        return None
    return f"cuda:{list(numbering).index(info)}"
