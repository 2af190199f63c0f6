"""``gpuscope jobs``: this host's jobs through a real subprocess on a fake NVML that lists a real
process (its owner read from this host's /proc), and the cluster's through ``--prometheus``
against a small local HTTP server answering what a real Prometheus's ``/api/v1/query`` does."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from gpuscope.cli import main
from gpuscope.commands.job_rows import CLUSTER_QUERIES, rows_from_uses
from gpuscope.commands.jobs_output import FIELDS, row_dict, table
from gpuscope.measurement.job_energy import JobUse
from gpuscope.telemetry import prometheus_api
from gpuscope.telemetry.job_owner import read_owner
from gpuscope.telemetry.model import EnergySource
from tests.fakes.jobs_with_fakes import POWER_W
from tests.waiting import exited, wait_until

ROOT = Path(__file__).resolve().parents[1]
RUNNER = [sys.executable, "-m", "tests.fakes.jobs_with_fakes", "jobs"]
STAMP = 1765112345.123  # Prometheus's evaluation time, as its answers carry it

# -- table rows from JobUse, as the ledger hands them -------------------------------------------


def test_a_jobs_devices_are_summed_into_one_row_with_its_sources_and_n_a_where_unknown() -> None:
    uses = [
        JobUse("slurm:7", "alice", "nvidia:0", energy_j=500.0, energy_source=EnergySource.COUNTER,
               held_s=2.0, alone_s=2.0, busy_s=1.0, activity_s=2.0, sm_active_s=1.5,
               tensor_active_s=0.5, processes=1, started_s=1000.0),
        JobUse("slurm:7", "alice", "nvidia:1", estimate_j=100.0, held_s=2.0, processes=2,
               started_s=940.0),
        JobUse("user:bob", "bob", "nvidia:1", estimate_j=0.0, held_s=2.0, processes=1),
    ]  # fmt: skip
    alice, bob = rows_from_uses(uses, now_s=1060.0, sampled_s=2.0)
    assert alice.devices == ("nvidia:0", "nvidia:1")
    assert alice.energy_j == 600.0 and alice.power_w == 300.0
    assert alice.energy_sources == ("counter", "estimate")
    assert alice.running_s == 120.0  # from the earliest process's start
    assert alice.gpu_seconds == 4.0 and alice.processes == 3
    assert alice.busy_pct == 50.0  # busy over the seconds it held a device alone
    assert (alice.sm_active_pct, alice.tensor_active_pct) == (75.0, 25.0)
    # charged nothing (shared without SM shares), no busy, no GPM, no start: n/a, never 0
    assert (bob.energy_j, bob.power_w, bob.busy_pct, bob.sm_active_pct) == (None,) * 4
    assert bob.running_s is None and bob.energy_sources == ()
    assert row_dict(bob)["tensor_active_pct"] is None
    assert (alice.uncharged, bob.uncharged) == ((), ("nvidia:1",))  # held, charged nothing
    lines = table([alice, bob]).splitlines()
    assert lines[0].split()[:4] == ["job", "user", "devices", "running"]
    assert "600 J" in lines[1] and "300 W" in lines[1] and "counter, estimate" in lines[1]
    assert lines[2].split()[3:] == ["n/a"] * 4 + ["2.0", "s"] + ["n/a"] * 3 + ["1"]


def test_percentages_are_written_to_a_hundredth() -> None:
    use = JobUse("slurm:7", "alice", "nvidia:0", held_s=3.0, alone_s=3.0, busy_s=2.4000000000000004)
    (row,) = rows_from_uses([use], now_s=0.0, sampled_s=3.0)
    assert row_dict(row)["busy_pct"] == 80.0


def test_outside_names_are_printed_as_one_safe_line() -> None:
    use = JobUse("pod:\x1b]0;owned\x07x", "ev\x1b[2Jil\nuser", "nvidia:0", processes=1)
    text = table(rows_from_uses([use], now_s=0.0, sampled_s=2.0))
    assert "\x1b" not in text and "\x07" not in text and len(text.splitlines()) == 2


# -- --prometheus against a local server --------------------------------------------------------


def _vector(*series: tuple[dict[str, str], float]) -> dict[str, Any]:
    """A real ``/api/v1/query`` answer's shape (Prometheus 2.x and 3.x)."""
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": m, "value": [STAMP, repr(v)]} for m, v in series],
        },
    }


A, B = {"job": "slurm:101", "user": "alice"}, {"job": "slurm:102", "user": "bob"}
# Two nodes: slurm:101 on hostA nvidia:0 and hostB nvidia:0 (and hostB nvidia:1, now idle);
# slurm:102 ended on hostA nvidia:1 (its series kept until the exporter drops them).
ANSWERS = {
    "energy": _vector(({**A, "energy_source": "counter"}, 1000.0),
                      ({**A, "energy_source": "estimate"}, 200.0),
                      ({**B, "energy_source": "integrated"}, 500.0)),
    "power": _vector((A, 300.0), (B, 0.0)),
    "processes": _vector(({**A, "host": "hostA", "device": "nvidia:0"}, 2.0),
                         ({**A, "host": "hostB", "device": "nvidia:0"}, 1.0),
                         ({**A, "host": "hostB", "device": "nvidia:1"}, 0.0),
                         ({**B, "host": "hostA", "device": "nvidia:1"}, 0.0)),
    "start": _vector((A, 1_700_000_000.0), (B, 1_699_900_000.0)),
    "last_seen": _vector((A, 1_700_007_260.0), (B, 1_699_990_000.0)),  # B ended: 90,000 s
    "gpu_seconds": _vector((A, 21600.0), (B, 3600.0)),
    "alone": _vector((A, 20000.0), (B, 3600.0)),
    "busy": _vector((A, 15000.0)),
    "activity": _vector((A, 10000.0)),
    "sm_active": _vector((A, 4000.0)),
    "tensor_active": _vector((A, 1000.0)),
    # per device: slurm:101 held hostB nvidia:1 (shared, no SM shares) and was charged nothing
    "held_on": _vector(({**A, "host": "hostA", "device": "nvidia:0"}, 10800.0),
                       ({**A, "host": "hostB", "device": "nvidia:0"}, 10000.0),
                       ({**A, "host": "hostB", "device": "nvidia:1"}, 800.0),
                       ({**B, "host": "hostA", "device": "nvidia:1"}, 3600.0)),
    "charged_on": _vector(({**A, "host": "hostA", "device": "nvidia:0"}, 700.0),
                          ({**A, "host": "hostB", "device": "nvidia:0"}, 500.0),
                          ({**B, "host": "hostA", "device": "nvidia:1"}, 500.0)),
}  # fmt: skip


def _renamed(answer: dict[str, Any]) -> dict[str, Any]:
    """The same answer where Prometheus scraped without honor_labels: job is its scrape job."""
    copied = json.loads(json.dumps(answer))
    for series in copied["data"]["result"]:
        series["metric"]["exported_job"] = series["metric"]["job"]
        series["metric"]["job"] = "gpuscope"
    return copied


class FakePrometheus(ThreadingHTTPServer):
    """Answers ``/api/v1/query`` from ``answers`` (by which of CLUSTER_QUERIES was asked), or
    as ``mode`` says: "500", "html", "huge", "not prometheus"."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers: dict[str, Any] = ANSWERS
        self.mode = "ok"
        self.asked: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakePrometheus

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query).get("query", [""])[0]
        self.server.asked.append(query)
        mode = self.server.mode
        if mode == "500":
            return self._send(500, b"internal error", "text/plain")
        if mode == "html":
            return self._send(200, b"<html><body>Grafana</body></html>", "text/html")
        if mode == "huge":
            return self._send(200, b"[" + b"0," * 4000 + b"0]", "application/json")
        if mode == "not prometheus":
            return self._send(200, b'{"hello": "world"}', "application/json")
        if parts.path != "/api/v1/query":
            return self._send(404, b"404 page not found", "text/plain")
        name = next(n for n, q in CLUSTER_QUERIES.items() if q == query)
        body = json.dumps(self.server.answers[name]).encode()
        self._send(200, body, "application/json")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def prometheus() -> Iterator[FakePrometheus]:
    server = FakePrometheus()
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _jobs(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["jobs", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_cluster_table_sums_hosts_devices_and_sources(
    prometheus: FakePrometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _jobs(capsys, "--prometheus", prometheus.url + "/")
    assert (code, err) == (0, "")
    assert sorted(prometheus.asked) == sorted(CLUSTER_QUERIES.values())
    title, header, alice, bob, uncharged = out.splitlines()
    assert prometheus.url in title and "W between the last two scrapes" in title
    assert title.endswith("(estimate: by SM share)")  # a row has an estimate: the legend
    assert uncharged.startswith("slurm:101: held hostB:nvidia:1, charged nothing there: shared")
    assert header.split()[:3] == ["job", "user", "devices"]
    # active devices only while it runs; every device seen once it has ended
    assert alice.split()[:3] == ["slurm:101", "alice", "hostA:nvidia:0,hostB:nvidia:0"]
    assert "2h01m" in alice and "1.2 kJ" in alice and "counter, estimate" in alice
    assert "300 W" in alice and "6h00m" in alice  # GPU time: 21600 GPU-seconds
    assert alice.split()[-4:] == ["75", "40", "10", "3"]  # busy, SM, tensor %, processes
    assert bob.split()[:3] == ["slurm:102", "bob", "hostA:nvidia:1"]
    assert bob.split()[-4:] == ["n/a", "n/a", "n/a", "0"]


def test_json_and_csv_carry_every_field_with_none_for_n_a(
    prometheus: FakePrometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _jobs(capsys, "--prometheus", prometheus.url, "--json")
    alice, bob = json.loads(out)
    assert code == 0 and tuple(alice) == FIELDS
    assert alice["devices"] == ["hostA:nvidia:0", "hostB:nvidia:0"]
    assert alice["energy_j"] == 1200.0 and alice["energy_sources"] == ["counter", "estimate"]
    assert (alice["power_w"], alice["gpu_seconds"], alice["running_s"]) == (300.0, 21600.0, 7260.0)
    assert (alice["busy_pct"], alice["sm_active_pct"], alice["tensor_active_pct"]) == (
        75.0, 40.0, 10.0,
    )  # fmt: skip
    assert (bob["busy_pct"], bob["sm_active_pct"], bob["processes"]) == (None, None, 0)
    assert (alice["uncharged_devices"], bob["uncharged_devices"]) == (["hostB:nvidia:1"], [])
    code, out, _ = _jobs(capsys, "--prometheus", prometheus.url, "--csv")
    header, first, second = out.splitlines()
    assert code == 0 and header.split(",") == list(FIELDS)
    assert "energy_j" in header and "power_w" in header and "running_s" in header
    assert first.startswith("slurm:101,alice,hostA:nvidia:0 hostB:nvidia:0,7260.0,1200.0,")
    assert second.split(",")[-5:] == ["", "", "", "0", ""]


def test_a_renamed_job_label_is_read_from_exported_job_and_said_once(
    prometheus: FakePrometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    prometheus.answers = {name: _renamed(answer) for name, answer in ANSWERS.items()}
    code, out, err = _jobs(capsys, "--prometheus", prometheus.url, "--json")
    assert code == 0 and [row["job"] for row in json.loads(out)] == ["slurm:101", "slurm:102"]
    assert len(err.splitlines()) == 1 and "exported_job" in err and "honor_labels" in err


def test_a_job_in_two_scrape_jobs_runs_from_its_first_start_to_its_last_sight(
    prometheus: FakePrometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    """Scraped without honor_labels under two scrape jobs, a job arrives in two groups: its
    times are its extremes, not a sum (3600 s and 3590 s printed 7190 s)."""
    answers = {name: _renamed(answer) for name, answer in ANSWERS.items()}
    for name, values in (("start", (1000.0, 1010.0)), ("last_seen", (4600.0, 4590.0))):
        series = [{"metric": {"exported_job": "slurm:101", "job": scrape, "user": "alice"},
                   "value": [0, str(value)]}
                  for scrape, value in zip(("gpus-a", "gpus-b"), values, strict=True)]  # fmt: skip
        answers[name] = {"status": "success", "data": {"resultType": "vector", "result": series}}
    prometheus.answers = answers
    code, out, _ = _jobs(capsys, "--prometheus", prometheus.url, "--json")
    (alice,) = [row for row in json.loads(out) if row["job"] == "slurm:101"]
    assert (code, alice["running_s"]) == (0, 3600.0)


def test_no_jobs_is_one_line_and_exit_0(
    prometheus: FakePrometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    prometheus.answers = {name: _vector() for name in ANSWERS}
    code, out, err = _jobs(capsys, "--prometheus", prometheus.url)
    assert (code, err) == (0, "") and len(out.splitlines()) == 1 and "no jobs" in out
    code, out, err = _jobs(capsys, "--prometheus", prometheus.url, "--json")
    assert (code, json.loads(out)) == (0, []) and "no jobs" in err


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        ("500", "HTTP 500"),
        ("html", "not JSON"),
        ("not prometheus", "not a Prometheus API answer"),
        ("huge", "answer over 1000 bytes: refused"),
    ],
)
def test_every_bad_answer_is_one_line_and_exit_1(
    prometheus: FakePrometheus,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    said: str,
) -> None:
    monkeypatch.setattr(prometheus_api, "ANSWER_MAX_BYTES", 1000)  # "huge" sends 8 KB
    prometheus.mode = mode
    code, out, err = _jobs(capsys, "--prometheus", prometheus.url)
    assert (code, out) == (1, "")
    assert len(err.splitlines()) == 1 and said in err and prometheus.url in err, err
    assert "Traceback" not in err


def test_an_unreachable_prometheus_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as sock:  # a port nobody listens on once it is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, out, err = _jobs(capsys, "--prometheus", f"http://127.0.0.1:{port}")
    assert (code, out) == (1, "") and len(err.splitlines()) == 1 and "unreachable" in err


@pytest.mark.parametrize(
    "args",
    [
        ("--prometheus", "prom:9090"),
        ("--prometheus", "http://prom:99999"),
        ("--prometheus", "http://[::1"),
        ("--prometheus", "http://prom:9090", "--seconds", "3"),
        ("--seconds", "0"),
        ("--seconds", "nan"),
        ("--seconds", "soon"),
        ("--json", "--csv"),
    ],
)
def test_bad_options_are_one_usage_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    try:
        code = main(["jobs", *args])
    except SystemExit as exc:  # argparse's own (a float it cannot read, exclusive options)
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert (code, out) == (2, "") and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "--prometheus" in err or "--prometheus" not in args  # the option it is about


# -- this host, as a user runs it ---------------------------------------------------------------


def _runner(*args: str, pid: int | None = None, **env: str) -> subprocess.Popen[str]:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    if pid is not None:
        environ["GPUSCOPE_FAKE_JOB_PID"] = str(pid)
    return subprocess.Popen(
        [*RUNNER, *args], cwd=ROOT, env=environ, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


@pytest.fixture
def job_process() -> Iterator[subprocess.Popen[str]]:
    """A real process of this host for the fake GPUs to list: its owner is in /proc."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], text=True)
    try:
        yield child
    finally:
        child.kill()
        child.wait()


def test_this_hosts_job_is_its_processes_owner_with_energy_w_and_activity(
    job_process: subprocess.Popen[str],
) -> None:
    owner = read_owner(job_process.pid)
    assert owner is not None
    out, err = _runner("--json", "--seconds", "1", pid=job_process.pid).communicate(timeout=60)
    (row,) = json.loads(out)
    assert (row["job"], row["user"]) == (owner.job, owner.user), err
    assert row["devices"] == ["nvidia:0", "nvidia:1"] and row["processes"] == 2
    assert row["energy_sources"] == ["counter", "integrated"]
    assert row["power_w"] == pytest.approx(sum(POWER_W), rel=0.05)  # both GPUs' power, all its
    assert row["gpu_seconds"] > 0 and row["running_s"] > 0
    assert row["busy_pct"] == pytest.approx(80)
    # GPM on nvidia:0 only: its activity, not diluted by the GPU without it
    assert row["sm_active_pct"] == pytest.approx(60)
    assert row["tensor_active_pct"] == pytest.approx(30)


def test_the_table_says_the_seconds_its_energy_covers(job_process: subprocess.Popen[str]) -> None:
    run = _runner("--seconds", "1", "--devices", "nvidia:0", pid=job_process.pid)
    out, err = run.communicate(timeout=60)
    title, _, row = out.splitlines()
    assert run.returncode == 0 and err == ""
    assert "energy and W over the" in title and "s sampled" in title
    assert "estimate" not in title  # the legend only where a row has an estimate
    assert row.split()[2] == "nvidia:0" and "counter" in row and "250 W" in row


def test_no_jobs_on_this_host_is_one_line_and_exit_0() -> None:
    run = _runner("--seconds", "0.5")
    out, err = run.communicate(timeout=60)
    assert run.returncode == 0 and err == ""
    assert out.startswith("no jobs on this host (") and len(out.splitlines()) == 1
    assert "2 of them list their processes" in out  # the fake GPUs list none; the CPU, nothing


def test_ctrl_c_while_sampling_prints_what_was_measured(
    job_process: subprocess.Popen[str], tmp_path: Path
) -> None:
    listed = tmp_path / "listed"
    run = _runner(
        "--json", "--seconds", "60", pid=job_process.pid, GPUSCOPE_FAKE_LISTED=str(listed)
    )
    wait_until(listed.exists, "the fake GPUs' processes listed", exited(run))
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=30)
    assert run.returncode == 0 and "stopped after" in err and "Traceback" not in err
    (row,) = json.loads(out)
    assert row["processes"] == 2


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ('{"status":"error","errorType":"bad_data","error":"parse error at char 4"}',
         "Prometheus refused the query: parse error at char 4"),
        ('{"status":"success","data":{"resultType":"matrix","result":[]}}', "a matrix answer"),
        ('{"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}}',
         "a malformed series"),
        ('{"status":"success","data":{}}', "no data.result"),
        ("[" * 100_000, "not JSON"),
    ],
)  # fmt: skip
def test_answers_that_are_not_a_vector_are_one_line(body: str, said: str) -> None:
    with pytest.raises(prometheus_api.PrometheusError, match=said) as caught:
        prometheus_api.parse_vector(body, "http://prom:9090")
    assert "\n" not in str(caught.value)


def test_a_nan_sample_is_no_figure() -> None:
    body = json.dumps(_vector(({"job": "x"}, 1.0)))
    found = prometheus_api.parse_vector(body.replace('"1.0"', '"NaN"'), "here")
    assert found == []


def test_the_queries_share_one_deadline() -> None:
    asked: list[float] = []

    def slow(url: str, deadline_s: float, max_bytes: int) -> str:
        asked.append(deadline_s)
        time.sleep(0.05)  # a server that takes its time over every query
        return json.dumps(_vector())

    api = prometheus_api.PrometheusApi("http://prom:9090", deadline_s=10, total_s=0.12, fetch=slow)
    with pytest.raises(prometheus_api.PrometheusError, match=r"no whole answer within 0\.12 s"):
        for _ in range(10):
            api.vector("up")
    assert len(asked) < 10 and asked == sorted(asked, reverse=True) and asked[0] <= 0.12
