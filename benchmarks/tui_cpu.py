#!/usr/bin/env python3
"""CPU used by the gpuscope UI while it monitors, and its time to first frame.

Starts ``gpuscope`` in a terminal of the given size (tmux, or a pty where tmux is absent), times
the first frame (the header drawn) and the first full screen (device figures drawn), lets it
settle, then measures the CPU time of the whole process tree (sampler thread included) over
``--seconds``. With ``--peer nvitop`` (or any command) it measures that tool the same way, in the
same run, for a side-by-side figure. ``--capture-dir`` saves gpuscope's screens as text.

With ``--steady-after S`` it measures again once S seconds have passed since the start, and
prints both figures side by side: people leave a monitor open for hours, and what it costs once
its chart window and history are full is what they pay (the history holds the longest chart
window, 10 minutes, so from 660 s on both are full at any interval).

Targets (issue 4): <= 3 % of one core for 4 devices at 2 Hz with their plots; first frame
<= 1.5 s. Issue 12: at steady state (demo, 160x48, 0.5 s) <= 2 % of one core, and no more than
nvitop at the same interval on the same machine. Issue 24: at steady state on the same (stand-in)
GPUs in the same run, no more than nvitop; first frame under 0.5 s.

    python benchmarks/tui_cpu.py --demo                 # 3 simulated GPUs + the real CPU
    python benchmarks/tui_cpu.py --peer "nvitop --monitor full --interval 0.5"   # on a GPU host
    python benchmarks/tui_cpu.py --demo --seconds 60 --steady-after 660   # first minute, steady
    python benchmarks/tui_cpu.py --keys "[[" --seconds 40 --steady-after 90 --together \
        --peer "nvitop --monitor full --interval 0.5"    # 1-min charts, full after 1 min, vs nvitop

``--standin`` gives both tools the same two stand-in NVIDIA GPUs on a machine without one: the
real nvidia-ml-py answered by the test fake (``tests/fakes/nvml_standin``, first on PYTHONPATH),
imported before gpuscope starts (gpuscope imports a binding only where its library loads or it
is imported already). The issue 24 comparison, one command (nvitop in a venv of its own)::

    python benchmarks/tui_cpu.py --standin --keys "[[" --seconds 40 --steady-after 90 --together \
        --peer "/path/to/venv/bin/python -m nvitop --monitor full --interval 0.5"
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
from terminal import Terminal, open_terminal

STANDIN = Path(__file__).resolve().parents[1] / "tests" / "fakes" / "nvml_standin"


def wait_for(terminal: Terminal, text: str, timeout_s: float = 30.0) -> float:
    """When ``text`` is on screen; "" : when anything is (a peer's first frame, whatever it
    draws; it once returned at once, so a peer's first frame read as the terminal's start)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        screen = terminal.screen()
        if (text in screen) if text else screen.strip():
            return time.monotonic()
        time.sleep(0.02)
    raise TimeoutError(f"{text!r} never appeared on screen")


def tree_cpu_s(pid: int) -> float:
    total = 0.0
    for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def cpu_percent(pid: int, seconds: float) -> tuple[float, float]:
    """The process tree's CPU over the next ``seconds``, in % of one core, and the wall time."""
    cpu0, wall0 = tree_cpu_s(pid), time.monotonic()
    time.sleep(seconds)
    cpu1, wall1 = tree_cpu_s(pid), time.monotonic()
    return 100 * (cpu1 - cpu0) / (wall1 - wall0), wall1 - wall0


def measure(
    name: str,
    command: list[str],
    size: str,
    ready_text: tuple[str, str],
    seconds: float,
    terminal_kind: str,
    capture_dir: Path | None = None,
    steady_after_s: float | None = None,
    keys: str = "",
) -> dict[str, float | str]:
    columns, rows = (int(part) for part in size.split("x"))
    started = time.monotonic()
    terminal = open_terminal(command, columns, rows, terminal_kind)
    try:
        first = wait_for(terminal, ready_text[0]) - started
        full = wait_for(terminal, ready_text[1]) - started
        if keys:  # e.g. "[[": the 1-minute chart window, full after a minute
            terminal.send(keys)
        time.sleep(3.0)  # settle: imports done, first plots drawn
        percent, wall = cpu_percent(terminal.pid, seconds)
        print(
            f"{name:<10} first frame {first:.2f} s, full screen {full:.2f} s, "
            f"CPU {percent:.2f} % of one core over {wall:.0f} s ({size})", flush=True
        )  # fmt: skip
        steady: dict[str, float] = {}
        if steady_after_s is not None:
            time.sleep(max(0.0, started + steady_after_s - time.monotonic()))
            steady_percent, steady_wall = cpu_percent(terminal.pid, seconds)
            steady = {"steady_cpu_pct_one_core": steady_percent, "steady_after_s": steady_after_s}
            print(
                f"{name:<10} CPU first {wall:.0f} s: {percent:.2f} %; steady, {steady_wall:.0f} s "
                f"from {steady_after_s:.0f} s on: {steady_percent:.2f} % of one core ({size})"
            )
        if capture_dir is not None:
            capture_dir.mkdir(parents=True, exist_ok=True)
            (capture_dir / f"{name}-overview.txt").write_text(terminal.screen() + "\n")
            terminal.send("2")  # the processes screen
            time.sleep(1.5)
            (capture_dir / f"{name}-processes.txt").write_text(terminal.screen() + "\n")
        return {
            "tool": name,
            "command": shlex.join(command),
            "size": size,
            "first_frame_s": first,
            "full_screen_s": full,
            "cpu_pct_one_core": percent,
            "seconds": wall,
            **steady,
        }
    finally:
        terminal.close()


def gpuscope_command(standin: bool = False) -> list[str]:
    """The installed binary beside this Python, else the module (a source tree on PYTHONPATH);
    with the stand-in GPUs, the module with the stand-in ``pynvml`` imported first."""
    if standin:
        run = "import pynvml, runpy; runpy.run_module('gpuscope', run_name='__main__')"
        return [sys.executable, "-c", run]
    binary = Path(sys.executable).parent / "gpuscope"
    return [str(binary)] if binary.exists() else [sys.executable, "-m", "gpuscope"]


def use_standin() -> None:
    """Every program started from here finds the stand-in ``pynvml`` first (and, for gpuscope
    run as a module, this source tree)."""
    path = [str(STANDIN), str(STANDIN.parents[2]), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(part for part in path if part)


def measure_peer(peer: list[str], args: argparse.Namespace) -> dict[str, float | str]:
    name = peer[2] if peer[:2] == [sys.executable, "-m"] or peer[1:2] == ["-m"] else peer[0]
    try:
        return measure(
            Path(name).name,
            peer,
            args.size,
            ("", ""),
            args.seconds,
            args.terminal,
            steady_after_s=args.steady_after,
        )
    except Exception as exc:  # the peer's failure must not cost gpuscope's figure
        print(f"{Path(name).name}: not measured ({type(exc).__name__}: {exc})")
        return {"tool": Path(name).name, "error": f"{type(exc).__name__}: {exc}"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="simulated GPUs beside the real CPU")
    parser.add_argument(
        "--standin", action="store_true",
        help="gpuscope and the peer see the same two stand-in NVIDIA GPUs (no GPU needed)",
    )  # fmt: skip
    parser.add_argument("--interval", default="0.5", help="gpuscope's sampling interval, s")
    parser.add_argument("--size", default="160x48")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--peer", help='another monitor to measure alike, e.g. "nvitop -m full"')
    parser.add_argument("--terminal", choices=("auto", "tmux", "pty"), default="auto")
    parser.add_argument("--capture-dir", type=Path, help="save gpuscope's screens here as text")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keys", default="", help='keys sent to gpuscope once drawn, e.g. "[["')
    parser.add_argument(
        "--together",
        action="store_true",
        help="measure the peer at the same time as gpuscope (same load, half the wall time)",
    )
    parser.add_argument(
        "--steady-after", type=float, metavar="S",
        help="measure again from S seconds after the start (660: chart window and history full)",
    )  # fmt: skip
    args = parser.parse_args()
    # Killed by a caller's timeout: still close the terminals (a tmux session outlives us).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    if args.terminal == "tmux" and shutil.which("tmux") is None:
        parser.error("tmux is not installed")
    if args.standin:
        use_standin()
    demo = ["--demo"] if args.demo else []
    command = [*gpuscope_command(args.standin), "--interval", args.interval, *demo]
    runs = [
        lambda: measure(
            "gpuscope", command, args.size, ("gpuscope", "MEM"), args.seconds, args.terminal,
            args.capture_dir, args.steady_after, args.keys,
        )
    ]  # fmt: skip
    if args.peer:
        runs.append(lambda: measure_peer(shlex.split(args.peer), args))
    if args.together:
        with ThreadPoolExecutor(len(runs)) as pool:
            results = list(pool.map(lambda run: run(), runs))
    else:
        results = [run() for run in runs]
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
