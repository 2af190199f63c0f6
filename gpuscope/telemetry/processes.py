"""What the host knows of a GPU process, through psutil: its name, user and command line
(looked up once while GPUs list the pid), and its CPU %, resident memory and start time
(re-read at most every ``USAGE_PERIOD_S``). All of it is read on the sampler thread; the views
read only the caches."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import psutil

from gpuscope.safe_text import clipped
from gpuscope.telemetry.model import Vendor
from gpuscope.telemetry.process_signals import Unverified, host_pids_are_ours, verify

_MAX_CACHED = 4096
COMMAND_KEPT = (
    4096  # characters of a command line kept (Linux allows megabytes): what any face shows
)
_names: dict[int, str | None] = {}


def process_name(pid: int) -> str | None:
    """The process's name, or None if it has exited, we may not see it, or the GPU's host pid
    may name another process here (gpuscope in a container: ``host_pids_are_ours``).

    Cached per pid: a GPU process list is re-read every sample and a name lookup is a syscall.
    A recycled pid could keep a stale name until the cache is cleared (bounded, so it is).
    """
    if pid in _names:
        return _names[pid]
    if len(_names) >= _MAX_CACHED:
        _names.clear()
    name: str | None = None
    if host_pids_are_ours():
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            name = psutil.Process(pid).name()
    _names[pid] = name
    return name


@dataclass(frozen=True, slots=True)
class ProcessDetails:
    """Who runs a GPU process and how it was started; None where the OS will not say."""

    user: str | None
    command: str | None


# A pid is looked up once while GPUs list it, and forgotten when no GPU lists it any more
# (``forget_exited``): a pid must leave the list before the kernel can give it to another
# process, so no periodic recheck of start times is needed (it cost ~6 ms per 200 processes).
_details: dict[int, ProcessDetails] = {}


def process_details(pid: int) -> ProcessDetails:
    """User and command line of ``pid``, read once while GPUs list it; both None where the GPU's
    host pid may name another process here (``host_pids_are_ours``). Reads /proc: call it off
    any UI thread (the TUI calls it from a sampler listener)."""
    cached = _details.get(pid)
    if cached is not None:
        return cached
    user = command = None
    try:
        if not host_pids_are_ours():
            raise psutil.NoSuchProcess(pid)  # a number that names someone else here
        process = psutil.Process(pid)
        with contextlib.suppress(psutil.AccessDenied, psutil.ZombieProcess):
            user = process.username()
        with contextlib.suppress(psutil.AccessDenied, psutil.ZombieProcess):
            command = clipped(" ".join(process.cmdline()) or process.name(), COMMAND_KEPT)
    except psutil.NoSuchProcess:  # gone, or not in our pid namespace: kept, so not re-asked
        pass
    if len(_details) >= _MAX_CACHED:
        _details.clear()
    found = _details[pid] = ProcessDetails(user, command)
    return found


def cached_details(pid: int) -> ProcessDetails | None:
    """What ``process_details`` last found for ``pid``, without touching /proc."""
    return _details.get(pid)


# Whether each listed pid may be signalled (process_signals.verify), asked once while GPUs list it
_checks: dict[tuple[int, Vendor], Unverified | None] = {}
NOT_CHECKED = Unverified("not checked yet: pids are checked while the Processes tab is shown")


def check_process(pid: int, vendor: Vendor) -> Unverified | None:
    """Whether ``pid`` is a GPU process of ours to see (None) or why not, read once while GPUs
    list it: a listed process keeps its device files open. Reads /proc: off any UI thread."""
    key = (pid, vendor)
    if key in _checks:
        return _checks[key]
    if len(_checks) >= _MAX_CACHED:
        _checks.clear()
    found = _checks[key] = verify(pid, vendor)
    return found


def cached_check(pid: int, vendor: Vendor) -> Unverified | None:
    """What ``check_process`` last found, without touching /proc; ``NOT_CHECKED`` if never."""
    return _checks.get((pid, vendor), NOT_CHECKED)


# Host CPU % and RSS: re-read at most this often per process. 200 processes cost ~4.5 ms here
# (two /proc reads each), so at most every 2 s, the pace at which the table shows them.
USAGE_PERIOD_S = 2.0


@dataclass(frozen=True, slots=True)
class HostUsage:
    """A process's use of the host: CPU % of one core since the previous read (None on the
    first read, which has no interval yet), resident memory, and when it started (wall clock)."""

    cpu_pct: float | None
    rss_mib: float | None
    started_s: float | None


@dataclass(slots=True)
class _Handle:
    process: psutil.Process | None  # None: we may not read it (another user's, hardened /proc)
    read_at: float  # the rate limit's clock (``now_s``)
    measured_at: float  # time.monotonic() when cpu_s was read: CPU % is over real time
    cpu_s: float | None  # user + system CPU seconds then
    usage: HostUsage


_usage: dict[int, _Handle] = {}


def host_usage(pid: int, now_s: float | None = None) -> HostUsage | None:
    """``pid``'s host usage, re-read if older than ``USAGE_PERIOD_S``; None once it has exited.

    CPU % is the CPU time used between two reads over the real time between them: two small
    reads of /proc per process (stat, statm; ~25 µs here), no more. A process we may not read
    keeps what we know, and is tried again only at the same pace. Reads /proc: call it off any
    UI thread."""
    now = time.monotonic() if now_s is None else now_s
    cached = _usage.get(pid)
    if cached is not None and now - cached.read_at < USAGE_PERIOD_S:
        return cached.usage
    if cached is None and len(_usage) >= _MAX_CACHED:
        _usage.clear()
    try:
        process = cached.process if cached is not None else None
        if process is None:
            process = psutil.Process(pid)
            process.create_time()  # read once: psutil keeps it with the handle
        times = process.cpu_times()
        rss = process.memory_info().rss / (1024 * 1024)
    except psutil.NoSuchProcess:  # exited, or in another pid namespace: asked again at the
        _usage[pid] = _Handle(None, now, time.monotonic(), None, HostUsage(None, None, None))
        return None  # same pace, not on every sample; forgotten when no GPU lists it
    except psutil.Error:  # AccessDenied: what we know, or nothing
        usage = cached.usage if cached is not None else HostUsage(None, None, None)
        _usage[pid] = _Handle(None, now, time.monotonic(), None, usage)
        return usage
    cpu_s, measured_at = times.user + times.system, time.monotonic()
    cpu = None
    if cached is not None and cached.cpu_s is not None and measured_at > cached.measured_at:
        cpu = max(0.0, 100.0 * (cpu_s - cached.cpu_s) / (measured_at - cached.measured_at))
    usage = HostUsage(cpu, rss, process.create_time())
    _usage[pid] = _Handle(process, now, measured_at, cpu_s, usage)
    return usage


def cached_usage(pid: int) -> HostUsage | None:
    """What ``host_usage`` last found for ``pid``, without touching /proc."""
    cached = _usage.get(pid)
    return cached.usage if cached is not None else None


def forget_usage() -> None:
    """Forget the host usage read so far (CPU % is then n/a until it has a new interval)."""
    _usage.clear()


def forget_exited(alive: set[int]) -> None:
    """Forget what was read of pids no GPU lists any more: a pid the kernel hands to another
    process later is read afresh, and the caches do not grow with every short-lived process."""
    for cache in (_usage, _details):
        for pid in [pid for pid in cache if pid not in alive]:
            del cache[pid]
    for key in [key for key in _checks if key[0] not in alive]:
        del _checks[key]
