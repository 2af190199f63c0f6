"""What the host knows of a GPU process, through psutil: its name, user and command line
(looked up once per pid), and its CPU %, resident memory and start time (re-read at most once a
second). All of it is read on the sampler thread; the views read only the caches."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import psutil

_MAX_CACHED = 4096
_names: dict[int, str | None] = {}


def process_name(pid: int) -> str | None:
    """The process's name, or None if it has exited or we may not see it.

    Cached per pid: a GPU process list is re-read every sample and a name lookup is a syscall.
    A recycled pid could keep a stale name until the cache is cleared (bounded, so it is).
    """
    if pid in _names:
        return _names[pid]
    if len(_names) >= _MAX_CACHED:
        _names.clear()
    try:
        name: str | None = psutil.Process(pid).name()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        name = None
    _names[pid] = name
    return name


@dataclass(frozen=True, slots=True)
class ProcessDetails:
    """Who runs a GPU process and how it was started; None where the OS will not say."""

    user: str | None
    command: str | None


DETAILS_RECHECK_S = 5.0  # how often a cached user/command is checked against pid reuse
_details: dict[int, tuple[float | None, ProcessDetails, float]] = {}  # created, found, checked


def process_details(pid: int, now_s: float | None = None) -> ProcessDetails:
    """User and command line of ``pid``; cached, and re-read if the pid was reused (checked at
    most every ``DETAILS_RECHECK_S``: 200 processes at 2 Hz must not mean 400 /proc reads a
    second). Reads /proc: call it off any UI thread (the TUI calls it from a sampler listener).
    """
    now = time.monotonic() if now_s is None else now_s
    cached = _details.get(pid)
    if cached is not None and now - cached[2] < DETAILS_RECHECK_S:
        return cached[1]
    try:
        process = psutil.Process(pid)
        created: float | None = process.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return cached[1] if cached is not None else ProcessDetails(None, None)
    if cached is not None and cached[0] == created:
        _details[pid] = (created, cached[1], now)
        return cached[1]
    user = command = None
    with contextlib.suppress(psutil.Error):
        user = process.username()
    with contextlib.suppress(psutil.Error):
        command = " ".join(process.cmdline()) or process.name()
    if len(_details) >= _MAX_CACHED:
        _details.clear()
    found = ProcessDetails(user, command)
    _details[pid] = (created, found, now)
    return found


def cached_details(pid: int) -> ProcessDetails | None:
    """What ``process_details`` last found for ``pid``, without touching /proc."""
    cached = _details.get(pid)
    return cached[1] if cached is not None else None


USAGE_PERIOD_S = 1.0  # host CPU % and RSS: re-read at most this often per process


@dataclass(frozen=True, slots=True)
class HostUsage:
    """A process's use of the host: CPU % of one core since the previous read (None on the
    first read, which has no interval yet), resident memory, and when it started (wall clock)."""

    cpu_pct: float | None
    rss_mib: float | None
    started_s: float | None


_usage: dict[int, tuple[float, float | None, psutil.Process, HostUsage]] = {}


def host_usage(pid: int, now_s: float | None = None) -> HostUsage | None:
    """``pid``'s host usage, re-read if older than ``USAGE_PERIOD_S``; None once it has exited.

    Keeps the ``psutil.Process`` so its CPU % covers the time since the last read; a reused pid
    (another start time) starts over. Reads /proc: call it off any UI thread."""
    now = time.monotonic() if now_s is None else now_s
    cached = _usage.get(pid)
    if cached is not None and now - cached[0] < USAGE_PERIOD_S:
        return cached[3]
    try:
        if cached is not None and not cached[2].is_running():  # exited, or the pid was reused
            cached = None  # is_running re-reads the start time; create_time() is cached
        process = cached[2] if cached is not None else psutil.Process(pid)
        created: float | None = process.create_time()
        with process.oneshot():
            cpu = process.cpu_percent(None)
            rss = process.memory_info().rss / (1024 * 1024)
    except psutil.NoSuchProcess:
        _usage.pop(pid, None)
        return None
    except psutil.Error:  # another user's process we may not read: what we know, or nothing
        return cached[3] if cached is not None else HostUsage(None, None, None)
    usage = HostUsage(cpu if cached is not None else None, rss, created)
    if len(_usage) >= _MAX_CACHED:
        _usage.clear()
    _usage[pid] = (now, created, process, usage)
    return usage


def cached_usage(pid: int) -> HostUsage | None:
    """What ``host_usage`` last found for ``pid``, without touching /proc."""
    cached = _usage.get(pid)
    return cached[3] if cached is not None else None


def forget_exited(alive: set[int]) -> None:
    """Drop the usage of pids no GPU lists any more (their psutil handles hold no file, but
    the cache should not grow with every short-lived process)."""
    for pid in [pid for pid in _usage if pid not in alive]:
        del _usage[pid]
