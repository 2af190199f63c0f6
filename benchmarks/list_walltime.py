"""Wall time of ``gpuscope list`` as a user sees it (a fresh process each time).

Target (issue 2): <= 300 ms on the CI machine (2 cores). Peers on the H100 host: ``nvidia-smi``
query 24 ms, ``nvitop -1`` 446 ms. Peers are timed too when they are on PATH.

    python benchmarks/list_walltime.py [--runs 10]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

PEERS = {
    "nvidia-smi --query-gpu": ["nvidia-smi", "--query-gpu=name,power.draw", "--format=csv"],
    "nvitop -1": ["nvitop", "-1"],
}


def wall_ms(command: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False)
        times.append((time.perf_counter() - start) * 1e3)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    ours = wall_ms([sys.executable, "-m", "gpuscope", "list"], args.runs)
    median = statistics.median(ours)
    verdict = "meets" if median <= 300 else "MISSES"
    print(
        f"gpuscope list: median {median:.0f} ms, min {min(ours):.0f} ms over {args.runs} runs "
        f"(target <= 300 ms: {verdict} it)"
    )
    for name, command in PEERS.items():
        if shutil.which(command[0]) is None:
            print(f"{name}: not installed here")
            continue
        times = wall_ms(command, args.runs)
        print(f"{name}: median {statistics.median(times):.0f} ms, min {min(times):.0f} ms")


if __name__ == "__main__":
    main()
