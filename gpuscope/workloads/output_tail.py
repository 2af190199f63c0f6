"""The end of what a workload's child printed, kept in a bounded buffer.

The child's stdout and stderr (its prints, a traceback, faulthandler's dump of a fatal signal)
are one pipe to gpuscope, drained on a thread that keeps only the last ``TAIL_BYTES``. A plugin
that prints 2 GB costs gpuscope a few kilobytes of memory and nothing on disk, and the child
never waits on a full pipe for long. The child's output never reaches gpuscope's own stdout, so
it cannot corrupt ``--json`` or a terminal, and a closed stdout costs the child nothing.
"""

from __future__ import annotations

import os
import select
import threading

TAIL_BYTES = 16 * 1024  # a few screens of text: more than the last words anyone shows
_CHUNK = 65536
_CHUNKS_AT_ONCE = 16  # 1 MiB, more than a pipe holds: a child printing without pause cannot
# keep a reader (``text``) waiting on the lock


class OutputTail:
    """Drains ``fd`` (the read end of the child's output pipe, owned by the caller) until end of
    file or ``close``; ``text`` is the end of it. Thread-safe."""

    def __init__(self, fd: int, keep_bytes: int = TAIL_BYTES) -> None:
        self._fd = fd
        self._keep = keep_bytes
        self._tail = bytearray()
        self.total_bytes = 0  # everything the child printed, kept or not
        self._lock = threading.Lock()
        self._done = threading.Event()
        os.set_blocking(fd, False)
        self._thread = threading.Thread(target=self._drain, name="gpuscope-child-output")
        self._thread.daemon = True
        self._thread.start()

    def text(self, chars: int) -> str:
        """The last ``chars`` characters printed so far, including what sits in the pipe now
        (a child that just died has written all it ever will)."""
        self._read_available()
        with self._lock:
            return bytes(self._tail).decode(errors="replace")[-chars:]

    def close(self) -> None:
        """Stop draining (a process the workload started may hold the pipe open for ever); the
        caller may close the pipe then: ``fd`` is never read again (its number may be reused)."""
        with self._lock:
            self._done.set()
        self._thread.join(1.0)

    def _drain(self) -> None:
        while not self._done.is_set():
            try:
                ready = select.select([self._fd], [], [], 0.1)[0]
            except (OSError, ValueError):  # closed under us
                return
            if ready and not self._read_available():
                return  # end of file: every writer is gone

    def _read_available(self) -> bool:
        """Read what is in the pipe now; False at end of file (or once the pipe is closed)."""
        with self._lock:
            if self._done.is_set():
                return False
            for _ in range(_CHUNKS_AT_ONCE):
                try:
                    chunk = os.read(self._fd, _CHUNK)
                except BlockingIOError:
                    return True
                except OSError:
                    return False
                if not chunk:
                    return False
                self.total_bytes += len(chunk)
                self._tail += chunk
                if len(self._tail) > 2 * self._keep:  # trim now and then, not on every read
                    del self._tail[: -self._keep]
            return True
