"""An input file opened for the report, bounded: a regular file up to ``INPUT_MAX_BYTES``; a
pipe, a FIFO, a terminal or a device (``-``, ``/dev/stdin``, ``<(cat rec.csv)``) read once, as
it comes, up to the same cap, and given up on when nothing arrives for ``IDLE_S`` seconds.

A named FIFO is opened without waiting for its writer, so a FIFO nobody writes to costs
``IDLE_S``, never a hang; ``/dev/zero`` or ``/dev/urandom`` is refused from its first bytes
(not text, or not a gpuscope file), never read until memory runs out.
"""

from __future__ import annotations

import io
import os
import select
import stat
from pathlib import Path

INPUT_MAX_BYTES = 2 * 1024**3  # a recording is streamed: about ten days at 10 Hz of two devices
IDLE_S = 30.0  # a pipe that sends nothing for this long is given up on
STDIN = Path("-")


class InputLimit(Exception):
    """An input past its cap or silent for too long; the message is one line for the user."""


def size_text(count: int) -> str:
    """``2 GiB``, ``256 MiB``: a cap as the user guide states it."""
    for scale, unit in ((1024**3, "GiB"), (1024**2, "MiB"), (1024, "KiB")):
        if count >= scale:
            return f"{count / scale:g} {unit}"
    return f"{count} bytes"


class _PipeReader(io.RawIOBase):
    """A non-seekable input read as it comes: counted against the cap, and given up on when it
    sends nothing for ``IDLE_S`` seconds."""

    def __init__(self, fd: int, name: str, idle_s: float) -> None:
        self._fd, self._name, self._idle_s, self._count = fd, name, idle_s, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while True:
            ready, _, _ = select.select([self._fd], [], [], self._idle_s)
            if not ready:
                raise InputLimit(f"{self._name}: nothing arrived for {self._idle_s:g} s")
            try:
                data = os.read(self._fd, len(buffer))
            except BlockingIOError:  # woken with nothing to read: wait again
                continue
            self._count += len(data)
            if self._count > INPUT_MAX_BYTES:
                raise InputLimit(f"{self._name}: larger than {size_text(INPUT_MAX_BYTES)}")
            buffer[: len(data)] = data
            return len(data)

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


def open_input(path: Path) -> tuple[io.BufferedReader, int | None]:
    """``path`` open for reading, and its size where it is a regular file (else None: read as
    it comes). OSError where it cannot be opened; InputLimit where a regular file is over the
    cap."""
    if path == STDIN:
        fd = os.dup(0)
    else:  # a FIFO's open would wait for a writer: don't, the reads wait (bounded) instead
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(21, "Is a directory")
        if stat.S_ISREG(info.st_mode):
            if info.st_size > INPUT_MAX_BYTES:
                raise InputLimit(f"{path}: larger than {size_text(INPUT_MAX_BYTES)}")
            os.set_blocking(fd, True)
            return io.BufferedReader(io.FileIO(fd, "rb", closefd=True)), info.st_size
        name = "stdin" if path == STDIN else str(path)
        return io.BufferedReader(_PipeReader(fd, name, IDLE_S)), None
    except BaseException:
        os.close(fd)
        raise
