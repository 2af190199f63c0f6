#!/usr/bin/env python3
"""What reading and showing GPU processes costs the UI: 4 GPUs with 50 real processes each.

Starts 200 sleeping processes, lists 50 on each of 4 GPUs (a stand-in device: the test support's
``ListedProcesses``), and runs the real app headless at 2 Hz of wall time (the per-process host
reads are rate-limited by wall time, so the benchmark must take its time: about 3 minutes). Reports
the UI process's CPU per tick and as % of one core at 2 Hz on each screen, with no processes and
with 200: on the Devices screen they cost the energy ledger; on the Processes screen, the host
reads too (sampler thread: the rows in sight, ~40 of 200) and the table. Three interleaved
rounds, the best of each: the machine's noise (GC, timers, other processes) only ever adds, and
is of the size of the figure.
Issue 13's target: processes add at most 0.5 % of one core.

    python benchmarks/processes_cost.py
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpuscope.tui.processes_view import ProcessTable
from tests.tui_support import ListedProcesses, make_app, ready

GPUS, PER_GPU, TICKS, HZ, ROUNDS = 4, 50, 30, 2.0, 3


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
        start = time.process_time()  # all of it, the idle half-second between ticks too
        for _ in range(TICKS):
            clock.advance(1 / HZ)  # type: ignore[attr-defined]
            sampler.tick()
            app.refresh_view()
            await pilot.pause()  # the repaint
            await asyncio.sleep(1 / HZ)
        used = time.process_time() - start
        if tab == "2" and any(pid_lists):  # it measured what it says: all listed, known
            table = app.query_one(ProcessTable)
            listed = sum(map(len, pid_lists))
            assert table.row_count == listed, (table.row_count, listed)
            assert all(r.command for r in table._rows)
            in_sight = [table._rows[i] for i in table.rows_in_sight()]
            assert len(in_sight) > 30 and all(r.cpu_pct is not None for r in in_sight)
    return 1000 * used / TICKS


async def main() -> None:
    sleepers = [subprocess.Popen(["sleep", "600"]) for _ in range(GPUS * PER_GPU)]
    phases = {(tab, n): [] for tab in ("1", "2") for n in (0, PER_GPU)}  # type: dict[tuple[str, int], list[float]]
    try:
        pids = [p.pid for p in sleepers]
        for _ in range(ROUNDS):  # interleaved, so a busy spell of the machine hits all alike
            for (tab, n), figures in phases.items():
                lists = [pids[i * PER_GPU : i * PER_GPU + n] for i in range(GPUS)]
                figures.append(await cpu_per_tick_ms(lists, tab))
    finally:
        for p in sleepers:
            p.kill()
        for p in sleepers:
            p.wait()
    print(f"{GPUS} GPUs x {PER_GPU} processes, UI CPU per tick at {HZ:g} Hz, "
          f"best of {ROUNDS} rounds (% of one core):")  # fmt: skip
    for tab, screen in (("1", "Devices"), ("2", "Processes")):
        none, listed = (min(phases[tab, n]) for n in (0, PER_GPU))
        print(f"  {screen} screen: {none:5.2f} ms ({none * HZ / 10:4.2f} %) with no processes, "
              f"{listed:5.2f} ms ({listed * HZ / 10:4.2f} %) with {GPUS * PER_GPU}: "
              f"added {(listed - none) * HZ / 10:+.2f} % of one core")  # fmt: skip
    print("  target: processes add at most 0.5 % of one core")


if __name__ == "__main__":
    asyncio.run(main())
