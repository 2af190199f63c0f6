"""Bare ``gpuscope`` (the UI) at the command line: bad input is one line and exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest


def gpuscope(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpuscope", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interval", "0.01"], "gpuscope: interval must be at least 0.05 s, got 0.01"),
        (
            ["--record-dir", "/nonexistent"],
            "gpuscope: --record-dir /nonexistent is not a directory",
        ),
        (["--plugin", "nope.py"], "gpuscope: plugin file nope.py not found"),
        ([], "gpuscope: the UI needs a terminal (for headless sampling use gpuscope record)"),
    ],
)
def test_bad_ui_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = gpuscope(*args)
    assert done.returncode == 2
    assert done.stderr == message + "\n"
    assert done.stdout == ""
