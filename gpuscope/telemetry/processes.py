"""Process names for GPU process lists, looked up once per pid through psutil."""

from __future__ import annotations

import contextlib
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


_details: dict[int, tuple[float | None, ProcessDetails]] = {}


def process_details(pid: int) -> ProcessDetails:
    """User and command line of ``pid``; cached, and re-read if the pid was reused.

    Reads /proc: call it off any UI thread (the TUI calls it from a sampler listener).
    """
    try:
        process = psutil.Process(pid)
        created: float | None = process.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return _details[pid][1] if pid in _details else ProcessDetails(None, None)
    cached = _details.get(pid)
    if cached is not None and cached[0] == created:
        return cached[1]
    user = command = None
    with contextlib.suppress(psutil.Error):
        user = process.username()
    with contextlib.suppress(psutil.Error):
        command = " ".join(process.cmdline()) or process.name()
    if len(_details) >= _MAX_CACHED:
        _details.clear()
    found = ProcessDetails(user, command)
    _details[pid] = (created, found)
    return found


def cached_details(pid: int) -> ProcessDetails | None:
    """What ``process_details`` last found for ``pid``, without touching /proc."""
    cached = _details.get(pid)
    return cached[1] if cached is not None else None
