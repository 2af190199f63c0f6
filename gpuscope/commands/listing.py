"""``gpuscope list``: the devices found, what each reports, and why any backend is absent.

A device's id, name, UUID, driver, notes and lost reason come from a vendor library or a remote
host: each goes through ``safe_text.one_line`` before it is laid out in the columns, so none can
send the terminal a control sequence or run over many lines."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gpuscope.commands.stdout import print_or_fail
from gpuscope.config import cpu_power_model
from gpuscope.safe_text import one_line
from gpuscope.telemetry.cpu_estimate import apply_cpu_estimate
from gpuscope.telemetry.discover import discover
from gpuscope.telemetry.gpm import NOTE_PREFIX
from gpuscope.telemetry.model import (
    ACTIVITY_METRICS,
    METRIC_NAMES,
    Device,
    DeviceInfo,
    DeviceLost,
    EnergySource,
    Vendor,
    supported_metrics,
)
from gpuscope.telemetry.precisions import EMULATABLE, describe
from gpuscope.telemetry.torch_numbering import torch_name, torch_numbering

# The activity counters (GPM) are one group: offered together, n/a together for one reason, so
# they are listed apart from the other metrics (14 names in the CPU's "n/a" line said nothing).
PER_METRIC = [m for m in METRIC_NAMES if m not in ACTIVITY_METRICS]


def activity_reason(info: DeviceInfo) -> str | None:
    """Why this device has no activity counters (GPM), in one line; None where it has them."""
    if info.activity_counters:
        return None
    for note in info.notes:
        if note.startswith(f"{NOTE_PREFIX}n/a ("):
            return note.removeprefix(f"{NOTE_PREFIX}n/a (").removesuffix(")")
    return "not an NVIDIA GPU" if info.vendor is not Vendor.NVIDIA else "not reported here"


@dataclass(frozen=True, slots=True)
class DeviceSummary:
    device: Device
    supported: list[str]
    energy_source: EnergySource | None
    lost_reason: str | None = None
    torch_device: str | None = None  # what torch calls this GPU ("cuda:1"), where known

    def as_dict(self) -> dict[str, Any]:
        info = self.device.info
        return {
            "device": info.device_id,
            "vendor": info.vendor.value,
            "name": info.name,
            "uuid": info.uuid,
            "pci_bus_id": info.pci_bus_id,
            "driver": info.driver,
            "mem_total_mib": info.mem_total_mib,
            "torch_device": self.torch_device,
            "energy_source": self.energy_source.value if self.energy_source else None,
            "supported_metrics": [m for m in self.supported if m in PER_METRIC],
            "unsupported_metrics": [m for m in PER_METRIC if m not in self.supported],
            # GPM: offered as a group, sampled only while something shows or records them
            "activity_counters": info.activity_counters,
            "activity_metrics": list(ACTIVITY_METRICS) if info.activity_counters else [],
            "activity_reason": activity_reason(info),
            "native_precisions": sorted(info.precisions.native) if info.precisions else None,
            "precisions_from": info.precisions.basis if info.precisions else None,
            "notes": list(info.notes),
            "lost": self.lost_reason,
        }


def summarize(devices: list[Device]) -> list[DeviceSummary]:
    """Read every device once: a metric is supported if the read returned a value, or if the
    device computes it from the change between reads (``DeviceInfo.delta_metrics``), so no
    second read, and no wait for one, is needed."""
    supported: dict[str, set[str]] = {}
    lost: dict[str, str] = {}
    for device in devices:
        info = device.info
        supported[info.device_id] = set(info.delta_metrics)
        try:
            reading = device.read(time.monotonic())
        except DeviceLost as exc:
            lost[info.device_id] = str(exc)
            continue
        supported[info.device_id].update(supported_metrics(reading))
    summaries = []
    numbering = torch_numbering([d.info for d in devices])
    for device in devices:
        names = [m for m in METRIC_NAMES if m in supported[device.info.device_id]]
        if device.info.has_energy_counter:
            source: EnergySource | None = EnergySource.COUNTER
        elif "power_w" in names:
            source = EnergySource.INTEGRATED
        elif "power_estimate_w" in names:
            source = EnergySource.ESTIMATE
        else:
            source = None
        cpu = device.info.vendor is Vendor.CPU
        torch_device = "cpu" if cpu else torch_name(device.info, numbering)
        summaries.append(
            DeviceSummary(device, names, source, lost.get(device.info.device_id), torch_device)
        )
    return summaries


def _text_lines(summary: DeviceSummary) -> list[str]:
    info = summary.device.info
    facts = [one_line(info.name, 100)]
    if info.driver:
        facts.append(f"driver {one_line(info.driver, 100)}")
    if info.mem_total_mib is not None:
        facts.append(f"{info.mem_total_mib:.0f} MiB")
    if info.pci_bus_id:
        facts.append(f"pci {one_line(info.pci_bus_id, 100)}")
    if info.uuid:
        facts.append(one_line(info.uuid, 100))
    if summary.torch_device not in (None, "cpu", f"cuda:{info.index}"):
        facts.append(f"torch calls it {summary.torch_device}")
    energy = {
        EnergySource.COUNTER: "hardware counter",
        EnergySource.INTEGRATED: "integrated from power",
        EnergySource.ESTIMATE: "estimate (a model, not measured)",
        None: "n/a",
    }.get(summary.energy_source, "n/a")
    supported = [m for m in summary.supported if m in PER_METRIC]
    unsupported = [m for m in PER_METRIC if m not in summary.supported]
    notes = [note for note in info.notes if not note.startswith(NOTE_PREFIX)]
    reason = activity_reason(info)
    activity = (
        f"n/a ({one_line(reason)})"
        if reason is not None
        else f"available, {len(ACTIVITY_METRICS)} metrics (sampled only while shown or recorded)"
    )
    lines = [
        f"{one_line(info.device_id, 100):<10}{'  '.join(facts)}",
        f"{'':<10}energy: {energy}" + "".join(f" ({one_line(note)})" for note in notes),
        f"{'':<10}native: {_native_line(info)}",
        f"{'':<10}metrics: {' '.join(supported) or 'none'}",
        f"{'':<10}n/a: {' '.join(unsupported) or 'none'}",
    ]
    if info.vendor is Vendor.NVIDIA or info.activity_counters:  # elsewhere GPM is no question
        lines.append(f"{'':<10}{NOTE_PREFIX}{activity}")
    if summary.lost_reason:
        lines.append(f"{'':<10}LOST: {one_line(summary.lost_reason)}")
    return lines


def _native_line(info: DeviceInfo) -> str:
    """``fp32 (AVX2, no AVX512-BF16 or AMX: bf16 and fp16 are emulated)``."""
    if info.precisions is None:
        return "n/a (not known here)"
    native = info.precisions.native
    emulated = [p for p in EMULATABLE if p not in native]
    slow = (
        f": {' and '.join(emulated)} {'are' if len(emulated) > 1 else 'is'} emulated"
        if emulated
        else ""
    )
    return f"{describe(native)} ({info.precisions.basis}{slow})"


def run_list(as_json: bool, cpu_tdp_w: float | None = None) -> int:
    cpu_model = cpu_power_model(cpu_tdp_w)  # --cpu-tdp, else the config file's cpu_tdp_w
    with discover() as found:
        apply_cpu_estimate(found, cpu_model)
        summaries = summarize(found.devices)
        absent = list(found.absent)
    if as_json:
        import json  # only for --json: every import counts in a 100 ms start

        text = json.dumps({"devices": [s.as_dict() for s in summaries], "absent": absent}, indent=2)
    else:
        lines = ["\n".join(_text_lines(summary)) for summary in summaries]
        text = "\n".join([*lines, *(f"absent    {one_line(reason)}" for reason in absent)])
    return print_or_fail(lambda: print(text), "list")  # a reader that left: one line, exit 1
