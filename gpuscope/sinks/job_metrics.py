"""Per-job Prometheus series (``gpuscope serve``): what each job's use of each device cost, from
the job ledger (``measurement.job_energy``), built at scrape time.

Every series is labelled host, job, user and device, never a pid: a job's figures outlive its
processes, and pids would make a series per process. A figure never measured is absent, never
0: energy a job was never charged by a source, GPU busy time where utilization is unsupported,
activity seconds where GPM was never sampled. Label values come bounded from the telemetry
(``telemetry.job_owner``); they still go through ``safe_text`` here, where they leave gpuscope.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gpuscope.measurement.job_energy import JobUse
from gpuscope.safe_text import one_line
from gpuscope.telemetry.exported_metrics import (
    JOB_ACTIVITY_SECONDS,
    JOB_ALONE_SECONDS,
    JOB_BUSY_SECONDS,
    JOB_ENERGY,
    JOB_GPU_SECONDS,
    JOB_LABELS,
    JOB_LAST_SEEN,
    JOB_PROCESSES,
    JOB_SM_ACTIVE_SECONDS,
    JOB_START,
    JOB_TENSOR_ACTIVE_SECONDS,
    PREFIX,
)
from gpuscope.telemetry.job_owner import LABEL_MAX
from gpuscope.telemetry.model import EnergySource

Family = CounterMetricFamily | GaugeMetricFamily


class JobCollector(Collector):
    """Builds the ``JOB_*`` families from ``jobs()`` (the ledger's ``uses``) at every scrape.
    Thread-safe as far as ``jobs`` is: it only reads what that returns."""

    def __init__(self, jobs: Callable[[], Sequence[JobUse]], host: str) -> None:
        self._jobs = jobs
        self._host = host

    def collect(self) -> Iterator[Family]:
        labels = list(JOB_LABELS)
        energy = CounterMetricFamily(
            PREFIX + JOB_ENERGY,
            "Energy charged to a job on a device: its measured energy while the job was the "
            "device's only one (energy_source counter or integrated), or its processes' SM "
            "shares of it (energy_source=estimate).",
            labels=[*labels, "energy_source"],
        )
        counters = {
            name: CounterMetricFamily(PREFIX + name, text, labels=labels)
            for name, text in (
                (JOB_GPU_SECONDS, "Seconds the job held the device (had a process on it)."),
                (JOB_ALONE_SECONDS, "Of those, seconds it was the device's only job."),
                (JOB_BUSY_SECONDS, "GPU utilization x the seconds it was the only job."),
                (JOB_ACTIVITY_SECONDS, "Seconds it was the only job with activity (GPM) read."),
                (JOB_SM_ACTIVE_SECONDS, "SM active fraction (GPM) x those seconds."),
                (JOB_TENSOR_ACTIVE_SECONDS, "Tensor active fraction (GPM) x those seconds."),
            )
        }
        processes = GaugeMetricFamily(
            PREFIX + JOB_PROCESSES,
            "The job's processes on the device now (0: ended; dropped once kept long enough).",
            labels=labels,
        )
        start = GaugeMetricFamily(
            PREFIX + JOB_START,
            "When the job's earliest process on the device started, Unix time.",
            labels=labels,
        )
        last_seen = GaugeMetricFamily(
            PREFIX + JOB_LAST_SEEN,
            "When the job last had a process on the device, Unix time (now while it runs).",
            labels=labels,
        )
        for use in self._jobs():
            key = [_label(v) for v in (self._host, use.job, use.user, use.device_id)]
            if use.energy_source is not None:  # charged as the device's only job
                energy.add_metric([*key, use.energy_source.value], use.energy_j)
            if use.estimate_j > 0:
                energy.add_metric([*key, EnergySource.ESTIMATE.value], use.estimate_j)
            counters[JOB_GPU_SECONDS].add_metric(key, use.held_s)
            counters[JOB_ALONE_SECONDS].add_metric(key, use.alone_s)
            if use.busy_s is not None:
                counters[JOB_BUSY_SECONDS].add_metric(key, use.busy_s)
            if use.activity_s > 0:
                counters[JOB_ACTIVITY_SECONDS].add_metric(key, use.activity_s)
                counters[JOB_SM_ACTIVE_SECONDS].add_metric(key, use.sm_active_s)
                counters[JOB_TENSOR_ACTIVE_SECONDS].add_metric(key, use.tensor_active_s)
            processes.add_metric(key, use.processes)
            if use.started_s is not None:
                start.add_metric(key, use.started_s)
            if use.last_seen_unix_s is not None:
                last_seen.add_metric(key, use.last_seen_unix_s)
        yield energy
        yield from counters.values()
        yield processes
        yield start
        yield last_seen


def _label(text: str) -> str:
    return one_line(text, LABEL_MAX)
