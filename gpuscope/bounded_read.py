"""A file from outside opened without trusting it, the one mechanism for every input gpuscope
reads (``report``'s inputs, the user's ``config.toml``): opened without waiting, a directory
refused, a regular file refused past its size cap before a byte is read; where the caller
takes them, a pipe, a FIFO, a terminal or a device (``-``, ``/dev/stdin``, ``<(cat rec.csv)``)
read once, as it comes, up to the same cap, and given up on when nothing arrives for
``IDLE_S`` seconds.

A named FIFO is opened without waiting for its writer, so a FIFO nobody writes to costs
``IDLE_S`` (or, where only regular files are taken, one line), never a hang; ``/dev/zero`` is
read no further than the cap. A leaf: every layer may use it.
"""

from __future__ import annotations

import io
import os
import select
import stat
from pathlib import Path

IDLE_S = 30.0  # a pipe that sends nothing for this long is given up on
STDIN = Path("-")


class InputLimit(Exception):
    """An input past its cap, silent for too long, or not a regular file where only one will
    do; the message is one line for the user."""


class NotRegularFile(InputLimit):
    """A FIFO, a device or a socket where only a regular file is taken."""


class TooLarge(InputLimit):
    """A regular file over its cap, or a stream that sent more."""


def size_text(count: int) -> str:
    """``2 GiB``, ``256 MiB``: a cap as the user guide states it."""
    for scale, unit in ((1024**3, "GiB"), (1024**2, "MiB"), (1024, "KiB")):
        if count >= scale:
            return f"{count / scale:g} {unit}"
    return f"{count} bytes"


class _PipeReader(io.RawIOBase):
    """A non-seekable input read as it comes: counted against the cap, and given up on when it
    sends nothing for ``idle_s`` seconds."""

    def __init__(self, fd: int, name: str, limit: int, idle_s: float) -> None:
        self._fd, self._name, self._limit, self._idle_s, self._count = fd, name, limit, idle_s, 0

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
            if self._count > self._limit:
                raise TooLarge(f"{self._name}: larger than {size_text(self._limit)}")
            buffer[: len(data)] = data
            return len(data)

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


def open_input(
    path: Path, limit: int, pipes: bool = True, idle_s: float | None = None
) -> tuple[io.BufferedReader, int | None]:
    """``path`` open for reading, and its size where it is a regular file (else None: read as
    it comes, at most ``limit`` bytes; ``-`` is stdin). OSError where it cannot be opened
    (IsADirectoryError for a folder); TooLarge for a regular file over ``limit``;
    NotRegularFile for anything else when ``pipes`` is False."""
    if path == STDIN and pipes:
        fd = os.dup(0)
    else:  # a FIFO's open would wait for a writer: don't, the reads wait (bounded) instead
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not pipes and not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(f"{path} is not a regular file")
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(21, "Is a directory")
        if stat.S_ISREG(info.st_mode):
            if info.st_size > limit:
                raise TooLarge(f"{path}: larger than {size_text(limit)}")
            os.set_blocking(fd, True)
            return io.BufferedReader(io.FileIO(fd, "rb", closefd=True)), info.st_size
        name = "stdin" if path == STDIN else str(path)
        wait_s = IDLE_S if idle_s is None else idle_s
        return io.BufferedReader(_PipeReader(fd, name, limit, wait_s)), None
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path, limit: int) -> bytes:
    """A regular file's bytes, at most ``limit`` of them: as :func:`open_input` with
    ``pipes=False``, and TooLarge where the file grew past ``limit`` as it was read."""
    stream, _ = open_input(path, limit, pipes=False)
    with stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"{path}: larger than {size_text(limit)}")
    return data
