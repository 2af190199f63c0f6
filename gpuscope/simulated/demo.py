"""What ``gpuscope --demo`` swaps into the app: simulated GPUs beside the real CPU."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from gpuscope.measurement.measured_run import EventSource, RunFactory, child_process_run
from gpuscope.simulated.devices import demo_gpus
from gpuscope.simulated.runs import SimulatedRun
from gpuscope.telemetry.discover import Discovery, discover
from gpuscope.telemetry.model import Vendor
from gpuscope.workloads.child import RunSpec


@dataclass(frozen=True)
class DemoParts:
    discover: Callable[[], Discovery]
    run_factory: RunFactory
    simulated_ids: frozenset[str]


def demo_parts() -> DemoParts:
    gpus = demo_gpus(time.monotonic())

    def discover_demo() -> Discovery:
        found = discover(["cpu"])  # the real CPU: its figures are true
        found.devices[:0] = gpus
        return found

    def run_factory(spec: RunSpec, hang_timeout_s: float | None) -> EventSource:
        if spec.device == "cpu":
            return child_process_run(spec, hang_timeout_s)
        index = int(spec.device.partition(":")[2] or 0)
        gpu = next(g for g in gpus if g.vendor is Vendor.NVIDIA and g.index == index)
        return SimulatedRun(spec, gpu)

    return DemoParts(discover_demo, run_factory, frozenset(g.info.device_id for g in gpus))
