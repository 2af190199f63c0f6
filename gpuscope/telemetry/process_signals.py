"""Signals to GPU processes: sent only to a process we can see that holds the GPU, through a pidfd.

A GPU lists its processes by the host's pid numbers (NVML and amdsmi read them in the initial pid
namespace). Inside a container with its own pid namespace the same number can name an unrelated
local process, so before a signal, from ``/proc``:

1. gpuscope runs in the host's pid namespace (``/proc/self/ns/pid`` is the initial namespace),
   so a host pid names the process this ``/proc`` shows under that number;
2. the process lives in our namespace (its ``ns/pid`` is ours), or in one nested inside it (a
   container's process seen from the host), whose pid here is the first of its ``NSpid`` numbers
   and must be the pid the GPU listed;
3. it holds its GPU: a descriptor in ``/proc/<pid>/fd`` on ``/dev/nvidia*`` (NVIDIA) or on
   ``/dev/dri/*`` or ``/dev/kfd`` (AMD). A CPU device lists no processes, and no device file would
   prove a process uses the CPU: a CPU's row is refused.

The signal goes through a pidfd opened *before* these checks (``os.pidfd_open``, Linux 5.3): if
the process exits and its pid is given to another one meanwhile, the signal reaches nobody rather
than the newcomer. Without pidfds, the start time is checked just before ``kill`` (a small race
is left, said in the docs). No Textual here: the views ask, this module answers in one line.
"""

from __future__ import annotations

import errno
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import psutil

from gpuscope.telemetry.model import Vendor

PROC = Path("/proc")
# PROC_PID_INIT_INO (include/linux/proc_ns.h): the initial pid namespace's inode, fixed since 3.8
HOST_PID_NAMESPACE = "pid:[4026531836]"
GPU_DEVICE_FILES: dict[Vendor, tuple[str, ...]] = {
    Vendor.NVIDIA: ("/dev/nvidia",),
    Vendor.AMD: ("/dev/dri/", "/dev/kfd"),
}
MAX_DESCRIPTORS = 65536  # descriptors looked at before giving up: a bound on one check's cost


@dataclass(frozen=True, slots=True)
class Unverified:
    """Why a pid may not be signalled, in one line. ``foreign``: the number may name another
    process than the GPU's, so what /proc says of it (user, command) is not shown either."""

    reason: str
    foreign: bool = False


def _link(path: Path) -> str | None:
    """A symlink's target; None where it is gone or we may not read it."""
    try:
        return os.readlink(path)
    except OSError:
        return None


def _nspid(proc: Path, pid: int) -> tuple[int, ...]:
    """The ``NSpid`` numbers of ``pid``: its pid in this /proc's namespace, then in each nested
    one; empty where unreadable (kernels before 4.1 have no such line)."""
    try:
        with open(proc / str(pid) / "status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("NSpid:"):
                    return tuple(int(n) for n in line.split()[1:])
    except (OSError, ValueError):
        pass
    return ()


def host_pids_are_ours(proc: Path = PROC) -> bool:
    """Whether a pid a GPU lists (a host pid) names the process this ``/proc`` shows under it:
    only where gpuscope runs in the host's pid namespace (rule 1). Elsewhere (a container) what
    ``/proc`` says of that number (its name, user, command) is another process's."""
    return _link(proc / "self" / "ns" / "pid") == HOST_PID_NAMESPACE


def namespace_check(pid: int, proc: Path = PROC) -> Unverified | None:
    """None if the GPU's ``pid`` names the process /proc shows under that number (rules 1-2)."""
    ours = _link(proc / "self" / "ns" / "pid")
    if ours is None:
        return Unverified("cannot read gpuscope's own pid namespace (/proc/self/ns/pid)", True)
    if ours != HOST_PID_NAMESPACE:
        return Unverified(
            "gpuscope runs in its own pid namespace (a container): the GPU lists host pids, "
            "which may name other processes here",
            True,
        )
    if not (proc / str(pid)).is_dir():
        return Unverified("no such process here (it exited, or /proc hides it)", True)
    theirs = _link(proc / str(pid) / "ns" / "pid")
    if theirs is None:
        return Unverified("cannot read its pid namespace (another user's process?)")
    if theirs != ours:
        numbers = _nspid(proc, pid)
        if len(numbers) < 2 or numbers[0] != pid:
            return Unverified("it lives in another pid namespace", True)
    return None


def gpu_check(pid: int, vendor: Vendor, proc: Path = PROC) -> Unverified | None:
    """None if ``pid`` holds a device file of its GPU's vendor (rule 3)."""
    prefixes = GPU_DEVICE_FILES.get(vendor)
    if prefixes is None:
        return Unverified(f"a {vendor.value} device has no device file that proves its use")
    try:
        descriptors = os.scandir(proc / str(pid) / "fd")
    except PermissionError:
        return Unverified("cannot read its open files (another user's process?)")
    except OSError:
        return Unverified("no such process here (it exited)", True)
    with descriptors:
        for count, entry in enumerate(descriptors):
            if count >= MAX_DESCRIPTORS:
                break
            target = _link(Path(entry.path))
            if target is not None and target.startswith(prefixes):
                return None
    return Unverified(f"it holds no {vendor.value.upper()} device file (/proc/{pid}/fd)")


def verify(pid: int, vendor: Vendor, proc: Path = PROC) -> Unverified | None:
    """None if ``pid`` is a GPU process of ours to see (the three rules above), else why not.
    Reads /proc: call it off any UI thread."""
    return namespace_check(pid, proc) or gpu_check(pid, vendor, proc)


def start_time(pid: int) -> float:
    """``pid``'s start (wall clock), as psutil gives it to the processes table."""
    return float(psutil.Process(pid).create_time())


def send_signal(
    pid: int,
    vendor: Vendor,
    sig: signal.Signals,
    started_s: float | None,
    owner: str | None = None,
    proc: Path = PROC,
) -> str | None:
    """Send ``sig`` to ``pid`` if it is still the GPU process shown; None on success, else why
    not, in one line.

    Checked first: the three rules above (our namespace, a device file of ``vendor``), and that
    its start time is ``started_s``, the one it was shown with (a pid reused while the question
    was open is refused; an unknown start time is refused). The process is pinned by a pidfd
    before the checks, so one that exits meanwhile is not replaced by its pid's next owner."""
    if started_s is None:
        return f"pid {pid}: cannot tell it is the process shown (its start time is unknown)"
    if not (hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal")):
        return _send_by_pid(pid, vendor, sig, started_s, owner, proc)
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return f"pid {pid} has already exited"
    except OSError as exc:  # ENOSYS on an old kernel: the start-time check alone
        if exc.errno in (errno.ENOSYS, errno.EOPNOTSUPP):
            return _send_by_pid(pid, vendor, sig, started_s, owner, proc)
        return f"pid {pid}: cannot open it ({exc.strerror or exc})"
    try:
        why = _why_not(pid, vendor, started_s, proc)
        if why is not None:
            return why
        signal.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        return f"pid {pid} has already exited"
    except PermissionError:
        return _denied(pid, owner)
    finally:
        os.close(pidfd)
    return None


def _why_not(pid: int, vendor: Vendor, started_s: float, proc: Path) -> str | None:
    unverified = verify(pid, vendor, proc)
    if unverified is not None:
        return f"pid {pid} not signalled: {unverified.reason}"
    try:
        if start_time(pid) != started_s:
            return f"pid {pid} is now another process: nothing sent"
    except psutil.NoSuchProcess:
        return f"pid {pid} has already exited"
    except psutil.Error:
        return f"pid {pid}: cannot read its start time, so cannot tell it is the process shown"
    return None


def _send_by_pid(
    pid: int, vendor: Vendor, sig: signal.Signals, started_s: float, owner: str | None, proc: Path
) -> str | None:
    """Where pidfds are missing: the same checks, then ``kill`` at once (a pid reused in the
    microseconds between the start-time check and the kill would be hit)."""
    why = _why_not(pid, vendor, started_s, proc)
    if why is not None:
        return why
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return f"pid {pid} has already exited"
    except PermissionError:
        return _denied(pid, owner)
    return None


def _denied(pid: int, owner: str | None) -> str:
    belongs = f" (it belongs to {owner})" if owner else ""
    return f"no permission to signal pid {pid}{belongs}: run gpuscope as that user or root"
