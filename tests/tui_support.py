"""Builds the app on simulated devices with a hand-moved clock, for pilot and snapshot tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from weakref import WeakKeyDictionary

from textual.pilot import Pilot

from gpuscope.simulated.devices import SimulatedCpu, SimulatedGpu, demo_gpus
from gpuscope.telemetry.discover import Discovery
from gpuscope.telemetry.model import Device, DeviceInfo, ProcessUsage, Reading, Vendor
from gpuscope.tui.app import AppSetup, GpuscopeApp
from gpuscope.workloads.child import RunSpec
from gpuscope.workloads.events import FirstStep, Progress, Result, RunEvent, Started, WarmupDone
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
    app = GpuscopeApp(AppSetup(**options))  # type: ignore[arg-type]
    told: list[str] = []
    notify = app.notify

    def keep(message: str, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        told.append(str(message))
        notify(message, *args, **kwargs)

    app.notify = keep  # type: ignore[method-assign]
    _TOLD[app] = told
    return app


# Every notification each app gave, in order: run_test shows no toasts, and Textual's own list
# drops a notification once it expires.
_TOLD: WeakKeyDictionary[GpuscopeApp, list[str]] = WeakKeyDictionary()


def notices(app: GpuscopeApp) -> list[str]:
    """The notifications the app gave so far, as plain text."""
    return _TOLD[app]


async def wait_until(pilot: Pilot[int], condition, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    """Let the app run until ``condition()`` holds (worker threads post back to it)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


async def told(pilot: Pilot[int], text: str, timeout_s: float = 30.0) -> None:
    """Until a notification says ``text`` (some are given on a later message or redraw)."""
    app = pilot.app
    assert isinstance(app, GpuscopeApp)
    await wait_until(pilot, lambda: any(text in notice for notice in notices(app)), timeout_s)


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
        before = (app.size, app.devices.layout_now)
        app.refresh_view()
        await pilot.pause()
        if (app.size, app.devices.layout_now) == before:
            return


class ListedProcesses:
    """A GPU whose process list names real processes of this host (the Device protocol)."""

    def __init__(self, pids: list[int], index: int = 0, shares: bool = True) -> None:
        self.info = DeviceInfo(f"nvidia:{index}", Vendor.NVIDIA, index, "Test GPU")
        self.pids = pids
        self.shares = shares  # False: the driver samples no processes (the H100 on driver 580)

    def read(self, now_s: float, exact_energy: bool = False) -> Reading:
        share = 50.0 / len(self.pids) if self.shares and self.pids else None
        listed = tuple(
            ProcessUsage(pid, None, 1024.0 * (i + 1), kind="C", sm_pct=share)
            for i, pid in enumerate(self.pids)
        )
        return Reading(
            now_s, time.time(), util_gpu_pct=50.0, power_w=300.0, energy_counter_j=300.0 * now_s,
            processes=listed,
        )  # fmt: skip


class SteadyRun:
    """Stands in for a workload's child process: the runner's events at a steady rate, in real
    time, until the run's duration or a stop, with no child and no torch. For what the UI does
    with a run's events; ``test_launch_cpu_workload_end_to_end_with_live_figures`` launches the
    real child once."""

    def __init__(
        self,
        spec: RunSpec,
        units_per_s: float = 1000.0,
        flops_per_unit: float | None = 1e6,
        period_s: float = 0.2,
    ) -> None:
        self.spec = spec
        self.units_per_s, self.flops_per_unit, self.period_s = units_per_s, flops_per_unit, period_s
        self._stop = threading.Event()

    def stop(self, grace_s: float = 5.0) -> None:
        self._stop.set()

    def events(self) -> Iterator[RunEvent]:
        now = time.monotonic
        yield Started(0, "Steady test device", None, received_s=now())
        yield FirstStep(0.0, received_s=now())
        yield WarmupDone(1, 0.0, received_s=now())
        start_s = now()
        while True:
            stopped = self._stop.wait(self.period_s)
            seconds = now() - start_s
            units = self.units_per_s * seconds
            flops = None if self.flops_per_unit is None else units * self.flops_per_unit
            steps = max(1, round(seconds / self.period_s))
            if stopped or seconds >= self.spec.duration_s:
                yield Result(units, flops, seconds, steps, stopped, received_s=now())
                return
            yield Progress(units, flops, seconds, steps, received_s=now())


def add_session_runs(app: GpuscopeApp) -> None:
    """The sample session's runs (``tests/compare_runs.session_runs``), as if launched and
    finished on the app's devices; the next redraw shows them."""
    from tests.compare_runs import session_runs

    assert app.found is not None
    runs = session_runs({d.info.device_id: d.info for d in app.found.devices})
    app.runs.extend(runs)
    app.results.extend(r.result for r in runs if r.result is not None)
    app.session.note_change()  # as the session does at a run's event
