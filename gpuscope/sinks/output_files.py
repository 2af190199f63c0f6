"""Files gpuscope makes: one mechanism to create them, say in one line why it could not, and
leave nothing half-made behind.

- ``create_stamped``: the naming rule for files gpuscope names itself (a UI recording, saved
  results): ``NAME-YYYYmmdd-HHMMSS.csv`` in the chosen folder, ``-2``, ``-3``... when that
  exists. Created exclusively, so two saves in one second (or two gpuscopes) never overwrite
  each other.
- ``check_new``/``check_new_folder``: refuse an output before any work starts (it exists, its
  folder is missing or read-only), so a command is not turned away after measuring.
- ``NewOutputs``: the files one command writes, created together; if one cannot be made, or
  the command fails before it starts writing, those made so far are removed, so a retry is not
  blocked by an empty file of ours.
- ``write_atomically``: a results file is whole or absent, never 0 bytes (temp file + rename).
- ``write_error``: the one line for a failed create or write (disk full, read-only, ...).

Failures are ``OutputError`` (its text is that one line); commands turn it into their exit code.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TextIO

STDOUT = "-"


class OutputError(Exception):
    """An output could not be made or written; ``str`` is one line for the user."""


def write_error(where: str | Path, exc: OSError) -> str:
    """One line for a failed create or write of ``where``, the same in every command."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full while writing {where}"
    return f"cannot write {where}: {exc.strerror or exc}"


def write_error_in(folder: Path, exc: OSError) -> str:
    """``write_error`` for a file gpuscope names itself in ``folder``: the file where the system
    says which, else the folder it was for."""
    return write_error(exc.filename or folder, exc)


def create_stamped(directory: Path, name: str, extension: str = "csv") -> tuple[Path, int]:
    """A new file's path and an open write-only descriptor; OSError if the folder refuses."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    suffix = 1
    while True:
        tail = "" if suffix == 1 else f"-{suffix}"
        path = directory / f"{name}-{stamp}{tail}.{extension}"
        try:
            return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            suffix += 1


def write_stamped(
    directory: Path, name: str, extension: str, write: Callable[[TextIO], object]
) -> Path:
    """A new stamped file (``create_stamped``) that ``write`` fills, whole or absent: if the
    disk says no midway (full, remounted read-only) the part written is removed before the
    OSError goes on, so no half a file is left to be taken for results."""
    path, fd = create_stamped(directory, name, extension)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return path


def _refusal(folder: Path) -> str | None:
    """Why files cannot be made in the existing ``folder``, or None. Read from the filesystem's
    flags and the folder's mode, without writing: root ignores the mode, not a read-only mount."""
    if hasattr(os, "statvfs"):
        try:
            if os.statvfs(folder).f_flag & os.ST_RDONLY:
                return os.strerror(errno.EROFS)
        except OSError as exc:
            return exc.strerror or str(exc)
    if not os.access(folder, os.W_OK | os.X_OK):
        return os.strerror(errno.EACCES)
    return None


def check_new(path: str, force: bool = False) -> None:
    """OutputError unless ``path`` (a file, ``-`` for stdout) can be made: it does not exist (or
    ``force``), and its folder exists and takes new files. Creates nothing."""
    if path == STDOUT:
        return
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"{path} is a folder: name a file")
    if target.exists() and not force:
        raise OutputError(f"{path} exists; pass --force to overwrite it")
    folder = target.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: {os.strerror(errno.ENOENT)}")
    why = _refusal(folder)
    if why is not None and not (force and target.exists() and os.access(target, os.W_OK)):
        raise OutputError(f"cannot write {path}: {why}")


def check_new_folder(path: Path) -> None:
    """OutputError unless ``path`` can be a new folder of outputs: absent (its nearest existing
    parent takes new folders), or an empty folder that takes new files. Creates nothing."""
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path} is a file: name a new folder with -o")
    if path.exists() and any(path.iterdir()):
        raise OutputError(f"{path} is not empty: name a new folder with -o")
    existing = path.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"cannot write {path}: {existing} is not a folder")
    why = _refusal(existing)
    if why is not None:
        raise OutputError(f"cannot write {path}: {why}")


class NewOutputs:
    """The files one command writes. ``open`` each; used as a context manager, a failure inside
    the block closes them and removes the ones this object created (a file it overwrote with
    ``force`` is not ours to remove). After the block they are the caller's: ``close`` them."""

    def __init__(self, force: bool = False) -> None:
        self._force = force
        self._made: list[str] = []
        self._fds: list[int] = []

    def open(self, path: str) -> int:
        """A write-only descriptor for ``path`` (stdout's for ``-``); OutputError in one line."""
        if path == STDOUT:
            return sys.stdout.fileno()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            self._made.append(path)
        except FileExistsError:
            if not self._force:
                raise OutputError(f"{path} exists; pass --force to overwrite it") from None
            fd = self._open_existing(path)
        except OSError as exc:
            raise OutputError(write_error(path, exc)) from None
        self._fds.append(fd)
        return fd

    @staticmethod
    def _open_existing(path: str) -> int:
        try:
            return os.open(path, os.O_WRONLY | os.O_TRUNC)
        except OSError as exc:
            raise OutputError(write_error(path, exc)) from None

    def close(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []

    def discard(self) -> None:
        """Close every output and remove the files this object created."""
        self.close()
        for path in self._made:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._made = []

    def __enter__(self) -> NewOutputs:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.discard()


def write_atomically(path: Path, text: str) -> None:
    """``path`` holds ``text`` whole, or is not touched: written to a hidden file beside it,
    flushed to disk, then renamed over it. OutputError (one line) if the disk says no; the
    hidden file is removed."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as exc:
        raise OutputError(write_error(path, exc)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise OutputError(write_error(path, exc)) from None
