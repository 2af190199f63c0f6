"""Devices on other machines, read from their ``gpuscope serve`` exporters' ``/metrics``.

Each remote host has a poller thread that fetches and parses its exposition; the ``Device``
objects it offers only return the last parsed reading, so the sampler never waits on a network.
A host that stops answering is "unreachable since" a wall-clock time and is retried every
period; its devices then read as all-unsupported (``None``), never as zeros.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

from gpuscope.telemetry.exported_metrics import (
    CLOCK,
    DEVICE_INFO,
    PREFIX,
    UTILIZATION,
    reading_fields,
)
from gpuscope.telemetry.model import DeviceInfo, Reading, Vendor

FETCH_TIMEOUT_S = 2.0
STALE_AFTER_PERIODS = 3

_FIELDS = reading_fields()  # exporter sample name -> (Reading field, factor back)


def check_url(text: str) -> str:
    """``http://host:9400`` -> ``http://host:9400/metrics``; ValueError with a one-line reason."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--remote wants an http(s)://HOST:PORT URL, got {text!r}")
    try:
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        raise ValueError(f"--remote: bad port in {text!r}") from None
    path = parts.path if parts.path not in ("", "/") else "/metrics"
    return f"{parts.scheme}://{parts.netloc}{path}"


@dataclass
class ParsedDevice:
    info: DeviceInfo
    values: dict[str, float] = field(default_factory=dict)  # Reading field -> value


def parse_exposition(text: str) -> dict[str, ParsedDevice]:
    """The exporter's text -> remote devices by their remote id (``host/device``)."""
    infos: dict[str, DeviceInfo] = {}
    values: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if "host" not in labels or "device" not in labels:
                continue
            key = f"{labels['host']}/{labels['device']}"
            fields = values.setdefault(key, {})
            if sample.name == PREFIX + DEVICE_INFO:
                infos[key] = _info(key, labels)
            elif sample.name == PREFIX + UTILIZATION:
                fields["util"] = sample.value * 100
            elif sample.name == PREFIX + CLOCK:
                name = "clock_core_mhz" if labels.get("clock") == "core" else "clock_mem_mhz"
                fields[name] = sample.value / 1e6
            elif sample.name in _FIELDS:
                name, factor = _FIELDS[sample.name]
                fields[name] = sample.value * factor
    return {key: ParsedDevice(info, values.get(key, {})) for key, info in infos.items()}


def _info(key: str, labels: dict[str, str]) -> DeviceInfo:
    vendor = Vendor(labels.get("vendor", "cpu"))
    index = labels["device"].rpartition(":")[2]
    return DeviceInfo(
        device_id=key,
        vendor=vendor,
        index=int(index) if index.isdigit() else 0,
        name=labels.get("name", key),
        uuid=labels.get("uuid") or None,
        pci_bus_id=labels.get("pci") or None,
        driver=labels.get("driver") or None,
    )


def reading_from(parsed: ParsedDevice, now_s: float) -> Reading:
    fields = dict(parsed.values)
    util = fields.pop("util", None)
    pstate = fields.pop("pstate", None)
    if parsed.info.vendor is Vendor.CPU:
        fields["util_cpu_pct"] = util  # type: ignore[assignment]
    else:
        fields["util_gpu_pct"] = util  # type: ignore[assignment]
    return Reading(
        time_s=now_s,
        wall_time_s=time.time(),
        pstate=None if pstate is None else int(pstate),
        **fields,  # type: ignore[arg-type]
    )


class RemoteHost:
    """Polls one exporter on its own thread. Every public method is cheap and thread-safe."""

    def __init__(
        self,
        url: str,
        period_s: float = 1.0,
        fetch: Callable[[str, float], str] | None = None,
    ) -> None:
        self.url = check_url(url)
        self.period_s = period_s
        self._fetch = fetch or _http_get
        self._lock = threading.Lock()
        self._devices: dict[str, ParsedDevice] = {}
        self._last_ok_s: float | None = None
        self._failing_since_wall: float | None = time.time()  # until the first answer
        self.error: str | None = "not reached yet"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"remote {self.url}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def poll_once(self) -> None:
        try:
            parsed = parse_exposition(self._fetch(self.url, FETCH_TIMEOUT_S))
        except (OSError, ValueError, urllib.error.URLError) as exc:
            with self._lock:
                if self._failing_since_wall is None:
                    self._failing_since_wall = time.time()
                self.error = _one_line(exc)
            return
        with self._lock:
            self._devices = parsed
            self._last_ok_s = time.monotonic()
            self._failing_since_wall = None
            self.error = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self.period_s)

    def devices(self) -> list[DeviceInfo]:
        with self._lock:
            return [p.info for p in self._devices.values()]

    def unreachable_since(self) -> float | None:
        """Wall time since when the host has not answered (or its answers are stale), else None."""
        with self._lock:
            stale = self._last_ok_s is not None and (
                time.monotonic() - self._last_ok_s > STALE_AFTER_PERIODS * self.period_s + 1
            )
            if self._failing_since_wall is not None:
                return self._failing_since_wall
            return time.time() if stale else None

    def reading(self, device_id: str, now_s: float) -> Reading:
        """The newest reading of a device; all ``None`` while the host is unreachable."""
        reachable = self.unreachable_since() is None
        with self._lock:
            parsed = self._devices.get(device_id)
        if parsed is None or not reachable:
            return Reading(time_s=now_s, wall_time_s=time.time())
        return reading_from(parsed, now_s)


@dataclass
class RemoteDevice:
    """A ``Device`` whose read returns what its host's poller last parsed (no I/O)."""

    host: RemoteHost
    info: DeviceInfo

    def read(self, now_s: float) -> Reading:
        return self.host.reading(self.info.device_id, now_s)


def remote_devices(host: RemoteHost, known: Iterable[str]) -> list[RemoteDevice]:
    """Devices the host has that are not in ``known`` yet."""
    seen = set(known)
    notes = (f"not in {host.url}",)  # why a remote figure is n/a: its exporter did not send it
    return [
        RemoteDevice(host, replace(info, notes=notes))
        for info in host.devices()
        if info.device_id not in seen
    ]


def _http_get(url: str, timeout_s: float) -> str:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return str(response.read().decode())


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and exc.reason:
        return str(exc.reason)
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
