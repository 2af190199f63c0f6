"""A terminal a benchmark can start a full-screen program in, read as text and type into.

tmux where it is installed (the captures match what users see in tmux); otherwise a pseudo-terminal
rendered by pyte, for machines that bring no tmux (the lent GPU machines). Both report the pid of
the program, so its CPU time can be measured apart from the terminal's.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import shutil
import struct
import subprocess
import termios
import threading
from typing import Protocol


class Terminal(Protocol):
    pid: int

    def screen(self) -> str: ...

    def send(self, keys: str) -> None: ...

    def close(self) -> None: ...


def open_terminal(command: list[str], columns: int, rows: int, kind: str = "auto") -> Terminal:
    """``kind``: tmux, pty, or auto (tmux when on PATH)."""
    if kind == "tmux" or (kind == "auto" and shutil.which("tmux")):
        return TmuxTerminal(command, columns, rows)
    return PtyTerminal(command, columns, rows)


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def _passed_environment() -> list[str]:
    """A tmux server already running would start the program with its own environment: pass
    what decides which Python packages it finds (carried wheels, a source tree)."""
    passed = []
    for name in ("PYTHONPATH", "PATH"):
        if name in os.environ:
            passed += ["-e", f"{name}={os.environ[name]}"]
    return passed


class TmuxTerminal:
    def __init__(self, command: list[str], columns: int, rows: int) -> None:
        self.session = f"bench-{os.getpid()}-{abs(hash(tuple(command))) % 10_000}"
        _tmux(
            "new-session", "-d", "-s", self.session, "-x", str(columns), "-y", str(rows),
            "-e", "TERM=xterm-256color", *_passed_environment(),
            "exec " + shlex.join(command),
        )  # fmt: skip
        _tmux("resize-window", "-t", self.session, "-x", str(columns), "-y", str(rows))
        self.pid = int(_tmux("display-message", "-p", "-t", self.session, "#{pane_pid}").strip())

    def screen(self) -> str:
        return _tmux("capture-pane", "-p", "-t", self.session)

    def send(self, keys: str) -> None:
        _tmux("send-keys", "-t", self.session, keys)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.session], capture_output=True)


class PtyTerminal:
    """The program on a pty of the given size; a thread feeds its output to a pyte screen."""

    def __init__(self, command: list[str], columns: int, rows: int) -> None:
        import pyte  # only here: tmux needs no terminal emulator of ours

        self._screen = pyte.Screen(columns, rows)
        self._stream = pyte.ByteStream(self._screen)
        self._lock = threading.Lock()
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self._master = master
        self._process = subprocess.Popen(
            command,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={
                **os.environ,
                "TERM": "xterm-256color",
                "COLUMNS": str(columns),
                "LINES": str(rows),
            },
            preexec_fn=_controlling_tty,
            close_fds=True,
        )
        os.close(slave)
        self.pid = self._process.pid
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # the program exited: EIO on Linux
                return
            if not chunk:
                return
            with self._lock:
                self._stream.feed(chunk)

    def screen(self) -> str:
        with self._lock:
            return "\n".join(line.rstrip() for line in self._screen.display)

    def send(self, keys: str) -> None:
        named = {"Escape": "\x1b", "Enter": "\r", "Tab": "\t"}
        os.write(self._master, named.get(keys, keys).encode())

    def wait(self, timeout_s: float) -> int | None:
        """The program's exit code once it has exited within ``timeout_s``, else None."""
        try:
            return self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        with contextlib.suppress(OSError):
            os.close(self._master)


def _controlling_tty() -> None:
    """In the child: a session of its own, with the pty (its stdin) as controlling terminal."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
