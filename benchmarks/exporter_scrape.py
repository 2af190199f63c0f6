#!/usr/bin/env python3
"""``gpuscope serve`` under scraping: /metrics latency with 8 devices, and the exporter's CPU use
at one scrape per second.

Starts a real ``gpuscope serve`` process on eight fake NVIDIA GPUs (the test fake of pynvml, so
this measures gpuscope, not a driver) plus the real CPU, sampling every second. Then:
1. scrapes ``--scrapes`` times back to back and prints p50/p99 latency (HTTP on loopback included);
2. scrapes once a second for ``--seconds`` and prints the exporter's CPU time over wall time.

Targets (issue 5): p99 <= 20 ms; <= 1 % of one core at a 1 s scrape interval.

    python benchmarks/exporter_scrape.py [--scrapes 500] [--seconds 30]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=5) as response:
        response.read()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--devices", type=int, default=8)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    env = {**os.environ, "GPUSCOPE_FAKE_GPUS": str(args.devices)}
    command = [sys.executable, "-m", "tests.fakes.serve_with_fakes", "serve",
               "--listen", f"127.0.0.1:{port}", "--interval", "1", "--devices", "gpu"]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                scrape(url)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        time.sleep(1.5)  # a sample of every device is in
        with urllib.request.urlopen(url) as response:
            body = response.read()
        series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        latencies = sorted(scrape(url) for _ in range(args.scrapes))
        p50 = statistics.median(latencies) * 1e3
        p99 = latencies[int(0.99 * (len(latencies) - 1))] * 1e3
        print(
            f"/metrics with {args.devices} devices ({series} series, {len(body)} bytes): "
            f"p50 {p50:.2f} ms, p99 {p99:.2f} ms over {args.scrapes} scrapes (target p99 <= 20 ms)"
        )
        process = psutil.Process(server.pid)
        cpu0, wall0 = sum(process.cpu_times()[:2]), time.monotonic()
        next_scrape = wall0
        while time.monotonic() - wall0 < args.seconds:
            scrape(url)
            next_scrape += 1.0
            time.sleep(max(0.0, next_scrape - time.monotonic()))
        cpu1, wall1 = sum(process.cpu_times()[:2]), time.monotonic()
        share = 100 * (cpu1 - cpu0) / (wall1 - wall0)
        print(
            f"exporter CPU at 1 scrape/s, sampling every 1 s: {share:.2f} % of one core over "
            f"{wall1 - wall0:.0f} s (target <= 1 %)"
        )
    finally:
        server.terminate()
        server.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
