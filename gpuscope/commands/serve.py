"""``gpuscope serve``: a Prometheus exporter on the same sampler as ``record`` and the UI.

Listens on 127.0.0.1:9400 unless told otherwise: exposing device telemetry to a network is a
choice the user makes with ``--listen``. Stops on Ctrl-C, SIGTERM or SIGHUP.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import sys
import threading
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, start_http_server

from gpuscope.commands.selection import selected_devices
from gpuscope.commands.signals import stop_on_signals
from gpuscope.errors import RunFailure, UsageError
from gpuscope.sampler import Sampler, check_interval
from gpuscope.sinks.prometheus import TelemetryCollector
from gpuscope.telemetry.discover import parse_selectors

DEFAULT_LISTEN = "127.0.0.1:9400"


@dataclass(frozen=True, slots=True)
class ServeOptions:
    listen: str = DEFAULT_LISTEN
    interval_s: float = 1.0
    devices: str = "all"
    host_label: str | None = None  # default: this machine's host name


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


def run_serve(options: ServeOptions) -> int:
    try:
        host, port = parse_listen(options.listen)
        check_interval(options.interval_s)
        selectors = parse_selectors(options.devices)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with selected_devices(selectors) as (_, devices):
        sampler = Sampler(devices, options.interval_s)
        registry = CollectorRegistry(auto_describe=False)
        label = options.host_label or socket.gethostname()
        registry.register(TelemetryCollector(sampler, [d.info for d in devices], label))
        try:
            server, _ = start_http_server(port, host, registry)
        except OSError as exc:
            raise RunFailure(describe_listen_error(options.listen, exc)) from None
        sampler.start()
        print(
            f"gpuscope serve: {len(devices)} device(s) at http://{options.listen}/metrics "
            "(Ctrl-C stops)",
            file=sys.stderr,
            flush=True,
        )
        stop = threading.Event()
        with stop_on_signals(stop.set):
            while not stop.is_set() and sampler.error is None:
                stop.wait(0.5)
        server.shutdown()
        server.server_close()
        sampler.stop()
    if sampler.error is not None:
        raise RunFailure(f"sampling stopped: {sampler.error}")
    return 0


def describe_listen_error(listen: str, exc: OSError, doing: str = "listen on") -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"cannot {doing} {listen}: the port is in use (another gpuscope serve?)"
    if exc.errno == errno.EACCES:
        return f"cannot {doing} {listen}: permission denied (ports below 1024 need root)"
    return f"cannot {doing} {listen}: {exc.strerror or exc}"
