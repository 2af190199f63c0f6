"""Ending a child together with everything it started.

Workload runs and the plugin probe start in a session of their own, so a plugin's own
subprocesses share the child's process group and can be ended with it, even after the child
itself has exited.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time


def end_group(pgid: int, grace_s: float = 1.0) -> None:
    """SIGTERM the group, then SIGKILL whatever is left after ``grace_s``."""
    if not hasattr(os, "killpg"):  # not POSIX: no sessions were made either
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            os.killpg(pgid, 0)  # ProcessLookupError once the group is empty
            time.sleep(0.02)
        os.killpg(pgid, signal.SIGKILL)


def end_with_parent() -> None:
    """In a child that leads its own session: if gpuscope dies without reaping us (SIGKILL, a
    closed terminal), we are reparented, so end the whole session, plugin processes and all."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, daemon=True, name="gpuscope-parent-watch").start()
