"""A command's stdout, the same way in every command: closed (``>&-``), or failing while the
command prints (a pipe whose reader left, a full disk under a redirect).

- ``check_stdout``: for a command whose answer goes to stdout (``bench``, ``record`` without
  ``-o``): a closed stdout is one line, exit 1, before anything runs.
- ``print_or_fail``: print, and say in one line if an open stdout did not take it all. A closed
  stdout takes nothing and is no failure here: a command that needs it asked ``check_stdout``
  first; one that saves its answer to a file (``suite``) prints a copy where there is a reader.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable

from gpuscope.errors import CommandFailed


def open_closed_streams() -> None:
    """stdin and stderr that gpuscope was started without (``<&-``, ``2>&-``) become /dev/null,
    so code that asks them anything (``isatty``, a progress line, a warning) runs on instead of
    failing on None; the user chose not to read them. stdout is left as it is: a closed stdout
    is a command's own question (``check_stdout``)."""
    for fd, name, mode in ((0, "stdin", "r"), (2, "stderr", "w")):
        if getattr(sys, name) is not None:
            continue
        null = os.open(os.devnull, os.O_RDWR)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        setattr(sys, name, open(fd, mode, closefd=False, errors="backslashreplace"))  # noqa: SIM115


def stdout_closed() -> bool:
    """Whether gpuscope was started with its stdout closed. Python makes ``sys.stdout`` None
    then; a stream of Python's own (a test's capture) has no descriptor and counts as open."""
    stream = sys.stdout
    try:
        if stream is None:
            return True
        os.fstat(stream.fileno())
    except io.UnsupportedOperation:
        return False
    except (OSError, ValueError):
        return True
    return False


def check_stdout(what: str = "the results", remedy: str = "send it to a file or a pipe") -> None:
    """CommandFailed if stdout is closed: ``what`` the command writes there would have nowhere
    to go, so nothing is run. ``remedy`` ends the line: what the user can do instead."""
    if stdout_closed():
        raise CommandFailed(f"stdout is closed: {what} would have nowhere to go ({remedy})")


def print_or_fail(show: Callable[[], None], command: str) -> int:
    """0 once ``show`` has printed and stdout took it all (or stdout is closed: nothing to
    take it); else 1, and why on stderr as ``gpuscope <command>: cannot print the results``."""
    if stdout_closed():
        return 0
    try:
        show()
        sys.stdout.flush()
    except OSError as exc:
        print(f"gpuscope {command}: cannot print the results: {exc.strerror or exc}",
              file=sys.stderr)  # fmt: skip
        with contextlib.suppress(OSError, ValueError):  # no second complaint as Python exits
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, sys.stdout.fileno())
            os.close(null)
        return 1
    return 0
