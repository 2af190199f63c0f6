"""Starting the Prometheus exporter: its ``HOST:PORT`` option, the server, and a failure to
listen said in one line. ``gpuscope serve`` and the UI's ``--serve`` both start it here; the
server and its limits are ``scrape_server``'s."""

from __future__ import annotations

import errno
import ipaddress
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from gpuscope.measurement.job_energy import JobUse
from gpuscope.measurement.run_result import RunResult
from gpuscope.sampler import Sampler
from gpuscope.sinks.job_metrics import JobCollector
from gpuscope.sinks.prometheus import TelemetryCollector
from gpuscope.sinks.scrape_server import ScrapeServer, ServerLimits
from gpuscope.telemetry.model import DeviceInfo


def parse_listen(text: str, option: str = "--listen") -> tuple[str, int]:
    """``HOST:PORT``, ``[v6]:PORT`` or ``:PORT`` (all interfaces) -> (host, port); ValueError
    naming ``option``."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{option} wants HOST:PORT with a port from 1 to 65535, got {text!r}")
    host = host.strip("[]") or "0.0.0.0"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not host.replace("-", "").replace(".", "").isalnum():
            raise ValueError(f"{option}: {host!r} is not a host name or address") from None
    return host, int(port_text)


def start_exporter(
    address: str,
    port: int,
    sampler: Sampler,
    infos: Sequence[DeviceInfo],
    host: str,
    results: Callable[[], Sequence[RunResult]] | None = None,
    limits: ServerLimits | None = None,
    jobs: Callable[[], Sequence[JobUse]] | None = None,
) -> ScrapeServer:
    """/metrics for ``infos`` (and, given ``results``, workload results; given ``jobs``, the
    job ledger's per-job series) on the sampler's latest samples, served on its own thread;
    OSError if the port cannot be had. Stop it with shutdown + server_close."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TelemetryCollector(sampler, infos, host, results))
    if jobs is not None:
        registry.register(JobCollector(jobs, host))

    def render(accept: str) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept)  # text, or OpenMetrics when asked
        return encoder(registry), content_type

    server = ScrapeServer(address, port, render, limits)
    server.start()
    return server


def describe_listen_error(listen: str, exc: OSError, doing: str = "listen on") -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"cannot {doing} {listen}: the port is in use (another gpuscope serve?)"
    if exc.errno == errno.EACCES:
        return f"cannot {doing} {listen}: permission denied (ports below 1024 need root)"
    return f"cannot {doing} {listen}: {exc.strerror or exc}"
