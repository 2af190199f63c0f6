"""benchmarks/terminal.py's pty terminal: what the UI benchmark and the GPU check use where a
machine has no tmux (the lent GPU machines may not)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
pytest.importorskip("pyte")

from terminal import PtyTerminal

PROGRAM = """
import os, sys
columns, rows = os.get_terminal_size()
print(f"size {columns}x{rows}", flush=True)
line = sys.stdin.readline()
print(f"got {line.strip()}", flush=True)
input()
"""


def wait_for(terminal: PtyTerminal, text: str, timeout_s: float = 20.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        screen = terminal.screen()
        if text in screen:
            return screen
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared; screen:\n{terminal.screen()}")


def test_program_sees_the_size_and_the_keys_and_its_screen_is_read() -> None:
    terminal = PtyTerminal([sys.executable, "-c", PROGRAM], 100, 30)
    try:
        wait_for(terminal, "size 100x30")
        terminal.send("hello")
        terminal.send("Enter")
        screen = wait_for(terminal, "got hello")
        assert len(screen.split("\n")) == 30  # every row, blank ones too
    finally:
        terminal.close()
    assert terminal.wait(0) is not None  # closing ends the program
