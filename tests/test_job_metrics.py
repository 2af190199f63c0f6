"""The per-job series (``sinks.job_metrics``): names, labels and units from the job ledger's
figures, what is absent rather than 0, promtool's verdict, and ``gpuscope serve``'s option."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gpuscope.measurement.job_energy import JOB_KEEP_MIN_S, JOB_KEEP_S, JobUse
from gpuscope.sinks.job_metrics import JobCollector
from gpuscope.telemetry.model import EnergySource
from tests.test_exporter import scrape, value

ALONE = JobUse(
    job="slurm:101", user="alice", device_id="nvidia:0", energy_j=2500.0,
    energy_source=EnergySource.COUNTER, held_s=10.0, alone_s=10.0, busy_s=8.0, activity_s=10.0,
    sm_active_s=9.5, tensor_active_s=7.0, processes=2, started_s=1.7e9, last_seen_s=100.0,
    last_seen_unix_s=1.7e9 + 3600,
)  # fmt: skip
SHARED = JobUse(
    job="pod:0b5a7c1e-1111-2222-3333-444455556666", user="bob", device_id="nvidia:1",
    estimate_j=120.0, held_s=4.0, processes=0, last_seen_s=90.0,
)  # fmt: skip


def registry_of(uses: list[JobUse], host: str = "hostA") -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JobCollector(lambda: uses, host))
    return registry


def test_a_jobs_figures_in_base_units_labelled_host_job_user_device() -> None:
    series = scrape(registry_of([ALONE]))
    at = {"host": "hostA", "job": "slurm:101", "user": "alice", "device": "nvidia:0"}
    energy = value(series, "gpuscope_job_energy_joules_total", energy_source="counter", **at)
    assert energy == 2500.0
    assert value(series, "gpuscope_job_gpu_seconds_total", **at) == 10.0
    assert value(series, "gpuscope_job_gpu_alone_seconds_total", **at) == 10.0
    assert value(series, "gpuscope_job_gpu_busy_seconds_total", **at) == 8.0
    assert value(series, "gpuscope_job_activity_seconds_total", **at) == 10.0
    assert value(series, "gpuscope_job_sm_active_seconds_total", **at) == 9.5
    assert value(series, "gpuscope_job_tensor_active_seconds_total", **at) == 7.0
    assert value(series, "gpuscope_job_processes", **at) == 2
    assert value(series, "gpuscope_job_start_time_seconds", **at) == 1.7e9
    assert value(series, "gpuscope_job_last_seen_time_seconds", **at) == 1.7e9 + 3600
    for samples in series.values():
        for labels in samples:
            names = {name for name, _ in labels}
            assert {"host", "job", "user", "device"} <= names and "pid" not in names


def test_what_was_never_measured_is_absent_never_zero() -> None:
    series = scrape(registry_of([SHARED]))
    at = {"job": SHARED.job, "device": "nvidia:1"}
    energy = series["gpuscope_job_energy_joules_total"]
    assert [dict(k)["energy_source"] for k in energy] == ["estimate"]  # never charged alone
    assert value(series, "gpuscope_job_energy_joules_total", **at) == 120.0
    assert value(series, "gpuscope_job_gpu_seconds_total", **at) == 4.0
    assert value(series, "gpuscope_job_gpu_alone_seconds_total", **at) == 0.0  # measured: 0 s
    assert value(series, "gpuscope_job_processes", **at) == 0  # ended, kept until dropped
    for absent in (
        "gpuscope_job_gpu_busy_seconds_total",  # no utilization
        "gpuscope_job_activity_seconds_total",  # no GPM sampled
        "gpuscope_job_sm_active_seconds_total",
        "gpuscope_job_tensor_active_seconds_total",
        "gpuscope_job_start_time_seconds",  # /proc did not say
    ):
        assert absent not in series, absent


def test_both_parts_of_a_jobs_energy_are_series_of_their_own() -> None:
    both = JobUse(
        job="user:carol", user="carol", device_id="nvidia:0", energy_j=50.0,
        energy_source=EnergySource.INTEGRATED, estimate_j=30.0, held_s=2.0, alone_s=1.0,
    )  # fmt: skip
    energy = scrape(registry_of([both]))["gpuscope_job_energy_joules_total"]
    assert {dict(k)["energy_source"]: v for k, v in energy.items()} == {
        "integrated": 50.0,
        "estimate": 30.0,
    }


def test_label_values_are_made_printable() -> None:
    odd = JobUse(job="user:\x1b]0;evil\x07x\ny", user="\x1b[2Jeve", device_id="nvidia:0")
    series = scrape(registry_of([odd], host="host\tA"))
    (labels,) = series["gpuscope_job_gpu_seconds_total"]
    want = {"host": "host A", "job": "user:x y", "user": "eve", "device": "nvidia:0"}
    assert dict(labels) == want


def test_no_jobs_no_series() -> None:
    series = scrape(registry_of([]))
    assert not any(samples for samples in series.values())


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed (Debian: prometheus)"
)
def test_output_passes_promtool() -> None:
    text = generate_latest(registry_of([ALONE, SHARED]))
    done = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == b"" and done.stderr.strip() == b""  # no lint warnings either


@pytest.mark.parametrize("retention", ["-1", "nan", "inf", "soon", "0", "9.5"])
def test_bad_job_retention_is_one_line_and_exit_2(retention: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gpuscope", "serve", "--job-retention", retention],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("gpuscope serve: ") and done.stderr.count("\n") == 1
    assert "--job-retention" in done.stderr


def test_serve_help_states_the_ledgers_retention() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gpuscope", "serve", "--help"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert f"(default {JOB_KEEP_S:g}, at least {JOB_KEEP_MIN_S:g}:" in " ".join(done.stdout.split())
