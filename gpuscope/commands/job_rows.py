"""The rows ``gpuscope jobs`` prints, one per (job, user): this host's devices sampled for a
few seconds into a ``JobLedger`` (``JobUse`` per job and device, summed), or the per-job series
an existing Prometheus holds for the whole cluster (``telemetry.prometheus_api``), summed over
hosts, devices and energy sources.

Every figure a source does not have is None (``n/a``), never 0: SM and tensor activity exist
only where a device has GPM, GPU busy only where it reports utilization."""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from gpuscope.commands.selection import probe_selected
from gpuscope.errors import CommandFailed
from gpuscope.intervals import DEFAULT_INTERVAL_S, MIN_INTERVAL_S
from gpuscope.measurement.job_energy import JobLedger, JobUse
from gpuscope.sampler import Sampler, stopped_line
from gpuscope.telemetry.exported_metrics import (
    JOB_ACTIVITY_SECONDS,
    JOB_ALONE_SECONDS,
    JOB_BUSY_SECONDS,
    JOB_ENERGY,
    JOB_GPU_SECONDS,
    JOB_LAST_SEEN,
    JOB_PROCESSES,
    JOB_SM_ACTIVE_SECONDS,
    JOB_START,
    JOB_TENSOR_ACTIVE_SECONDS,
    PREFIX,
)
from gpuscope.telemetry.job_owner import JobOwners
from gpuscope.telemetry.model import EnergySource, Sample
from gpuscope.telemetry.prometheus_api import PrometheusApi, Series

ESTIMATE = EnergySource.ESTIMATE.value  # the SM-share part of a job's energy


@dataclass(frozen=True, slots=True)
class JobRow:
    """One job of one user, over every device (and host) it was seen on. ``energy_j``: its
    energy (sole-job part measured, SM-share part an estimate; ``energy_sources`` names them);
    ``power_w``: that energy's rate; ``gpu_seconds``: device-seconds held; ``busy_pct``: GPU
    utilization while it was a device's only job; ``sm_active_pct`` / ``tensor_active_pct``:
    GPM activity over the seconds it was sampled; ``uncharged``: see below. None: not known."""

    job: str
    user: str
    devices: tuple[str, ...]
    running_s: float | None
    energy_j: float | None
    energy_sources: tuple[str, ...]
    power_w: float | None
    gpu_seconds: float | None
    busy_pct: float | None
    sm_active_pct: float | None
    tensor_active_pct: float | None
    processes: int | None
    # devices it held and was charged no energy on (it shared them with another job where the
    # driver gives no SM shares): its energy leaves them out, and the output says so
    uncharged: tuple[str, ...] = ()


def _ratio_pct(part: float | None, whole: float | None) -> float | None:
    if part is None or whole is None or whole <= 0 or not math.isfinite(part / whole):
        return None
    return 100.0 * part / whole


def rows_from_uses(uses: Iterable[JobUse], now_s: float, sampled_s: float) -> list[JobRow]:
    """This host's jobs: ``uses`` summed per (job, user); W over ``sampled_s``, running time to
    ``now_s`` (Unix time) from the earliest process's start."""
    grouped: dict[tuple[str, str], list[JobUse]] = defaultdict(list)
    for use in uses:
        grouped[use.job, use.user].append(use)
    return [_row_from_uses(job, user, group, now_s, sampled_s)
            for (job, user), group in sorted(grouped.items())]  # fmt: skip


def _row_from_uses(
    job: str, user: str, uses: Sequence[JobUse], now_s: float, sampled_s: float
) -> JobRow:
    sources = {u.energy_source.value for u in uses if u.energy_source and u.energy_j > 0}
    if any(u.estimate_j > 0 for u in uses):
        sources.add(ESTIMATE)
    energy_j = sum(u.energy_j + u.estimate_j for u in uses) if sources else None
    started = [u.started_s for u in uses if u.started_s is not None]
    seen = [u.last_seen_unix_s for u in uses if u.last_seen_unix_s is not None]
    busy = [u for u in uses if u.busy_s is not None]
    return JobRow(
        job=job,
        user=user,
        devices=tuple(sorted({u.device_id for u in uses})),
        running_s=max(0.0, max(seen, default=now_s) - min(started)) if started else None,
        energy_j=energy_j,
        energy_sources=tuple(sorted(sources)),
        power_w=energy_j / sampled_s if energy_j is not None and sampled_s > 0 else None,
        gpu_seconds=sum(u.held_s for u in uses),
        busy_pct=_ratio_pct(sum(u.busy_s or 0.0 for u in busy), sum(u.alone_s for u in busy))
        if busy
        else None,
        sm_active_pct=_ratio_pct(sum(u.sm_active_s for u in uses), sum(u.activity_s for u in uses)),
        tensor_active_pct=_ratio_pct(
            sum(u.tensor_active_s for u in uses), sum(u.activity_s for u in uses)
        ),
        processes=sum(u.processes for u in uses),
        uncharged=tuple(sorted(
            u.device_id for u in uses if u.held_s > 0 and u.energy_j + u.estimate_j <= 0
        )),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class HostJobs:
    """This host's jobs over ``sampled_s`` (first to last sample); ``devices`` sampled, of
    which ``listing`` list their processes; ``stopped``: cut short by Ctrl-C."""

    rows: list[JobRow]
    sampled_s: float
    devices: int
    listing: int
    stopped: bool


# A GPU's energy counter is read about once a second (``telemetry.nvidia.ENERGY_PERIOD_S``);
# the ledger adds an interval's energy when the counter settles it. Sampling ends at a tick
# whose energy is settled, waiting at most this long past --seconds for one.
SETTLE_MAX_S = 1.5


class _Span:
    """A sampler listener: the first tick's time, the last tick's whose energy every device has
    settled (the ledger's energy covers the span between), and which devices list processes."""

    def __init__(self) -> None:
        self.first_s: float | None = None
        self.settled_s: float | None = None
        self.listing: set[str] = set()

    def __call__(self, samples: Sequence[Sample]) -> None:
        read = [sample for sample in samples if not sample.lost]
        if not read:
            return
        now_s = max(sample.reading.time_s for sample in read)
        if self.first_s is None:
            self.first_s = now_s
        if not any(sample.energy_bridged for sample in read):
            self.settled_s = now_s
        self.listing.update(s.device_id for s in read if s.reading.processes is not None)

    @property
    def seconds(self) -> float:
        if self.first_s is None or self.settled_s is None:
            return 0.0
        return self.settled_s - self.first_s


def sample_host(selectors: Sequence[str], seconds: float, stop: threading.Event) -> HostJobs:
    """Sample the selected devices for about ``seconds`` (less if ``stop`` is set first) with
    a ledger fed by this host's /proc, GPM wanted where a device has it; CommandFailed (one
    line) if sampling itself fails. Only devices probed here are sampled: a simulated device's
    pids name nothing on this host, so ``jobs`` never samples one."""
    interval_s = max(MIN_INTERVAL_S, min(DEFAULT_INTERVAL_S, seconds / 4))
    with probe_selected(selectors) as (_, devices):
        sampler = Sampler(devices, interval_s)
        if any(device.info.activity_counters for device in devices):
            sampler.want_activity("jobs")
        ledger, span = JobLedger(JobOwners()), _Span()
        sampler.subscribe(span)
        sampler.subscribe(ledger.add)
        sampler.start()
        try:  # until the seconds are up and settled, Ctrl-C, or sampling fails
            _wait(sampler, span, time.monotonic() + seconds - interval_s / 2, stop)
        finally:
            sampler.stop()
    if sampler.error is not None:
        raise CommandFailed(stopped_line(sampler.error))
    rows = rows_from_uses(ledger.uses(), time.time(), span.seconds)
    return HostJobs(rows, span.seconds, len(devices), len(span.listing), stop.is_set())


def _wait(sampler: Sampler, span: _Span, until_s: float, stop: threading.Event) -> None:
    """Until a settled tick at ``until_s`` or later (``SETTLE_MAX_S`` past it at most), Ctrl-C
    (``stop``), or the sampler's failure."""
    while sampler.error is None and not stop.is_set():
        now_s = time.monotonic()
        if (span.settled_s or 0.0) >= until_s or now_s >= until_s + SETTLE_MAX_S:
            return
        stop.wait(0.05)


# Both spellings of the job label are grouped by: ``job`` where Prometheus scraped gpuscope
# with ``honor_labels: true``, ``exported_job`` where it kept ``job`` for its scrape job.
_BY = "job, exported_job, user"


def _name(metric: str) -> str:
    return PREFIX + metric


def _counter(metric: str) -> str:
    return f"sum by ({_BY}) ({_name(metric)}_total)"


CLUSTER_QUERIES = {
    "energy": f"sum by ({_BY}, energy_source) ({_name(JOB_ENERGY)}_total)",
    # W between its last two scrapes: a rate over a minute reads low while the job (its series)
    # is younger than the minute
    "power": f"sum by ({_BY}) (irate({_name(JOB_ENERGY)}_total[2m]))",
    # per device: where it held a GPU and was charged nothing
    "held_on": f"sum by ({_BY}, host, device) ({_name(JOB_GPU_SECONDS)}_total)",
    "charged_on": f"sum by ({_BY}, host, device) ({_name(JOB_ENERGY)}_total)",
    "processes": f"sum by ({_BY}, host, device) ({_name(JOB_PROCESSES)})",
    # running time: its earliest start to its last sight (where an ended job ended), each
    # taken over every group a job arrives in (two scrape jobs: two groups), not summed
    "last_seen": f"max by ({_BY}) ({_name(JOB_LAST_SEEN)})",
    "start": f"min by ({_BY}) ({_name(JOB_START)})",
    "gpu_seconds": _counter(JOB_GPU_SECONDS),
    # busy % is over the alone seconds of devices that report utilization (as the rules)
    "alone": f"sum by ({_BY}) ({_name(JOB_ALONE_SECONDS)}_total "
    f"and {_name(JOB_BUSY_SECONDS)}_total)",
    "busy": _counter(JOB_BUSY_SECONDS),
    "activity": _counter(JOB_ACTIVITY_SECONDS),
    "sm_active": _counter(JOB_SM_ACTIVE_SECONDS),
    "tensor_active": _counter(JOB_TENSOR_ACTIVE_SECONDS),
}


@dataclass(frozen=True, slots=True)
class ClusterJobs:
    """The cluster's jobs, and whether their job label arrived renamed ``exported_job`` (the
    exporters were scraped without ``honor_labels: true``)."""

    rows: list[JobRow]
    renamed: bool


def _key(series: Series) -> tuple[str, str]:
    labels = series.labels
    job = labels["exported_job"] if "exported_job" in labels else labels.get("job", "?")
    return job, labels.get("user", "?")


# how one job's figures from several groups (scrape jobs) add up: times by their extremes
_COMBINE: dict[str, Callable[[float, float], float]] = {"last_seen": max, "start": min}


def _sum(a: float, b: float) -> float:
    return a + b


def _running_s(start: float | None, last_seen: float | None) -> float | None:
    return max(0.0, last_seen - start) if start is not None and last_seen is not None else None


def _where(series: Series) -> str:
    """``host:device`` (``device`` alone where no host label came)."""
    labels = series.labels
    device = labels.get("device", "?")
    return f"{labels['host']}:{device}" if "host" in labels else device


def rows_from_prometheus(api: PrometheusApi) -> ClusterJobs:
    """Every job the per-job series name, summed over hosts, devices and energy sources;
    PrometheusError (one line) where a query gets no usable answer."""
    answers = {name: api.vector(query) for name, query in CLUSTER_QUERIES.items()}
    renamed = any("exported_job" in s.labels for found in answers.values() for s in found)
    sums: dict[str, dict[tuple[str, str], float]] = {}
    for name, found in answers.items():
        combine = _COMBINE.get(name, _sum)
        sums[name] = {}
        for series in found:
            key = _key(series)
            known = sums[name].get(key)
            sums[name][key] = series.value if known is None else combine(known, series.value)
    sources: dict[tuple[str, str], set[str]] = defaultdict(set)
    for series in answers["energy"]:
        sources[_key(series)].add(series.labels.get("energy_source", "?"))
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    active: dict[tuple[str, str], set[str]] = defaultdict(set)
    for series in answers["processes"]:
        where = _where(series)
        seen[_key(series)].add(where)
        if series.value > 0:
            active[_key(series)].add(where)
    charged = {(_key(s), _where(s)) for s in answers["charged_on"] if s.value > 0}
    uncharged: dict[tuple[str, str], set[str]] = defaultdict(set)
    for series in answers["held_on"]:
        if series.value > 0 and (_key(series), _where(series)) not in charged:
            uncharged[_key(series)].add(_where(series))
    keys = set(sums["energy"]) | set(sums["processes"]) | set(sums["gpu_seconds"])
    rows = []
    for key in sorted(keys):

        def got(name: str, key: tuple[str, str] = key) -> float | None:
            return sums[name].get(key)

        processes = got("processes")
        rows.append(
            JobRow(
                job=key[0],
                user=key[1],
                devices=tuple(sorted(active[key] or seen[key])),
                running_s=_running_s(got("start"), got("last_seen")),
                energy_j=got("energy"),
                energy_sources=tuple(sorted(sources[key])),
                power_w=got("power"),
                gpu_seconds=got("gpu_seconds"),
                busy_pct=_ratio_pct(got("busy"), got("alone")),
                sm_active_pct=_ratio_pct(got("sm_active"), got("activity")),
                tensor_active_pct=_ratio_pct(got("tensor_active"), got("activity")),
                processes=round(processes) if processes is not None else None,
                uncharged=tuple(sorted(uncharged[key])),
            )
        )
    return ClusterJobs(rows, renamed)
