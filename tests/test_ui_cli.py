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
        (["--interval", "0.01"], "gpuscope: interval must be between 0.05 s and 3600 s, got 0.01"),
        (
            ["--record-dir", "/nonexistent"],
            "gpuscope: --record-dir /nonexistent is not a directory",
        ),
        (["--plugin", "nope.py"], "gpuscope: plugin file nope.py not found"),
        (
            [],
            "gpuscope: the UI needs a terminal on stdout and stderr "
            "(for headless sampling use gpuscope record)",
        ),
        (  # the command would have recorded the real devices only, saying nothing
            ["--demo", "record", "-d", "1"],
            "gpuscope: --demo is an option of the terminal UI (gpuscope without a command), "
            "not of record (see --help)",
        ),
        (
            ["--no-gpm", "list"],
            "gpuscope: --no-gpm is an option of the terminal UI (gpuscope without a command), "
            "not of list (see --help)",
        ),
        (  # its default value, as typed: still not the command's
            ["--interval=0.5", "list"],
            "gpuscope: --interval=0.5 is an option of the terminal UI (gpuscope without a "
            "command), not of list (see --help)",
        ),
    ],
)
def test_bad_ui_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = gpuscope(*args)
    assert done.returncode == 2
    assert done.stderr == message + "\n"
    assert done.stdout == ""


def test_ui_serve_on_a_port_in_use_is_one_line_and_exit_1() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = gpuscope("--serve", f"127.0.0.1:{port}")
    assert done.returncode == 1
    assert done.stderr == (
        f"gpuscope: cannot serve on 127.0.0.1:{port}: the port is in use "
        "(another gpuscope serve?)\n"
    )


@pytest.mark.parametrize("args", [["--serve", "nope"], ["--remote", "ftp://hostA"]])
def test_bad_serve_or_remote_is_exit_2(args: list[str]) -> None:
    done = gpuscope(*args)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"gpuscope: {args[0]}")


def test_no_gpm_reaches_the_ui_and_gpm_is_on_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    import gpuscope.commands.ui as ui
    from gpuscope.cli import main

    seen: list[bool] = []
    monkeypatch.setattr(ui, "run_ui", lambda options: seen.append(options.gpm) or 0)
    assert main([]) == 0 and main(["--no-gpm"]) == 0
    assert seen == [True, False]
