"""Process names for GPU process lists, looked up once per pid through psutil."""

from __future__ import annotations

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
