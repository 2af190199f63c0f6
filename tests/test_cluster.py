"""Energy per job across a cluster, through the real engine (issue 25): a real Prometheus scrapes
two ``gpuscope serve`` standing in for two nodes, each on fake GPUs whose processes are real
``sleep`` processes in real Slurm-layout cgroups. Job 101 runs on both nodes' GPU 0, job 202 on
hostA's GPU 1; job 202 ends first, then job 101.

PromQL's energy per job equals the stand-in power x the GPU-seconds Prometheus holds for it,
a job's energy stays (and stops growing) after its processes exit, and no series names a pid.
``cluster(tmp_path)`` is the scenario as a context manager, for other checks of the same
Prometheus (``gpuscope jobs --prometheus``)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gpuscope.telemetry.nvidia import ENERGY_PERIOD_S
from tests.real_cgroups import RealCgroups, real_cgroups, writable_hierarchy
from tests.test_exporter import free_port
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "docs" / "prometheus-rules.yml"
POWER_W = {"nvidia:0": 250.0, "nvidia:1": 90.0}  # tests/fakes/serve_with_fakes.py's stand-ins
JOB_101, JOB_202 = "slurm:101", "slurm:202"
HOSTS = ("hostA", "hostB")
# (job, cgroup, host, GPU index): job 101 on both hosts' GPU 0, job 202 on hostA's GPU 1
PLACEMENT = (
    (JOB_101, "slurm/uid_0/job_101/step_0", "hostA", 0),
    (JOB_101, "slurm/uid_0/job_101/step_0", "hostB", 0),
    (JOB_202, "slurm/uid_0/job_202/step_0", "hostA", 1),
)
RAN_S = 1.5  # GPU-seconds each job holds at least before it is ended
INTERVAL_S = 0.2  # each exporter's --interval
# after a job's last process left, its energy grows once more: the part since the GPU's last
# energy-counter read is added when the next read settles it (at most ENERGY_PERIOD_S later)
SETTLE_S = ENERGY_PERIOD_S + 2 * INTERVAL_S
WAIT_S = 20.0  # any one wait: Prometheus and two exporters starting on a loaded 2-core machine

HIERARCHY, NO_CGROUPS = writable_hierarchy()
pytestmark = [
    pytest.mark.skipif(HIERARCHY is None, reason=NO_CGROUPS),
    pytest.mark.skipif(
        shutil.which("prometheus") is None, reason="prometheus not installed (Debian: prometheus)"
    ),
]


def query(url: str, promql: str) -> list[dict[str, Any]]:
    """The instant vector ``promql`` gives now; [] while Prometheus cannot answer yet."""
    address = f"{url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    try:
        with urllib.request.urlopen(address, timeout=5) as response:
            answer = json.loads(response.read())
    except (OSError, ValueError):
        return []
    return list(answer.get("data", {}).get("result", []))


def by_job(url: str, promql: str) -> dict[str, float]:
    """``sum by (job) (promql)`` as {job: value}."""
    return {
        r["metric"]["job"]: float(r["value"][1])
        for r in query(url, f"sum by (job) ({promql})")
        if "job" in r["metric"]
    }


@dataclass
class Cluster:
    """The running scenario: Prometheus at ``url``, the two exporters, the jobs' processes."""

    url: str
    processes_files: dict[str, Path]
    exporters: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    sleepers: dict[tuple[str, str, int], subprocess.Popen[bytes]] = field(default_factory=dict)
    prometheus: subprocess.Popen[bytes] | None = None
    prometheus_log: Path | None = None
    started_s: float = 0.0  # time.monotonic() before the first job's process started

    def failed(self) -> str | None:
        """Why a wait can never succeed: an exporter or Prometheus exited (with its stderr)."""
        for host, process in self.exporters.items():
            if process.poll() is not None:
                stderr = process.stderr.read() if process.stderr else ""
                return f"gpuscope serve ({host}) exited, code {process.returncode}: {stderr}"
        if self.prometheus is not None and self.prometheus.poll() is not None:
            log = self.prometheus_log.read_text()[-2000:] if self.prometheus_log else ""
            return f"prometheus exited, code {self.prometheus.returncode}: {log}"
        return None

    def wait(self, done: Callable[[], object], what: str) -> None:
        wait_until(done, what, self.failed, timeout_s=WAIT_S, poll_s=0.1)

    def list_processes(self) -> None:
        """Each host's file lists its running sleepers (written whole, then renamed)."""
        for host, path in self.processes_files.items():
            listed: dict[str, list[list[int]]] = {}
            for (_, where, index), sleeper in self.sleepers.items():
                if where == host and sleeper.poll() is None:
                    listed.setdefault(str(index), []).append([sleeper.pid, 1 << 30])
            partial = path.with_suffix(".partial")
            partial.write_text(json.dumps(listed))
            partial.replace(path)

    def end(self, job: str) -> float:
        """The job's processes leave the GPUs and exit, as a job ending does. Returns once
        Prometheus has scraped the job ended and its energy settled (``SETTLE_S`` later): the
        ``time.monotonic()`` its processes left the GPUs' lists."""
        ending = [s for (j, _, _), s in self.sleepers.items() if j == job]
        for sleeper in ending:
            sleeper.send_signal(signal.SIGKILL)
            sleeper.wait()
        self.list_processes()
        left_s = time.monotonic()
        settled_s = time.time() + SETTLE_S  # Prometheus stamps samples with wall-clock time
        stamps = f'timestamp(gpuscope_job_energy_joules_total{{job="{job}"}})'
        self.wait(
            lambda: (
                self.ended(job)
                and all(float(r["value"][1]) >= settled_s for r in query(self.url, stamps))
            ),
            f"Prometheus seeing {job} ended and its energy settled",
        )
        return left_s

    def gpu_seconds(self, job: str) -> dict[tuple[str, str], float]:
        """(host, device) -> GPU-seconds Prometheus holds for ``job``."""
        found = query(self.url, f'gpuscope_job_gpu_seconds_total{{job="{job}"}}')
        return {(r["metric"]["host"], r["metric"]["device"]): float(r["value"][1]) for r in found}

    def expected_energy_j(self) -> dict[str, float]:
        """Per job: the sum over its (host, device) of stand-in power x its GPU-seconds."""
        return {
            job: sum(POWER_W[device] * s for (_, device), s in self.gpu_seconds(job).items())
            for job in (JOB_101, JOB_202)
        }

    def ended(self, job: str) -> bool:
        """Prometheus has scraped ``job`` with no process left on any of its devices."""
        found = query(self.url, f'gpuscope_job_processes{{job="{job}"}}')
        hosts = {host for j, _, host, _ in PLACEMENT if j == job}
        return {r["metric"]["host"] for r in found} == hosts and all(
            float(r["value"][1]) == 0 for r in found
        )


def _prometheus_config(tmp_path: Path, ports: dict[str, int]) -> Path:
    targets = ", ".join(f"'127.0.0.1:{port}'" for port in ports.values())
    rules = f"rule_files: ['{RULES}']\n" if RULES.exists() else ""
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 500ms\n  evaluation_interval: 500ms\n"
        f"{rules}"
        "scrape_configs:\n  - job_name: gpuscope\n    honor_labels: true\n"
        f"    static_configs:\n      - targets: [{targets}]\n"
    )
    return config


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


@contextlib.contextmanager
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """Starts the jobs, both exporters and Prometheus; yields once Prometheus has seen every
    job on every device it runs on for ``RAN_S``; stops and removes everything on exit."""
    assert HIERARCHY is not None, NO_CGROUPS
    ports = {host: free_port() for host in HOSTS}
    prometheus_port = free_port()
    state = Cluster(
        url=f"http://127.0.0.1:{prometheus_port}",
        processes_files={host: tmp_path / f"processes-{host}.json" for host in ports},
        prometheus_log=tmp_path / "prometheus.log",
    )
    with real_cgroups(HIERARCHY) as cgroups, contextlib.ExitStack() as stack:
        _start_jobs(state, cgroups, stack)
        for host, port in ports.items():
            env = {**os.environ, "GPUSCOPE_FAKE_PROCESSES": str(state.processes_files[host])}
            state.exporters[host] = subprocess.Popen(
                [sys.executable, "-m", "tests.fakes.serve_with_fakes", "serve", "--listen",
                 f"127.0.0.1:{port}", "--host-label", host, "--interval", str(INTERVAL_S)],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            stack.callback(_stop, state.exporters[host])
        log = stack.enter_context(open(tmp_path / "prometheus.log", "wb"))
        state.prometheus = subprocess.Popen(
            ["prometheus", f"--config.file={_prometheus_config(tmp_path, ports)}",
             f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{prometheus_port}"],
            stdout=log, stderr=log,
        )  # fmt: skip
        stack.callback(_stop, state.prometheus)
        placed = {(job, host, f"nvidia:{index}") for job, _, host, index in PLACEMENT}
        state.wait(
            lambda: (
                {
                    (job, host, device)
                    for job in (JOB_101, JOB_202)
                    for (host, device), s in state.gpu_seconds(job).items()
                    if s >= RAN_S
                }
                == placed
            ),
            f"Prometheus holding {RAN_S:g} GPU-seconds of every job on every device",
        )
        yield state


def _start_jobs(state: Cluster, cgroups: RealCgroups, stack: contextlib.ExitStack) -> None:
    """A ``sleep`` per placement, moved into its job's cgroup before any GPU lists it."""
    state.started_s = time.monotonic()
    for job, layout, host, index in PLACEMENT:
        sleeper = subprocess.Popen(["sleep", "120"])
        stack.callback(_kill, sleeper)  # runs before the cgroups go: they must be empty
        cgroups.move(sleeper.pid, layout)
        state.sleepers[(job, host, index)] = sleeper
    state.list_processes()


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()


def test_energy_per_job_across_two_nodes_through_prometheus(tmp_path: Path) -> None:
    with cluster(tmp_path) as state:
        url = state.url
        assert set(by_job(url, "gpuscope_job_gpu_seconds_total")) == {JOB_101, JOB_202}
        ran_202_s = state.end(JOB_202) - state.started_s
        assert RAN_S <= sum(state.gpu_seconds(JOB_202).values()) <= ran_202_s  # the clock's
        after_202 = by_job(url, "gpuscope_job_energy_joules_total")[JOB_202]
        held_101 = sum(state.gpu_seconds(JOB_101).values())
        state.wait(
            lambda: sum(state.gpu_seconds(JOB_101).values()) >= held_101 + 2 * RAN_S,
            "job 101 running on after job 202 ended",
        )
        state.end(JOB_101)

        energy = by_job(url, "gpuscope_job_energy_joules_total")
        expected = state.expected_energy_j()
        for job in (JOB_101, JOB_202):
            assert energy[job] == pytest.approx(expected[job], rel=0.02), job
        # job 202 ended a while ago: its energy is still there and did not grow
        assert energy[JOB_202] == after_202
        sources = {
            (r["metric"]["job"], r["metric"]["device"], r["metric"]["energy_source"])
            for r in query(url, "gpuscope_job_energy_joules_total")
        }
        assert sources == {
            (JOB_101, "nvidia:0", "counter"),  # both hosts' GPU 0 have an energy counter
            (JOB_202, "nvidia:1", "integrated"),  # GPU 1 has none
        }
        assert {r["metric"]["user"] for r in query(url, "gpuscope_job_processes")} == {"root"}
        assert query(url, '{__name__=~"gpuscope_.+", pid!=""}') == []
        # the devices' own series from both nodes beside the jobs': power and the energy counter
        assert {r["metric"]["host"] for r in query(url, "gpuscope_power_watts")} == set(HOSTS)
        counters = query(url, 'gpuscope_energy_joules_total{device="nvidia:0"}')
        assert {r["metric"]["host"] for r in counters} == set(HOSTS)
        # the recording rules, evaluated by the same engine, give the same energy per job
        rule = "job_user:gpuscope_job_energy_joules_total:sum"
        state.wait(lambda: by_job(url, rule) == energy, f"{rule} evaluated on the final figures")
        # and gpuscope jobs, asked of this Prometheus, prints the same figures
        jobs = subprocess.run(
            [sys.executable, "-m", "gpuscope", "jobs", "--prometheus", url, "--json"],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert jobs.returncode == 0 and jobs.stderr == "", jobs.stderr
        rows = {row["job"]: row for row in json.loads(jobs.stdout)}
        assert set(rows) == {JOB_101, JOB_202}
        for job in (JOB_101, JOB_202):
            assert rows[job]["energy_j"] == pytest.approx(energy[job], rel=1e-9), job
            assert rows[job]["gpu_seconds"] == pytest.approx(sum(state.gpu_seconds(job).values()))
            assert (rows[job]["user"], rows[job]["processes"]) == ("root", 0)
        assert rows[JOB_101]["devices"] == ["hostA:nvidia:0", "hostB:nvidia:0"]
        assert rows[JOB_202]["devices"] == ["hostA:nvidia:1"]
        assert rows[JOB_202]["energy_sources"] == ["integrated"]
        # an ended job's running time stops where it ended: its start to its last sight
        assert 0.8 * RAN_S <= rows[JOB_202]["running_s"] <= ran_202_s + 1.0
