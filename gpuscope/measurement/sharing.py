"""Whether a measured window had the device to itself, and if not, who else used it.

Another user's training job on the GPU, or other load on a shared VM (the same CPU GEMM measured
4.2, 27 and 669 GFLOP/s in one afternoon), skews a figure in silence. Over a run's measured
window gpuscope notes the other users of the device that did the work:

- a GPU: every process the driver lists on it that is not the run's (its pid, name, memory,
  and its SM share where the driver samples processes; the H100 on driver 580 does not, so
  there the share is unknown, not 0), from the sampler's history;
- the CPU: CPU time spent by processes other than the run and gpuscope itself, as a share of
  all cores, naming the biggest, and the time a hypervisor gave to other virtual machines.

A window where others used ``SHARED_PCT`` or more of the device, or a GPU another process was
on with no share the driver could tell, is ``shared``: the note says by whom and how much.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from gpuscope.telemetry.host_load import HostCpu, host_cpu, process_tree
from gpuscope.telemetry.model import DeviceInfo, Sample, Vendor

T = TypeVar("T")
SHARED_PCT = 10.0  # others' share of a device, over a window, worth a note
NAMED = 3  # other users named in a note, the biggest first
UNNAMED_PCT = 5.0  # others' share no process still there accounts for, worth saying


@dataclass(frozen=True, slots=True)
class OtherUser:
    pid: int
    name: str | None
    share_pct: float | None  # of the GPU's SMs, or of all the CPU's cores; None: not known
    gpu_mem_mib: float | None = None

    def describe(self) -> str:
        parts = [f"pid {self.pid}", self.name or "?"]
        if self.share_pct is not None:
            parts.append(f"{self.share_pct:.0f}%")
        if self.gpu_mem_mib is not None:
            parts.append(f"{self.gpu_mem_mib / 1024:.1f} GiB")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Sharing:
    """Who else used a device over a window. ``share_pct``: their part of it (%; None where it
    cannot be told); ``steal_pct``: the CPU time a hypervisor gave to other VMs (CPU only)."""

    device: str
    share_pct: float | None
    others: tuple[OtherUser, ...] = ()
    steal_pct: float | None = None
    unknown: str | None = None  # why others cannot be told from the run here, if they cannot

    @property
    def shared(self) -> bool:
        """Others took ``SHARED_PCT`` or more, or one of them took a share nobody could tell."""
        if (self.share_pct or 0.0) >= SHARED_PCT or (self.steal_pct or 0.0) >= SHARED_PCT:
            return True
        return any(o.share_pct is None for o in self.others)

    def note(self) -> str | None:
        """``shared: others used 45% of cpu (pid 812 stress 44%)``; None when not shared."""
        if not self.shared:
            return None
        named = ", ".join(o.describe() for o in self.others[:NAMED])
        more = f" and {len(self.others) - NAMED} more" if len(self.others) > NAMED else ""
        unknown = sum(o.share_pct is None for o in self.others)
        if self.share_pct is not None:
            said = f"others used {self.share_pct:.0f}% of {self.device}"
            said += f" and {unknown} more an unknown share" if unknown else ""
        elif self.others:
            said = f"{len(self.others)} other process(es) on {self.device}, their share n/a"
        else:
            said = f"others on {self.device}"
        said += f" ({named}{more})" if named else ""
        unnamed = (self.share_pct or 0.0) - sum(o.share_pct or 0.0 for o in self.others)
        if unnamed >= UNNAMED_PCT:  # their processes came and went within the window
            said += f"; {unnamed:.0f}% by processes that ended before it did"
        if (self.steal_pct or 0.0) >= SHARED_PCT:
            said += f"; the hypervisor gave {self.steal_pct:.0f}% to other VMs (steal)"
        return f"shared: {said}"


class SharingWatch:
    """Opened as a run's measured window opens, closed as it closes (on the thread that drives
    the run, never a UI's: it reads /proc)."""

    def __init__(self, telemetry: DeviceInfo | None, run_pid: int | None) -> None:
        self.telemetry = telemetry
        self.run_pid = run_pid if run_pid else None  # a simulated run has none (0)
        self._cpu: HostCpu | None = None
        if telemetry is not None and telemetry.vendor is Vendor.CPU:
            self._cpu = _safe(host_cpu)

    def close(self, samples: Sequence[Sample], run_mem_mib: float | None = None) -> Sharing | None:
        """Who else used the device; ``samples``: the device's samples over the window;
        ``run_mem_mib``: the most memory the run held, to tell it apart where pids cannot."""
        if self.telemetry is None:
            return None
        if self.telemetry.vendor is Vendor.CPU:
            end = _safe(host_cpu)
            if self._cpu is None or end is None:
                return None
            return cpu_sharing(self._cpu, end, self._ours(), self.telemetry.device_id)
        return gpu_sharing(samples, self._ours(), self.telemetry.device_id, run_mem_mib)

    def _ours(self) -> set[int]:
        ours = {os.getpid()}  # gpuscope itself: its sampler is part of the measurement
        if self.run_pid is not None:
            ours |= _safe(lambda: process_tree(self.run_pid or 0)) or {self.run_pid}
        return ours


def cpu_sharing(start: HostCpu, end: HostCpu, ours: set[int], device: str) -> Sharing:
    """Others' share of all cores between two counters: busy time less the run's and ours."""
    capacity = max(1e-9, (end.time_s - start.time_s) * end.cores)
    mine = sum(_spent(start, end, pid) for pid in ours)
    others_s = max(0.0, (end.busy_s - start.busy_s) - mine)
    users = sorted(
        (
            OtherUser(pid, end.processes[pid][1], 100 * spent / capacity)
            for pid in end.processes
            if pid not in ours and (spent := _spent(start, end, pid)) > 0.005 * capacity
        ),
        key=lambda u: -(u.share_pct or 0.0),
    )
    steal = 100 * max(0.0, end.steal_s - start.steal_s) / capacity
    return Sharing(device, min(100.0, 100 * others_s / capacity), tuple(users), steal)


def _spent(start: HostCpu, end: HostCpu, pid: int) -> float:
    if pid not in end.processes:
        return 0.0
    before = start.processes.get(pid, (0.0, ""))[0]  # a process born in the window: all of it
    return max(0.0, end.processes[pid][0] - before)


CONTEXT_MIB = 500.0  # what a CUDA context holds beside the allocator's memory (nvidia-smi)


def gpu_sharing(
    samples: Sequence[Sample], ours: set[int], device: str, run_mem_mib: float | None = None
) -> Sharing:
    """Other processes the driver listed on the GPU over the window, with their mean SM share
    where it was given and the most memory they held. Where none of the pids listed is ours,
    they are another pid namespace's (NVML gives the host's pids to a container): the run is
    one of them, taken to be the one whose memory is nearest the run's."""
    seen: dict[int, tuple[str | None, list[float], float | None]] = {}
    for sample in samples:
        for process in sample.reading.processes or ():
            name, shares, memory = seen.get(process.pid, (process.name, [], None))
            if process.sm_pct is not None:
                shares.append(process.sm_pct)
            known = [m for m in (memory, process.gpu_mem_mib) if m is not None]
            seen[process.pid] = (name, shares, max(known) if known else None)
    pids = set(seen)
    unknown = None
    if pids and not pids & ours:
        unknown = "the GPU's pids are not this namespace's: the run is told apart by its memory"
        target = (run_mem_mib or 0.0) + CONTEXT_MIB
        run_pid = min(pids, key=lambda pid: abs((seen[pid][2] or 0.0) - target))
        others_pids = sorted(pids - {run_pid})
    else:
        others_pids = sorted(pids - ours)
    users = tuple(
        sorted(
            (
                OtherUser(pid, seen[pid][0], _mean(seen[pid][1]), seen[pid][2])
                for pid in others_pids
            ),
            key=lambda u: -(u.share_pct or 0.0),
        )
    )
    shares = [u.share_pct for u in users if u.share_pct is not None]
    share = sum(shares) if shares else (0.0 if not users else None)
    return Sharing(device, share, users, unknown=unknown)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _safe(read: Callable[[], T]) -> T | None:
    """A /proc read that failed (a process gone between two calls, no permission) costs the
    note, never the run."""
    try:
        return read()
    except Exception:
        return None
