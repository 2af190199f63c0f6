#!/usr/bin/env python3
"""``gpuscope serve`` under scraping: /metrics latency with 8 devices, the exporter's CPU use
at one scrape per second, and scrapes through a flood of idle connections.

Starts a real ``gpuscope serve`` process on eight fake NVIDIA GPUs (the test fake of pynvml, so
this measures gpuscope, not a driver) plus the real CPU, sampling every second, with its soft
file-descriptor limit at ``--server-nofile`` (1024, a common default). Then:
1. scrapes ``--scrapes`` times back to back and prints p50/p99 latency (HTTP on loopback included);
2. scrapes once a second for ``--seconds`` and prints the exporter's CPU time over wall time;
3. holds ``--idle`` connections open (half of them idle, half with a request head half sent;
   each one the server closes is opened again at once, as an attacker would) while
   ``--scrapers`` threads each scrape every ``--scrape-every`` seconds for ``--load-seconds``;
   prints failed scrapes, p50/p99/max latency, and the server's threads and descriptors.

Targets: (issue 5) p99 <= 20 ms; <= 1 % of one core at a 1 s scrape interval; (issue 22) under
50 scrapers for 30 s plus 1,000 idle connections, 0 failed scrapes and p99 < 100 ms.

    python benchmarks/exporter_scrape.py [--scrapes 500] [--seconds 30] [--phases latency,cpu,idle]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
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


def percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[int(share * (len(sorted_values) - 1))]


def hold_idle(port: int, count: int, redial: bool, stop: Event, report: Connection) -> None:
    """Keeps ``count`` connections open: even ones send nothing, odd ones half a request head.
    With ``redial``, one the server closes is opened again at once (a flood). Runs in its own
    process, so its work does not hold the scrapers' GIL. Sends its counts when told to stop."""
    selector = selectors.DefaultSelector()
    counts = {"opened": 0, "closed_by_server": 0, "connect_failures": 0}

    def open_one(number: int) -> None:
        sock = socket.socket()
        sock.settimeout(2)
        try:
            sock.connect(("127.0.0.1", port))
            if number % 2:
                sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: x")
        except OSError:
            counts["connect_failures"] += 1
            sock.close()
            return
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, number)
        counts["opened"] += 1

    for number in range(count):
        open_one(number)
    report.send(dict(counts))  # all open
    while not stop.is_set():
        for key, _ in selector.select(0.2):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:  # closed by the server (shed, or its head timeout)
                selector.unregister(sock)
                sock.close()
                counts["closed_by_server"] += 1
                if redial:
                    open_one(key.data)
    report.send(counts)


def idle_load(args: argparse.Namespace, url: str, port: int, server_pid: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.idle + args.scrapers + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:  # this side holds every idle socket
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    stop = multiprocessing.Event()
    report, child_end = multiprocessing.Pipe()
    holder = multiprocessing.Process(
        target=hold_idle, args=(port, args.idle, args.redial, stop, child_end), daemon=True
    )
    holder.start()
    report.recv()  # every idle connection is open
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    end = time.monotonic() + args.load_seconds

    def scraper(offset_s: float) -> None:
        next_s = time.monotonic() + offset_s
        while next_s < end:
            time.sleep(max(0.0, next_s - time.monotonic()))
            try:
                took = scrape(url)
                with lock:
                    latencies.append(took)
            except Exception as exc:
                with lock:
                    failures.append(f"{type(exc).__name__}: {exc}")
            next_s += args.scrape_every

    process = psutil.Process(server_pid)
    threads = [
        threading.Thread(target=scraper, args=(i * args.scrape_every / args.scrapers,))
        for i in range(args.scrapers)
    ]
    for thread in threads:
        thread.start()
    most_threads = most_fds = 0
    while any(t.is_alive() for t in threads):
        most_threads = max(most_threads, process.num_threads())
        most_fds = max(most_fds, process.num_fds())
        time.sleep(0.5)
    stop.set()
    counts = report.recv()
    holder.join(timeout=10)
    latencies.sort()
    print(
        f"{args.scrapers} scrapers, each every {args.scrape_every:g} s "
        f"for {args.load_seconds:g} s, "
        f"with {args.idle} idle connections {'redialled' if args.redial else 'held'} "
        f"(half with half a request head; server fd limit soft {args.server_nofile}, hard "
        f"{args.server_hard_nofile or 'unchanged'}): "
        f"{len(latencies)} scrapes ok, {len(failures)} failed; "
        f"p50 {statistics.median(latencies) * 1e3:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1e3:.1f} ms, max {latencies[-1] * 1e3:.1f} ms "
        "(target: 0 failed, p99 < 100 ms)"
    )
    print(
        f"server: at most {most_threads} threads and {most_fds} fds during the load (its fd "
        f"limit {process.rlimit(psutil.RLIMIT_NOFILE)}); idle "
        f"connections opened {counts['opened']}, closed by the server "
        f"{counts['closed_by_server']}, connect failures {counts['connect_failures']}"
    )
    for failure in sorted(set(failures))[:5]:
        print(f"  failed: {failure}")


def start_server(args: argparse.Namespace, port: int) -> subprocess.Popen[bytes]:
    def limit_descriptors() -> None:
        hard = args.server_hard_nofile or resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.server_nofile, hard))

    env = {**os.environ, "GPUSCOPE_FAKE_GPUS": str(args.devices)}
    command = [sys.executable, "-m", "tests.fakes.serve_with_fakes", "serve",
               "--listen", f"127.0.0.1:{port}", "--interval", "1", "--devices", "gpu"]  # fmt: skip
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL, preexec_fn=limit_descriptors
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--phases", default="latency,cpu,idle")
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--scrapers", type=int, default=50)
    parser.add_argument("--scrape-every", type=float, default=0.5)
    parser.add_argument("--load-seconds", type=float, default=30.0)
    parser.add_argument("--server-nofile", type=int, default=1024)
    parser.add_argument("--server-hard-nofile", type=int, help="also lower its hard limit")
    parser.add_argument("--redial", action="store_true", help="reopen each idle one closed")
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    server = start_server(args, port)
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
        if "latency" in phases:
            latencies = sorted(scrape(url) for _ in range(args.scrapes))
            p50 = statistics.median(latencies) * 1e3
            p99 = percentile(latencies, 0.99) * 1e3
            print(
                f"/metrics with {args.devices} devices ({series} series, {len(body)} bytes): "
                f"p50 {p50:.2f} ms, p99 {p99:.2f} ms over {args.scrapes} scrapes "
                "(target p99 <= 20 ms)"
            )
        if "cpu" in phases:
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
        if "idle" in phases:
            idle_load(args, url, port, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
