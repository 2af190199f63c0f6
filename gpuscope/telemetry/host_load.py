"""Who used the host's CPU, and how much: the counters a measured window subtracts to tell a
run's own CPU time from everyone else's.

System-wide busy and steal seconds come from ``psutil.cpu_times()`` (steal: the hypervisor ran
another virtual machine on these cores, so a shared VM shows up even where no other process of
ours does); each process's CPU seconds from ``psutil.process_iter``. Reads /proc: call it off any
UI thread, at a window's edges only (a few ms per hundred processes).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from typing import Any

import psutil


@dataclass(frozen=True, slots=True)
class HostCpu:
    """The host's CPU counters at one moment."""

    time_s: float  # time.monotonic()
    busy_s: float  # CPU seconds spent on anything but idle and I/O wait, all cores
    steal_s: float  # CPU seconds the hypervisor gave to others (0 outside a VM)
    cores: int
    processes: dict[int, tuple[float, str]] = field(default_factory=dict)  # pid -> (s, name)


def host_cpu() -> HostCpu:
    """The counters of the cores gpuscope may run on (its affinity, which its workloads
    inherit: under ``taskset`` or a cpuset, the others' load elsewhere is not ours to count)."""
    cores = _our_cores()
    busy = steal = 0.0
    for times in cores:
        idle = times.idle + getattr(times, "iowait", 0.0)
        taken = getattr(times, "steal", 0.0)
        guest = getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
        busy += sum(times) - idle - taken - guest  # guest time is counted in user time too
        steal += taken
    processes: dict[int, tuple[float, str]] = {}
    for process in psutil.process_iter(["cpu_times", "name"]):
        spent = process.info.get("cpu_times")
        if spent is not None:
            processes[process.pid] = (spent.user + spent.system, process.info.get("name") or "?")
    return HostCpu(time.monotonic(), busy, steal, max(1, len(cores)), processes)


def _our_cores() -> list[Any]:
    """Each core's counters, of the cores in this process's affinity where they can be told."""
    per_core = list(psutil.cpu_times(percpu=True))
    try:
        allowed = os.sched_getaffinity(0)
    except (AttributeError, OSError):  # not on macOS and Windows
        return per_core
    if len(per_core) != (os.cpu_count() or 0):  # some cores offline: indices are not ids
        return per_core
    return [times for core, times in enumerate(per_core) if core in allowed] or per_core


def process_tree(pid: int) -> set[int]:
    """``pid`` and every process it started that is still there, and those of its session (a
    workload's child is a session leader: what it started belongs to it)."""
    tree = {pid}
    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
        tree |= {child.pid for child in psutil.Process(pid).children(recursive=True)}
    for other in psutil.pids():
        try:
            if other not in tree and os.getsid(other) == pid:
                tree.add(other)
        except (OSError, AttributeError):  # gone, or no sessions on this platform
            continue
    return tree
