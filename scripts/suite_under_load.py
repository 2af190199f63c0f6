#!/usr/bin/env python3
"""Run the test suite several times in a row while a CPU hog keeps every core busy: the proof
that the suite is not flaky on a loaded machine (issue 23). One busy-loop process per core runs
for the whole time and is stopped whatever happens (a failure, Ctrl-C); each run's result and
wall time are printed, and its whole output kept in a log file.

    .venv/bin/python scripts/suite_under_load.py                 # README's command, 3 times
    .venv/bin/python scripts/suite_under_load.py --runs 1 -- -n 0 tests/test_layers.py

Exit status 0 when every run passed; 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README_ARGS = ["-n", "3"]  # README's test command: python -m pytest -n 3
HOG = "while True: pass"


def start_hogs(count: int) -> list[subprocess.Popen[bytes]]:
    """One busy loop per core, each its own process (one Python thread holds one core)."""
    return [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(count)]


def stop_hogs(hogs: list[subprocess.Popen[bytes]]) -> None:
    for hog in hogs:
        if hog.poll() is None:
            hog.kill()
    for hog in hogs:
        hog.wait()


def interrupt(signum: int, frame: object) -> None:
    """A SIGTERM (a cancelled CI job) ends the runs as Ctrl-C does: the hogs are stopped."""
    raise KeyboardInterrupt


def summary_line(log: Path) -> str:
    """pytest's last line ("N passed, M failed in S s"), or the last line it printed."""
    lines = [line.strip("= \n") for line in log.read_text(errors="replace").splitlines()]
    return next((line for line in reversed(lines) if line), "(no output)")


def run_once(number: int, pytest_args: list[str], logs: Path) -> tuple[int, float]:
    log = logs / f"run{number}.log"
    started = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", *pytest_args], cwd=ROOT, stdout=out,
            stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    took = time.monotonic() - started
    verdict = "passed" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
    print(f"run {number}: {verdict} in {took:.1f} s: {summary_line(log)}  [{log}]", flush=True)
    return done.returncode, took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="how many runs in a row (3)")
    parser.add_argument(
        "--hogs", type=int, default=os.cpu_count() or 2, help="busy loops (one per core)"
    )
    parser.add_argument(
        "pytest_args", nargs="*", help="after --: pytest's arguments (README's: -n 3)"
    )
    options = parser.parse_args(argv)
    pytest_args = options.pytest_args or README_ARGS
    logs = Path(tempfile.mkdtemp(prefix="suite-under-load-"))
    print(f"{options.hogs} busy loops; pytest {' '.join(pytest_args)}; {options.runs} runs; "
          f"logs in {logs}", flush=True)  # fmt: skip
    hogs = start_hogs(options.hogs)
    signal.signal(signal.SIGTERM, interrupt)
    results: list[tuple[int, float]] = []
    try:
        for number in range(1, options.runs + 1):
            results.append(run_once(number, pytest_args, logs))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
    finally:
        stop_hogs(hogs)
    passed = sum(code == 0 for code, _ in results)
    walls = ", ".join(f"{took:.1f}" for _, took in results)
    print(f"{passed} of {len(results)} runs passed under {options.hogs} busy loops; "
          f"wall times {walls} s")  # fmt: skip
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
