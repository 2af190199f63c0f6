"""Builds the app on simulated devices with a hand-moved clock, for pilot and snapshot tests."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from textual.pilot import Pilot

from gpuscope.simulated.devices import SimulatedCpu, SimulatedGpu, demo_gpus
from gpuscope.telemetry.discover import Discovery
from gpuscope.telemetry.model import Device, DeviceInfo, ProcessUsage, Reading, Vendor
from gpuscope.tui.app import AppSetup, GpuscopeApp
from gpuscope.workloads.registry import find_workloads
from tests.conftest import FakeClock

START_S = 1000.0


def simulated_devices(start_s: float = START_S) -> list[Device]:
    return [*demo_gpus(start_s), SimulatedCpu(start_s)]


def make_app(
    devices: Sequence[Device] | None = None,
    clock: FakeClock | None = None,
    plugin_files: Sequence[Path] = (),
    **setup: object,
) -> GpuscopeApp:
    """The app on simulated devices (a fixed timeline unless ``clock`` is real), no user plugins."""
    chosen = list(devices) if devices is not None else simulated_devices()
    files = tuple(plugin_files)
    options: dict[str, object] = {
        "discover": lambda: Discovery(devices=list(chosen), absent=["amd: demo absent line"]),
        "find_catalog": lambda: find_workloads(files, plugin_dirs=[], use_entry_points=False),
        "host": "testhost",
        "simulated_ids": frozenset(
            d.info.device_id for d in chosen if isinstance(d, SimulatedGpu | SimulatedCpu)
        ),
        "clock": clock or FakeClock(START_S),
        "autostart": False,  # tests tick by hand; pass autostart=True for a live sampler
        **setup,
    }
    return GpuscopeApp(AppSetup(**options))  # type: ignore[arg-type]


async def wait_until(pilot: Pilot[int], condition, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    """Let the app run until ``condition()`` holds (worker threads post back to it)."""
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


async def ready(pilot: Pilot[int]) -> GpuscopeApp:
    app = pilot.app
    assert isinstance(app, GpuscopeApp)
    await wait_until(pilot, lambda: app.sampler is not None and app.catalog is not None)
    return app


async def tick(pilot: Pilot[int], times: int = 1, step_s: float = 0.5) -> None:
    """Advance the fake clock and sample, as the sampler thread would, then redraw."""
    app = pilot.app
    assert isinstance(app, GpuscopeApp) and app.sampler is not None
    clock = app.setup.clock
    assert isinstance(clock, FakeClock)
    for _ in range(times):
        clock.advance(step_s)
        app.sampler.tick()
    app.refresh_view()
    await pilot.pause()
    await settle(pilot)


async def settle(pilot: Pilot[int], passes: int = 5) -> None:
    """Redraw until a redraw changes nothing the layout depends on: on a loaded machine the
    first draw may come before the last resize of a run_test's screen was handled, and a
    snapshot taken then shows panels of the size before (seen with two workers on 2 cores)."""
    app = pilot.app
    assert isinstance(app, GpuscopeApp)
    for _ in range(passes):
        before = (app.size, getattr(app, "_layout", None))
        app.refresh_view()
        await pilot.pause()
        if (app.size, getattr(app, "_layout", None)) == before:
            return


class ListedProcesses:
    """A GPU whose process list names real processes of this host (the Device protocol)."""

    def __init__(self, pids: list[int], index: int = 0) -> None:
        self.info = DeviceInfo(f"nvidia:{index}", Vendor.NVIDIA, index, "Test GPU")
        self.pids = pids

    def read(self, now_s: float) -> Reading:
        listed = tuple(
            ProcessUsage(pid, None, 1024.0 * (i + 1), kind="C", sm_pct=50.0 / len(self.pids))
            for i, pid in enumerate(self.pids)
        )
        return Reading(
            now_s, time.time(), util_gpu_pct=50.0, power_w=300.0, energy_counter_j=300.0 * now_s,
            processes=listed,
        )  # fmt: skip


def add_session_runs(app: GpuscopeApp) -> None:
    """The sample session's runs (``tests/compare_runs.session_runs``), as if launched and
    finished on the app's devices; the next redraw shows them."""
    from tests.compare_runs import session_runs

    assert app.found is not None
    runs = session_runs({d.info.device_id: d.info for d in app.found.devices})
    app.runs.extend(runs)
    app.reports.extend(r.report for r in runs if r.report is not None)
    app._runs_version += 1
