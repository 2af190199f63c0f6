"""The devices a headless command was asked for: probe only the backends the selection needs,
give a CPU without RAPL the estimate the user asked for, turn a selector that matches nothing
into a usage error, and say when activity counters (``--gpm``) are asked of devices without them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from gpuscope.errors import UsageError
from gpuscope.telemetry.cpu_estimate import CpuPowerModel, apply_cpu_estimate
from gpuscope.telemetry.discover import Discovery, backends_for, discover, select_devices
from gpuscope.telemetry.model import Device


@contextmanager
def probe_selected(
    selectors: Sequence[str], cpu_model: CpuPowerModel | None = None
) -> Iterator[tuple[Discovery, list[Device]]]:
    """Yields the discovery (closed on exit) and the devices matching ``selectors``; with
    ``cpu_model``, a CPU without readable RAPL carries its power estimate."""
    with discover(backends_for(selectors)) as found:
        apply_cpu_estimate(found, cpu_model)
        try:
            devices = select_devices(found, selectors)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        yield found, devices


def no_activity_counters(devices: Sequence[Device], flag: str = "--gpm") -> str | None:
    """One line where ``flag`` asks for activity counters that none of ``devices`` has; None
    where at least one has them (the others' cells stay empty, as for any metric)."""
    if any(device.info.activity_counters for device in devices):
        return None
    return (
        f"{flag}: none of the selected devices has activity counters (NVML GPM needs an NVIDIA "
        "Hopper or newer GPU, not a vGPU or MIG slice; gpuscope list says why for each)"
    )
