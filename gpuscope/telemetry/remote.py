"""Devices on other machines, read from their ``gpuscope serve`` exporters' ``/metrics``.

Each remote host has a poller thread that fetches and parses its exposition; the ``Device``
objects it offers only return the last parsed reading, so the sampler never waits on a network.
A host that stops answering is "unreachable since" a wall-clock time and is retried every
period; its devices then read as all-unsupported (``None``), never as zeros.

Everything read from a host is bounded: the fetch (``remote_fetch``: body size, one deadline),
the parse (``exposition``: at most ``MAX_DEVICES`` devices), and what a host is remembered by
(the devices it has offered, at most ``MAX_DEVICES`` over its whole life, since each one
offered stays in the sampler). Any exception in a poll is that poll's error, never the
poller's end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from gpuscope.telemetry.exposition import MAX_DEVICES, parse_exposition
from gpuscope.telemetry.model import DeviceInfo, Reading, Vendor
from gpuscope.telemetry.remote_fetch import (
    FETCH_DEADLINE_S,
    describe_fetch_error,
    http_get,
    http_url,
)

STALE_AFTER_PERIODS = 3
POLL_CPU_SHARE_INVERSE = 10  # a poller keeps to ~1/10 of a core, whatever a host sends
MAX_PSTATE = 32  # NVML's P0-P15 and "unknown" 32; anything else is not a P-state


def check_url(text: str) -> str:
    """``http://host:9400`` -> ``http://host:9400/metrics``; ValueError with a one-line reason."""
    parts = http_url(text, "--remote")
    path = parts.path if parts.path not in ("", "/") else "/metrics"
    return f"{parts.scheme}://{parts.netloc}{path}"


def reading_from(info: DeviceInfo, values: dict[str, float], now_s: float) -> Reading:
    """A reading from parsed figures (all finite); one that cannot be a P-state reads n/a."""
    fields = dict(values)
    util = fields.pop("util", None)
    pstate = fields.pop("pstate", None)
    if info.vendor is Vendor.CPU:
        fields["util_cpu_pct"] = util  # type: ignore[assignment]
    else:
        fields["util_gpu_pct"] = util  # type: ignore[assignment]
    valid_pstate = pstate is not None and pstate.is_integer() and 0 <= pstate <= MAX_PSTATE
    return Reading(
        time_s=now_s,
        wall_time_s=time.time(),
        pstate=int(pstate) if valid_pstate and pstate is not None else None,
        **fields,  # type: ignore[arg-type]
    )


class RemoteHost:
    """Polls one exporter on its own thread. Every public method is cheap and thread-safe."""

    def __init__(
        self,
        url: str,
        period_s: float = 1.0,
        fetch: Callable[[str, float], str] | None = None,
        max_devices: int = MAX_DEVICES,
    ) -> None:
        self.url = check_url(url)
        self.period_s = period_s
        self.max_devices = max_devices
        self._fetch = fetch or http_get
        self._lock = threading.Lock()
        self._offered: dict[str, DeviceInfo] = {}  # every device shown, <= max_devices
        self._values: dict[str, dict[str, float]] = {}  # the last answer's, offered devices
        self._last_ok_s: float | None = None
        self._failing_since_wall: float | None = time.time()  # until the first answer
        self.error: str | None = "not reached yet"
        self.note: str | None = None  # e.g. devices left out over the cap
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"remote {self.url}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def poll_once(self) -> None:
        """Fetch and parse once. Never raises: whatever goes wrong (a refused connection, a
        non-HTTP answer, a body cut short, memory) is this poll's ``error``, and the next poll
        tries again."""
        try:
            text = self._fetch(self.url, FETCH_DEADLINE_S)
            with self._lock:
                known = set(self._offered)
            found = parse_exposition(text, known, self.max_devices)
            del text
            with self._lock:
                for key, device in found.devices.items():
                    self._offered[key] = device.info
                self._values = {key: device.values for key, device in found.devices.items()}
                self.note = (
                    f"{found.not_kept} device(s) not shown: at most {self.max_devices} a host"
                    if found.not_kept
                    else None
                )
                self._last_ok_s = time.monotonic()
                self._failing_since_wall = None
                self.error = None
        except Exception as exc:  # one bad answer costs one poll, never the poller
            error = describe_fetch_error(exc)
            with self._lock:
                if self._failing_since_wall is None:
                    self._failing_since_wall = time.time()
                self.error = error

    def _run(self) -> None:
        while not self._stop.is_set():
            cpu_s = time.thread_time()
            self.poll_once()
            cpu_s = time.thread_time() - cpu_s  # a huge answer waits longer for the next poll
            self._stop.wait(max(self.period_s, POLL_CPU_SHARE_INVERSE * cpu_s))

    def devices(self) -> list[DeviceInfo]:
        """Every device this host has offered (at most ``max_devices``), first seen first."""
        with self._lock:
            return list(self._offered.values())

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
        """The newest reading of a device; all ``None`` while the host is unreachable or its
        last answer did not have the device."""
        reachable = self.unreachable_since() is None
        with self._lock:
            info = self._offered.get(device_id)
            values = self._values.get(device_id)
        if info is None or values is None or not reachable:
            return Reading(time_s=now_s, wall_time_s=time.time())
        return reading_from(info, values, now_s)


@dataclass
class RemoteDevice:
    """A ``Device`` whose read returns what its host's poller last parsed (no I/O). ``key``:
    the device's id in its host's answers, where the id shown differs (``RemoteHosts``)."""

    host: RemoteHost
    info: DeviceInfo
    key: str | None = None

    def read(self, now_s: float, exact_energy: bool = False) -> Reading:
        return self.host.reading(self.key or self.info.device_id, now_s)
