#!/usr/bin/env python3
"""CPU used by the gpuscope UI while it monitors, and its time to first frame.

Starts ``gpuscope`` in a tmux pane of the given size, times the first frame (the header drawn)
and the first full screen (device figures drawn), lets it settle, then measures the CPU time
of the whole process tree (sampler thread included) over ``--seconds``. With ``--peer nvitop``
(or any command) it measures that tool the same way, in the same run, for a side-by-side figure.

Targets (issue 4): <= 3 % of one core for 4 devices at 2 Hz with their plots; first frame
<= 1.5 s.

    python benchmarks/tui_cpu.py --demo                 # 3 simulated GPUs + the real CPU
    python benchmarks/tui_cpu.py --peer "nvitop --monitor full --interval 0.5"   # on a GPU host
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

import psutil


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def wait_for(session: str, text: str, timeout_s: float = 30.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if text in tmux("capture-pane", "-p", "-t", session):
            return time.monotonic()
        time.sleep(0.02)
    raise TimeoutError(f"{text!r} never appeared in {session}")


def tree_cpu_s(pid: int) -> float:
    total = 0.0
    for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def measure(name: str, command: list[str], size: str, ready_text: str, seconds: float) -> None:
    columns, rows = size.split("x")
    session = f"bench-{name}"
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    started = time.monotonic()
    tmux(
        "new-session", "-d", "-s", session, "-x", columns, "-y", rows,
        "-e", "TERM=xterm-256color", "exec " + shlex.join(command),
    )  # fmt: skip
    tmux("resize-window", "-t", session, "-x", columns, "-y", rows)
    try:
        pid = int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip())
        first = wait_for(session, ready_text[0]) - started
        full = wait_for(session, ready_text[1]) - started
        time.sleep(3.0)  # settle: imports done, first plots drawn
        cpu0, wall0 = tree_cpu_s(pid), time.monotonic()
        time.sleep(seconds)
        cpu1, wall1 = tree_cpu_s(pid), time.monotonic()
        percent = 100 * (cpu1 - cpu0) / (wall1 - wall0)
        print(
            f"{name:<10} first frame {first:.2f} s, full screen {full:.2f} s, "
            f"CPU {percent:.2f} % of one core over {wall1 - wall0:.0f} s ({size})"
        )
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="simulated GPUs beside the real CPU")
    parser.add_argument("--interval", default="0.5", help="gpuscope's sampling interval, s")
    parser.add_argument("--size", default="160x48")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--peer", help='another monitor to measure alike, e.g. "nvitop -m full"')
    args = parser.parse_args()
    binary = str(Path(sys.executable).parent / "gpuscope")
    command = [binary, "--interval", args.interval, *(["--demo"] if args.demo else [])]
    measure("gpuscope", command, args.size, ("gpuscope", "MEM"), args.seconds)
    if args.peer:
        peer = shlex.split(args.peer)
        measure(Path(peer[0]).name, peer, args.size, ("", ""), args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
