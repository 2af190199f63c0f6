"""Turn Ctrl-C, SIGTERM and SIGHUP into a callback, so a command can stop cleanly and keep
what it has measured instead of dying mid-write."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


@contextmanager
def stop_on_signals(on_stop: Callable[[], None]) -> Iterator[None]:
    """Call ``on_stop`` (from the main thread) on each stop signal while the block runs."""

    def handler(signum: int, frame: FrameType | None) -> None:
        on_stop()

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
