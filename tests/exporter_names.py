"""The set of metric names ``gpuscope serve`` can export, for the docs and dashboard tests."""

from __future__ import annotations

import sys

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gpuscope.measurement.run_result import RunResult
from gpuscope.sampler import Sampler
from gpuscope.simulated.devices import SimulatedCpu
from gpuscope.sinks.prometheus import TelemetryCollector
from gpuscope.telemetry.cpu_estimate import CpuPowerModel, with_cpu_estimate
from gpuscope.telemetry.model import EnergySource
from tests.activity_device import ActivityDevice
from tests.conftest import FakeClock
from tests.fakes.fake_pynvml import FakeGpu, FakeNvml


def exported_metric_names() -> set[str]:
    """Every family a scrape can hold: a GPU with a counter, one without, a fan, a CPU without
    RAPL given an estimate, a GPU with activity counters (GPM) asked for, and a result."""
    clock = FakeClock()
    fake = FakeNvml(
        [
            FakeGpu(unsupported=set()),
            FakeGpu(uuid="GPU-b", unsupported={"nvmlDeviceGetTotalEnergyConsumption"}),
        ],
        clock=clock,
    )
    saved = sys.modules.get("pynvml")
    sys.modules["pynvml"] = fake.module()  # type: ignore[assignment]
    try:
        from gpuscope.telemetry.discover import discover

        with discover(["nvidia"]) as found:
            found.devices += with_cpu_estimate([SimulatedCpu(clock())], CpuPowerModel(100.0))
            found.devices.append(ActivityDevice("nvidia:9"))
            sampler = Sampler(found.devices, clock=clock)
            sampler.want_activity("serve --gpm")
            sampler.tick()
            clock.advance(1.0)
            sampler.tick()
            report = RunResult(
                workload="gemm", device="cuda:0", telemetry_device="nvidia:0", device_name=None,
                params={}, unit="FLOP", units=1.0, seconds=1.0, steps=1, throughput=1.0,
                tflops=None, energy_j=1.0, avg_power_w=1.0, work_per_joule=1.0,
                energy_source=EnergySource.COUNTER, pct_of_peak=None,
            )  # fmt: skip
            registry = CollectorRegistry(auto_describe=False)
            infos = [d.info for d in found.devices]
            registry.register(TelemetryCollector(sampler, infos, "h", lambda: [report]))
            text = generate_latest(registry).decode()
    finally:
        if saved is None:
            sys.modules.pop("pynvml", None)
        else:
            sys.modules["pynvml"] = saved
    return {
        sample.name
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.endswith("_created")
    }
