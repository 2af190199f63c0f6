"""Prometheus metrics from the sampler's latest samples: what ``gpuscope serve`` exports.

A scrape reads the sampler's history (``latest``), never a device, so scraping costs no device
I/O and there is one polling loop however many scrapers there are. Names follow Prometheus
conventions: base units (bytes, watts, joules, hertz, ratios), ``_total`` for counters, and a
``host`` and ``device`` label on every series. A metric a device does not report is absent from
the scrape, never 0; a lost device drops out of it entirely.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gpuscope.measurement.achieved import achieved_estimate
from gpuscope.measurement.run_result import RunResult, run_precision
from gpuscope.sampler import Sampler
from gpuscope.telemetry.exported_metrics import (
    CLOCK,
    DEVICE_INFO,
    ENERGY_COUNTER,
    ESTIMATED_ENERGY,
    ESTIMATED_FLOP_PER_JOULE,
    ESTIMATED_FLOPS,
    FIELD_GAUGES,
    PREFIX,
    UTILIZATION,
)
from gpuscope.telemetry.model import DeviceInfo, EnergySource, Sample, Vendor


def _family(kind: type, name: str, help_text: str, labels: Sequence[str]) -> GaugeMetricFamily:
    return kind(PREFIX + name, help_text, labels=list(labels))  # type: ignore[no-any-return]


class TelemetryCollector(Collector):
    """Builds every metric family at scrape time from the sampler's latest samples.

    ``results`` (optional) returns finished workloads' results to export, newest last; the TUI
    passes its results table. Thread-safe: it only reads the sampler's history.
    """

    def __init__(
        self,
        sampler: Sampler,
        infos: Sequence[DeviceInfo],
        host: str,
        results: Callable[[], Sequence[RunResult]] | None = None,
    ) -> None:
        self._sampler = sampler
        self._infos = list(infos)
        self._host = host
        self._results = results

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        latest = [
            (info, sample)
            for info in self._infos
            if (sample := self._sampler.latest(info.device_id)) is not None and not sample.lost
        ]
        yield from self._device_families(latest)
        if self._results is not None:
            yield from self._workload_families(self._results())

    def _device_families(
        self, latest: Sequence[tuple[DeviceInfo, Sample]]
    ) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        base = ("host", "device")
        info_family = _family(
            GaugeMetricFamily,
            DEVICE_INFO,
            "Static facts about a device; the value is always 1.",
            (*base, "vendor", "name", "uuid", "pci", "driver"),
        )
        utilization = _family(
            GaugeMetricFamily, UTILIZATION, "Busy fraction, 0-1 (GPU or CPU).", base
        )
        clocks = _family(GaugeMetricFamily, CLOCK, "Clock frequency.", (*base, "clock"))
        counter = _family(
            CounterMetricFamily,
            ENERGY_COUNTER,
            "Energy from the device's hardware counter (since the driver loaded; may reset).",
            base,
        )
        integrated = _family(
            CounterMetricFamily,
            "integrated_energy_joules",
            "Energy from sampled power, integrated since this exporter started "
            "(devices without a hardware energy counter).",
            base,
        )
        estimated = _family(
            CounterMetricFamily,
            ESTIMATED_ENERGY,
            "Energy from a model (CPU TDP and utilization, --cpu-tdp), integrated since this "
            "exporter started; an estimate, never a measurement.",
            base,
        )
        gauges = {
            spec.name: _family(GaugeMetricFamily, spec.name, spec.help, base)
            for spec in FIELD_GAUGES
        }
        achieved = _family(
            GaugeMetricFamily,
            ESTIMATED_FLOPS,
            "FLOP/s that whatever runs on the GPU achieves, an estimate: each pipe's activity "
            "(GPM, --gpm) x its datasheet peak, summed; never a measurement.",
            base,
        )
        achieved_per_joule = _family(
            GaugeMetricFamily,
            ESTIMATED_FLOP_PER_JOULE,
            "The same estimate per joule: estimated FLOP/s / measured power.",
            base,
        )
        for info, sample in latest:
            labels = [self._host, info.device_id]
            reading = sample.reading
            info_family.add_metric(
                [
                    *labels,
                    info.vendor.value,
                    info.name,
                    info.uuid or "",
                    info.pci_bus_id or "",
                    info.driver or "",
                ],
                1.0,
            )
            util = reading.util_cpu_pct if info.vendor is Vendor.CPU else reading.util_gpu_pct
            if util is not None:
                utilization.add_metric(labels, util / 100)
            for clock, mhz in (("core", reading.clock_core_mhz), ("memory", reading.clock_mem_mhz)):
                if mhz is not None:
                    clocks.add_metric([*labels, clock], mhz * 1e6)
            for spec in FIELD_GAUGES:
                number = getattr(reading, spec.field)
                if number is not None:
                    gauges[spec.name].add_metric(labels, float(number) * spec.scale)
            estimate = achieved_estimate(reading, info)
            if estimate is not None:
                achieved.add_metric(labels, estimate.tflops * 1e12)
                if estimate.gflop_per_j is not None:
                    achieved_per_joule.add_metric(labels, estimate.gflop_per_j * 1e9)
            if reading.energy_counter_j is not None:
                counter.add_metric(labels, reading.energy_counter_j)
            elif sample.energy_j is not None and sample.energy_source is EnergySource.INTEGRATED:
                integrated.add_metric(labels, sample.energy_j)
            elif sample.energy_j is not None and sample.energy_source is EnergySource.ESTIMATE:
                estimated.add_metric(labels, sample.energy_j)
        yield info_family
        yield utilization
        yield clocks
        yield from gauges.values()
        yield achieved
        yield achieved_per_joule
        yield counter
        yield integrated
        yield estimated

    def _workload_families(self, reports: Iterable[RunResult]) -> Iterator[GaugeMetricFamily]:
        labels: tuple[str, ...] = ("host", "device", "workload", "unit", "dtype")
        throughput = _family(
            GaugeMetricFamily,
            "workload_throughput",
            "Work units per second of the last run of a workload on a device.",
            labels,
        )
        per_joule = _family(
            GaugeMetricFamily,
            "workload_work_per_joule",
            "Work units per joule of the device that did the work, last run.",
            (*labels, "energy_source"),
        )
        last: dict[tuple[str, ...], RunResult] = {}
        for report in reports:
            if report.throughput is None:  # stopped before it measured: nothing to export
                continue
            dtype = run_precision(report) or ""
            last[(self._host, report.device, report.workload, report.unit, dtype)] = report
        for key, report in last.items():
            throughput.add_metric(list(key), report.throughput or 0.0)  # None is left out above
            if report.work_per_joule is not None:
                source = report.energy_source.value if report.energy_source else ""
                per_joule.add_metric([*key, source], report.work_per_joule)
        yield throughput
        yield per_joule
