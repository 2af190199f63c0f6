"""Where a run goes, whichever way the user names it.

A workload runs on a torch device (``cpu``, ``cuda:N``; ``rocm:N`` is a ROCm build's
``cuda:N``) and is measured on a telemetry device (``cpu``, ``nvidia:N``, ``amd:N``). Every
command and the launcher accept both spellings and turn them into one ``RunTarget`` here, named
as torch names it, with the telemetry name beside it where the two numberings differ
(``cuda:0 (nvidia:2)`` under ``CUDA_VISIBLE_DEVICES=2``; ``telemetry.torch_numbering``).

Whether torch is a ROCm build (whose ``cuda:N`` are AMD GPUs, of kind "rocm") is decided here
once (``rocm_build``), and so is whether a workload may run on a target (``why_not_runnable``,
``check_runnable``): bench, suite, the session and the launcher refuse in the same words.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from gpuscope.telemetry.discover import Discovery
from gpuscope.telemetry.model import DeviceInfo, Vendor
from gpuscope.telemetry.torch_numbering import (
    UNKNOWN_NUMBERING,
    parse_torch_name,
    torch_gpu,
    torch_gpu_vendor,
    torch_name,
    torch_numbering,
)
from gpuscope.workloads.api import Declared, WorkloadError, kind_on, not_runnable, runs_on
from gpuscope.workloads.child import run_environment
from gpuscope.workloads.torch_probe import (
    NOT_INSTALLED,
    check_device,
    known_torch_facts,
    read_build,
    torch_installed,
)

_TELEMETRY_NAME = re.compile(r"^(nvidia|amd)(?::(\d+))?$")
KNOWN_NAMES = "cpu, cuda:N or nvidia:N, rocm:N or amd:N"


class UnknownTarget(ValueError):
    """A device name that names no device here; the message says what would."""


@dataclass(frozen=True, slots=True)
class RunTarget:
    """A torch device a workload can run on, and the telemetry device that measures it (None
    where it cannot be known before the run: found by UUID once the run starts)."""

    torch_device: str  # "cpu", "cuda:0", "rocm:0"
    telemetry: DeviceInfo | None = None
    rocm: bool | None = None  # torch is a ROCm build (``rocm_build``); None: as telemetry says

    @property
    def label(self) -> str:
        return device_label(self.torch_device, self.telemetry)

    @property
    def kind(self) -> str:
        """The kind of device a workload declares it runs on and a default is for: "cpu",
        "cuda" or "rocm" (an AMD GPU, whichever name a ROCm build of torch gives it)."""
        amd = self.telemetry is not None and self.telemetry.vendor is Vendor.AMD
        return kind_on(self.torch_device, amd if self.rocm is None else self.rocm)


def device_label(torch_device: str, telemetry: DeviceInfo | None) -> str:
    """``cuda:0``, or ``cuda:0 (nvidia:2)`` where the telemetry name has another number."""
    if telemetry is None or telemetry.vendor is Vendor.CPU:
        return torch_device
    if torch_device.partition(":")[2] == str(telemetry.index):
        return torch_device
    return f"{torch_device} ({telemetry.device_id})"


def rocm_build(infos: Sequence[DeviceInfo]) -> bool:
    """Whether torch here is a ROCm build, whose ``cuda:N`` are AMD GPUs: as torch's
    ``version.py`` says (read, not imported), else (no GPU build, or none readable) as the GPUs
    found say (``torch_gpu_vendor``). The child asks its torch itself (``workloads.child``)."""
    build = read_build()
    if build is not None and build[1]:
        return build[2]
    return torch_gpu_vendor(infos) is Vendor.AMD


def hidden_by(vendor: Vendor) -> str:
    return "CUDA_VISIBLE_DEVICES" if vendor is Vendor.NVIDIA else "HIP/ROCR_VISIBLE_DEVICES"


def run_target(name: str, infos: Sequence[DeviceInfo]) -> RunTarget:
    """The target ``name`` means among the devices found (``infos``): ``cuda`` is ``cuda:0``,
    ``nvidia:N`` the torch device that is that GPU, in the numbering of gpuscope's workload
    children. UnknownTarget, one line, if there is none."""
    written = name.strip().lower()
    if written == "cpu":
        return RunTarget("cpu", next((i for i in infos if i.vendor is Vendor.CPU), None))
    env = run_environment(os.environ)
    rocm = rocm_build(infos)
    parsed = parse_torch_name(written)
    if parsed is not None:  # torch's name: its telemetry device where the numbering is known
        kind, index = parsed
        found = torch_gpu(infos, index, env)
        return RunTarget(f"{kind}:{index}", found if not isinstance(found, str) else None, rocm)
    match = _TELEMETRY_NAME.match(written)
    if match is None:
        raise UnknownTarget(f"unknown device {name!r} (use {KNOWN_NAMES})")
    vendor = Vendor.NVIDIA if match[1] == "nvidia" else Vendor.AMD
    index = int(match[2] or 0)
    info = next((i for i in infos if i.vendor is vendor and i.index == index), None)
    if info is None:
        found_ids = ", ".join(i.device_id for i in infos if i.vendor is vendor) or "none"
        raise UnknownTarget(f"unknown device {name!r} ({vendor.value} GPUs found: {found_ids})")
    if torch_gpu_vendor(infos) is not vendor:
        raise UnknownTarget(f"{name}: torch runs on the NVIDIA GPUs here, not on {vendor.value}'s")
    numbering = torch_numbering(infos, env)
    if numbering is None:
        raise UnknownTarget(f"{name}: {UNKNOWN_NUMBERING}, or name it as torch does (cuda:N)")
    named = torch_name(info, numbering)
    if named is None:
        raise UnknownTarget(f"{name} is hidden from torch by {hidden_by(vendor)} here")
    return RunTarget(named.replace("cuda", "rocm") if vendor is Vendor.AMD else named, info, rocm)


def named_targets(names: Sequence[str], found: Discovery) -> list[RunTarget]:
    """The devices as a command names them, either way (``cuda:0`` or ``nvidia:0``);
    UnknownTarget, one line with why a GPU is not there, for a name that names no device."""
    infos = [d.info for d in found.devices]
    try:
        return [run_target(name, infos) for name in names]
    except UnknownTarget as exc:
        absent = "".join(f"; {reason}" for reason in found.absent)  # why a GPU is not there
        raise UnknownTarget(f"{exc}{absent}") from None


def launch_targets(infos: Sequence[DeviceInfo]) -> tuple[list[RunTarget], list[str]]:
    """Where workloads can be launched from the UI (torch's GPUs in torch's numbering, then the
    CPU, as the panels go), and a line for each GPU that cannot be, and why."""
    vendor = torch_gpu_vendor(infos)
    gpus = [i for i in infos if vendor is not None and i.vendor is vendor]
    numbering = torch_numbering(infos, run_environment(os.environ))
    rocm = rocm_build(infos)
    if numbering is None:  # which is which is not known: each run finds its GPU by UUID
        targets = [RunTarget(f"cuda:{n}", rocm=rocm) for n in range(len(gpus))]
    else:
        targets = [RunTarget(f"cuda:{n}", info, rocm) for n, info in enumerate(numbering)]
    targets += [RunTarget("cpu", i) for i in infos if i.vendor is Vendor.CPU]
    launchable = {t.telemetry.device_id for t in targets if t.telemetry is not None}
    if numbering is None:
        launchable |= {i.device_id for i in gpus}  # offered unnamed above
    unavailable = [
        f"{i.device_id}: hidden from torch by {hidden_by(i.vendor)}"
        if i.vendor is vendor
        else f"{i.device_id}: not launchable here (torch is a CUDA build when NVIDIA GPUs are "
        "present; AMD GPUs need a ROCm build)"
        for i in infos
        if i.device_id not in launchable and i.vendor is not Vendor.CPU
    ]
    return targets, unavailable


def telemetry_for(
    device: str, uuid: str | None, found: Discovery, known: DeviceInfo | None = None
) -> DeviceInfo | None:
    """The telemetry device that is this torch device: by UUID, else the one ``known`` from
    torch's numbering (``targets``), else by index, else none."""
    infos = [d.info for d in found.devices]
    if device == "cpu":
        return next((i for i in infos if i.device_id == "cpu"), None)
    same = found.by_uuid(uuid)
    if same is not None:
        return same.info
    if known is not None:
        return known
    index = int(device.partition(":")[2] or 0)
    gpus = [i for i in infos if i.vendor is not Vendor.CPU and i.index == index]
    return gpus[0] if len(gpus) == 1 else None


def why_not_runnable(workload: Declared, target: RunTarget) -> str | None:
    """Why ``workload`` may not run on ``target`` (its kind is not one the workload declares),
    in one line; None if it may. The one answer bench, suite, the session and the launcher give."""
    return None if runs_on(workload, target.kind) else not_runnable(workload, target.torch_device)


def check_runnable(
    workload: Declared, targets: Sequence[RunTarget], found: Discovery
) -> list[RunTarget]:
    """Before any child starts: the workload runs on each target's kind, torch is there and
    sees every GPU asked for; WorkloadError, one line, naming the device as the user wrote it.
    The targets back, each GPU's kind as torch itself answered (where ``version.py`` cannot be
    read, a short child asks torch, ``torch_probe``: blocking), so what runs is what was checked."""

    def gpus_seen(hip: bool) -> int | None:
        backend = next((p for p in found.probes if p.name == ("amdsmi" if hip else "nvml")), None)
        if backend is None or backend.absent_reason is not None:
            return None  # cannot tell: torch is asked instead
        return len(backend.devices) + len(backend.unusable)

    for target in (t for t in targets if t.kind == "cpu"):  # first: no torch child for these
        refused = why_not_runnable(workload, target)
        if refused is not None:
            raise WorkloadError(refused)
    checked = list(targets)
    if any(t.kind != "cpu" for t in targets):
        facts = known_torch_facts(gpus_seen)
        for target in targets:
            if target.kind != "cpu":
                check_device(target.torch_device, facts)
        checked = [t if t.kind == "cpu" else replace(t, rocm=facts.hip) for t in targets]
    elif not torch_installed():
        raise WorkloadError(NOT_INSTALLED)
    for target in (t for t in checked if t.kind != "cpu"):
        refused = why_not_runnable(workload, target)
        if refused is not None:
            raise WorkloadError(refused)
    return checked
