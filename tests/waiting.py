"""Waiting in tests: on a condition, never a fixed time. A loaded 2-core machine makes any fixed
sleep too short some day; a wait on the condition costs nothing when it comes at once."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any

# Long enough for a child that imports torch on a machine whose cores are all busy; a wait ends
# as soon as its condition holds or its ``failed`` says why it never will.
PATIENCE_S = 60.0


def wait_until(
    done: Callable[[], object],
    what: str,
    failed: Callable[[], str | None] = lambda: None,
    timeout_s: float = PATIENCE_S,
    poll_s: float = 0.02,
) -> None:
    """Return once ``done()`` is true. Fail at once, with its words, once ``failed()`` returns a
    reason (the process exited, the run failed), else after ``timeout_s``, naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while not done():
        why = failed()
        assert why is None, f"{what}: {why}"
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s:g} s"
        time.sleep(poll_s)


def exited(process: subprocess.Popen[Any]) -> Callable[[], str | None]:
    """``failed`` for a wait on what a child process does: it exited first (with its code)."""

    def why() -> str | None:
        code = process.poll()
        return None if code is None else f"the process exited first, code {code}"

    return why
