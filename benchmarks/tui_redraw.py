#!/usr/bin/env python3
"""What one redraw of the Devices screen costs, by how long gpuscope has run and by chart window.

Drives the real app headless (Textual's pilot) on the demo's simulated devices (3 GPUs + CPU) with
a hand-moved clock: fills the history with N samples a device at 0.5 s, then times the redraws
that follow single samples (what the 2 Hz timer does). Issue 12's target: the figure does not
grow with the history or the chart window.

    python benchmarks/tui_redraw.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.tui_support import make_app, ready

REDRAWS = 200


async def redraw_ms(history_samples: int, window_s: float) -> float:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        app.window_s = window_s
        sampler, clock = app.sampler, app.setup.clock
        assert sampler is not None
        for _ in range(history_samples):
            clock.advance(0.5)  # type: ignore[attr-defined]
            sampler.tick()
        app.refresh_view()  # the panels take in the window once (a new window does this too)
        await pilot.pause()
        times = []
        for _ in range(REDRAWS):
            clock.advance(0.5)  # type: ignore[attr-defined]
            sampler.tick()
            start = time.perf_counter()
            app.refresh_view()
            times.append(time.perf_counter() - start)
        await pilot.pause()
    return 1000 * statistics.mean(times)


async def main() -> None:
    print(
        "Devices screen, 4 devices, 160x48: mean time of one redraw after one new sample"
        " (chart redraws included)"
    )
    for window_s in (60.0, 300.0, 600.0):
        for samples in (200, 1300, 6000):
            ms = await redraw_ms(samples, window_s)
            print(f"  window {window_s:>4.0f} s, {samples:>5} samples a device so far: {ms:.3f} ms")


if __name__ == "__main__":
    asyncio.run(main())
