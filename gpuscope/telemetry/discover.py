"""Probe every backend: the devices found, and one line per backend that is absent."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType

from gpuscope.telemetry.model import BackendProbe, Device
from gpuscope.telemetry.torch_numbering import UNKNOWN_NUMBERING, parse_torch_name, torch_gpu

# Backend name -> module with a ``probe() -> BackendProbe``. Imported lazily so an absent vendor
# library costs nothing.
BACKENDS: dict[str, str] = {
    "nvidia": "gpuscope.telemetry.nvidia",
    "amd": "gpuscope.telemetry.amd",
    "cpu": "gpuscope.telemetry.cpu",
}


@dataclass
class Discovery:
    """Devices in display order (GPUs first, then the CPU) and why any backend is absent.

    Close it (or use it as a context manager) to shut the vendor libraries down.
    """

    devices: list[Device] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)  # absent backends and unusable devices
    probes: list[BackendProbe] = field(default_factory=list)

    def by_uuid(self, uuid: str | None) -> Device | None:
        """The device with this UUID, NVML's "GPU-" prefix optional on either side (torch
        reports the bare UUID)."""
        key = uuid_key(uuid)
        return next((d for d in self.devices if key and uuid_key(d.info.uuid) == key), None)

    def close(self) -> None:
        for backend in self.probes:
            backend.close()

    def __enter__(self) -> Discovery:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def uuid_key(uuid: str | None) -> str:
    return (uuid or "").lower().removeprefix("gpu-")


def discover(backends: Iterable[str] = BACKENDS) -> Discovery:
    """Probe the named backends. Never raises for a missing driver or library."""
    found = Discovery()
    for name in backends:
        backend = importlib.import_module(BACKENDS[name]).probe()
        found.probes.append(backend)
        found.devices.extend(backend.devices)
        if backend.absent_reason:
            found.absent.append(backend.absent_reason)
        found.absent.extend(backend.unusable)
    return found


def parse_selectors(text: str) -> list[str]:
    """``"nvidia:0, cpu"`` -> ``["nvidia:0", "cpu"]``; ValueError for an empty list."""
    selectors = [part.strip() for part in text.split(",") if part.strip()]
    if not selectors:
        raise ValueError("--devices needs at least one device (e.g. cpu,nvidia:0)")
    return selectors


def backends_for(selectors: Iterable[str]) -> list[str]:
    """Only the backends a selection can match, so ``--devices cpu`` never loads NVML."""
    wanted: list[str] = []
    for selector in selectors:
        prefix = selector.split(":", 1)[0].lower()
        names = (
            [prefix]
            if prefix in BACKENDS
            else ["nvidia", "amd"]
            if prefix in ("gpu", "all")
            else []
        )
        if prefix == "all":
            names.append("cpu")
        if not names:  # a UUID or a PCI bus id: could be any GPU
            names = ["nvidia", "amd"]
        wanted.extend(name for name in names if name not in wanted)
    return [name for name in BACKENDS if name in wanted]  # keep GPUs-first order


def select_devices(found: Discovery, selectors: Iterable[str]) -> list[Device]:
    """Devices matching any selector: ``all``, ``gpu``, a vendor (``nvidia``), an id (``nvidia:0``),
    torch's name for a GPU (``cuda:0``, ``rocm:0``), a UUID or a PCI bus id. ValueError naming the
    first selector that matches nothing, and why."""
    devices = found.devices
    chosen: list[Device] = []
    for selector in selectors:
        by_torch_name = _torch_named(devices, selector.strip().lower())
        if isinstance(by_torch_name, str):
            raise ValueError(by_torch_name)
        matches = by_torch_name or [d for d in devices if _matches(d, selector.lower())]
        if not matches:
            known = ", ".join(d.info.device_id for d in devices) or "none"
            why = "".join(f"; {reason}" for reason in found.absent)
            raise ValueError(f"unknown device {selector!r} (found: {known}{why})")
        chosen.extend(d for d in matches if d not in chosen)
    return [d for d in devices if d in chosen]


def _matches(device: Device, selector: str) -> bool:
    info = device.info
    return (
        selector == "all"
        or (selector == "gpu" and info.vendor.value != "cpu")
        or selector in (info.vendor.value, info.device_id)
        or selector == (info.uuid or "").lower()
        or selector == (info.pci_bus_id or "").lower()
    )


def _torch_named(devices: list[Device], selector: str) -> list[Device] | str | None:
    """The device torch calls ``selector`` (``cuda:N``, ``rocm:N``, in the numbering of a
    program run here), a line saying why none can be named so, or None when ``selector`` is
    not such a name."""
    parsed = parse_torch_name(selector)
    if parsed is None:
        return None
    found = torch_gpu([d.info for d in devices], parsed[1])
    if isinstance(found, str):
        if found == UNKNOWN_NUMBERING:
            return f"{selector}: {found}, or name it nvidia:N or by UUID"
        return f"unknown device {selector!r} ({found})"
    return [d for d in devices if d.info == found]
