#!/usr/bin/env python3
"""What reading and showing GPU processes costs the UI: 4 GPUs with 50 real processes each.

Starts 200 sleeping processes, lists 50 on each of 4 GPUs (a stand-in device: the test support's
``ListedProcesses``), and runs the real app headless at 2 Hz of wall time (the per-process host
reads are rate-limited by wall time, so the benchmark must take its time: about 40 s). Reports
the UI process's CPU per tick and as % of one core at 2 Hz: with no processes, with 200 on the
Devices screen (the sampler-thread lookups and the energy ledger), and on the Processes screen
(the table too). Issue 13's target: processes add at most 0.5 % of one core.

    python benchmarks/processes_cost.py
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.tui_support import ListedProcesses, make_app, ready

GPUS, PER_GPU, TICKS, HZ = 4, 50, 30, 2.0


async def cpu_per_tick_ms(pid_lists: list[list[int]], tab: str) -> float:
    app = make_app(devices=[ListedProcesses(pids, i) for i, pids in enumerate(pid_lists)])
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await pilot.press(tab)
        clock, sampler = app.setup.clock, app.sampler
        assert sampler is not None
        for _ in range(4):  # warm the caches: names, users, commands, psutil handles
            clock.advance(1 / HZ)  # type: ignore[attr-defined]
            sampler.tick()
            app.refresh_view()
            await pilot.pause(1 / HZ)
        used = 0.0
        for _ in range(TICKS):
            start = time.process_time()
            clock.advance(1 / HZ)  # type: ignore[attr-defined]
            sampler.tick()
            app.refresh_view()
            await pilot.pause()  # the repaint
            used += time.process_time() - start
            await asyncio.sleep(1 / HZ)
    return 1000 * used / TICKS


async def main() -> None:
    sleepers = [subprocess.Popen(["sleep", "600"]) for _ in range(GPUS * PER_GPU)]
    try:
        pids = [p.pid for p in sleepers]
        lists = [pids[i * PER_GPU : (i + 1) * PER_GPU] for i in range(GPUS)]
        none = await cpu_per_tick_ms([[] for _ in range(GPUS)], "1")
        devices = await cpu_per_tick_ms(lists, "1")
        table = await cpu_per_tick_ms(lists, "2")
    finally:
        for p in sleepers:
            p.kill()
        for p in sleepers:
            p.wait()
    print(f"{GPUS} GPUs x {PER_GPU} processes, UI CPU per tick at {HZ:g} Hz (% of one core):")
    for name, ms in (("no processes", none), ("200 processes, Devices screen", devices),
                     ("200 processes, Processes screen", table)):  # fmt: skip
        print(f"  {name:<34} {ms:6.2f} ms  {ms * HZ / 10:5.2f} %")
    print(f"  added by processes: {(table - none) * HZ / 10:.2f} % of one core (target <= 0.5 %)")


if __name__ == "__main__":
    asyncio.run(main())
