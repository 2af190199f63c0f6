"""The sampler at 10 Hz with 8 simulated NVIDIA GPUs for 10 minutes of simulated time.

Drives the real backend and sampler against the test fake of pynvml (so this measures gpuscope's
own overhead, not a driver's), on a simulated clock, then prints CPU time per tick, the CPU share
that means at 10 Hz, and memory after the run (history is bounded, so it must plateau).

    python benchmarks/sampler_load.py [--minutes 10] [--devices 8] [--hz 10]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gpuscope.sampler import Sampler  # noqa: E402
from gpuscope.telemetry.discover import discover  # noqa: E402
from tests.fakes.fake_pynvml import FakeGpu, FakeNvml, Ramp  # noqa: E402


class SimulatedClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def simulate(args: argparse.Namespace, trace_memory: bool) -> None:
    clock = SimulatedClock()
    gpus = [
        FakeGpu(uuid=f"GPU-{i}", power=Ramp(100.0 + 50 * i, 0.1), processes=[(1, 1 << 30)])
        for i in range(args.devices)
    ]
    sys.modules["pynvml"] = FakeNvml(gpus, clock=clock).module()
    interval = 1 / args.hz
    ticks = round(args.minutes * 60 * args.hz)
    checkpoints = {ticks // 10, ticks // 2, ticks}
    if trace_memory:
        tracemalloc.start()
    with discover(["nvidia"]) as found:
        sampler = Sampler(found.devices, interval_s=interval, clock=clock)
        sampler.subscribe(lambda samples: None)  # a listener, as record and the TUI add
        cpu_start = time.process_time()
        for tick in range(1, ticks + 1):
            clock.now += interval
            sampler.tick()
            if trace_memory and tick in checkpoints:
                current_b, _ = tracemalloc.get_traced_memory()
                minutes = tick / args.hz / 60
                print(
                    f"after {minutes:5.1f} simulated min: Python heap {current_b / 2**20:6.2f} MiB"
                )
        cpu_s = time.process_time() - cpu_start
        history = len(sampler.history("nvidia:0"))
    if trace_memory:
        tracemalloc.stop()
        return
    per_tick_us = cpu_s / ticks * 1e6
    share_pct = per_tick_us * args.hz / 1e4
    print(
        f"{args.devices} devices, {ticks} ticks at {args.hz:g} Hz, history {history} samples/device"
    )
    print(f"CPU per tick (all devices): {per_tick_us:.0f} us -> {share_pct:.2f} % of one core")
    print("  (includes the fake library's Python; excludes real driver time)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--hz", type=float, default=10)
    args = parser.parse_args()
    simulate(args, trace_memory=False)  # CPU first: tracemalloc would inflate it
    simulate(args, trace_memory=True)
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
