#!/usr/bin/env python3
"""Drive the real ``gpuscope`` binary in tmux the way a user would: keys in, the pane captured.

Each step sends keys, waits until the pane shows what that key should show, and saves the pane
as text (``--out``). Exit status 0 when every step saw what it expected; 1 with the step and
the last capture otherwise. Needs tmux; CI runs it through tests/test_tmux_smoke.py.

    python scripts/tmux_smoke.py --demo --out docs/captures --size 160x48
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# (name, keys to send, text the pane must then show)
STEPS: list[tuple[str, list[str], str]] = [
    ("overview", [], "MEM"),
    ("help", ["?"], "gpuscope keys"),
    ("processes", ["Escape", "2"], "GPU mem"),
    ("launcher", ["w"], "Launch a workload"),
    ("workloads", ["Escape", "3"], "launch"),
    ("compare", ["4"], "No runs yet"),
    ("recording", ["1", "r"], "REC"),
    ("recording-stopped", ["r"], "saved"),
]


# --launch: the CNN, tiny, on the CPU (and, with --demo, on simulated cuda:0), 15 s measured.
# Keys walk the launcher's fields in focus order: workload, mode, precision, batch, image size,
# channels_last, sweep (left at "no sweep"), devices, measure s.
LAUNCH_KEYS = ["w", "Tab", "Tab", "Tab", "=8", "Tab", "=64", "Tab", "Tab", "Tab"]
LAUNCH_STEPS: list[tuple[str, list[str], str]] = [
    ("workloads-running", [], "measuring 6/15 s"),
    ("workloads-done", [], "✓ cnn on cpu"),
    ("compare-done", ["4"], "log scale"),
]


def tmux(*args: str) -> str:
    done = subprocess.run(["tmux", *args], capture_output=True, text=True, check=True)
    return done.stdout


def capture(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def wait_for(session: str, text: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    screen = ""
    while time.monotonic() < deadline:
        screen = capture(session)
        if text in screen:
            return screen
        time.sleep(0.1)
    raise TimeoutError(screen)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=str(Path(sys.executable).parent / "gpuscope"))
    parser.add_argument("--demo", action="store_true", help="simulated GPUs beside the real CPU")
    parser.add_argument("--size", default="160x48", help="terminal columns x rows")
    parser.add_argument("--out", type=Path, help="folder for one text capture per step")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per step")
    parser.add_argument("--launch", action="store_true", help="also run the CNN (tiny) live")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux_smoke: tmux is not installed", file=sys.stderr)
        return 2
    columns, rows = args.size.split("x")
    session = f"gpuscope-smoke-{os.getpid()}"
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    record_dir = Path(tempfile.mkdtemp(prefix="gpuscope-smoke-"))  # the "r" step's CSV
    command = [args.binary, *(["--demo"] if args.demo else []), "--record-dir", str(record_dir)]
    tmux(
        "new-session", "-d", "-s", session, "-x", columns, "-y", rows,
        "-e", "TERM=xterm-256color", shlex.join(command) + "; echo gpuscope-exited-$?; sleep 60",
    )  # fmt: skip
    tmux("resize-window", "-t", session, "-x", columns, "-y", rows)  # a running server may differ
    started = time.monotonic()
    try:
        for name, keys, expected in STEPS:
            for key in keys:
                tmux("send-keys", "-t", session, key)
                time.sleep(0.3)
            try:
                screen = wait_for(session, expected, args.timeout)
            except TimeoutError as exc:
                print(f"tmux_smoke: step {name!r}: {expected!r} never appeared; pane:\n{exc}")
                return 1
            if name == "overview":
                print(f"first full screen after {time.monotonic() - started:.2f} s")
            if args.out:
                (args.out / f"{name}.txt").write_text(screen.rstrip() + "\n")
        if args.launch:
            status = launch(session, args.demo, args.out, args.timeout)
            if status:
                return status
        tmux("send-keys", "-t", session, "q")
        try:
            screen = wait_for(session, "gpuscope-exited-0", args.timeout)
        except TimeoutError as exc:
            print(f"tmux_smoke: q did not quit with status 0; pane:\n{exc}")
            return 1
        print(f"tmux_smoke: {len(STEPS)} steps and quit OK")
        return 0
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        shutil.rmtree(record_dir, ignore_errors=True)


def send(session: str, keys: list[str]) -> None:
    """Keys by tmux name; ``=text`` types text literally."""
    for key in keys:
        if key.startswith("="):
            tmux("send-keys", "-t", session, "-l", key[1:])
        else:
            tmux("send-keys", "-t", session, key)
        time.sleep(0.3)


def launch(session: str, demo: bool, out: Path | None, timeout_s: float) -> int:
    send(session, ["Escape", "1"])
    send(session, LAUNCH_KEYS + (["space"] if demo else []) + ["Tab", "=15", "C-s"])
    for name, keys, expected in LAUNCH_STEPS:
        send(session, keys)
        try:
            screen = wait_for(session, expected, max(timeout_s, 120.0))
        except TimeoutError as exc:
            print(f"tmux_smoke: step {name!r}: {expected!r} never appeared; pane:\n{exc}")
            return 1
        if out:
            (out / f"{name}.txt").write_text(screen.rstrip() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
