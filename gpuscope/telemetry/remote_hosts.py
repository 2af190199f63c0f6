"""A set of remote hosts (``--remote``): who does not answer, what their panels should say, and
devices seen for the first time. Every method is cheap: no network on the caller's thread."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from gpuscope.telemetry.remote import RemoteDevice, RemoteHost


def clock_text(wall_s: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(wall_s))


@dataclass(frozen=True, slots=True)
class Unreachable:
    url: str
    since: str  # local wall-clock time, HH:MM:SS
    why: str
    retry_s: float


class RemoteHosts:
    """One poller per ``--remote`` URL; every method is cheap (no network on the caller's
    thread)."""

    def __init__(
        self, urls: Sequence[str], period_s: float, fetch: Callable[[str, float], str] | None = None
    ) -> None:
        self.hosts = [RemoteHost(url, period_s=period_s, fetch=fetch) for url in urls]
        self._shown: dict[tuple[str, str], str] = {}  # (url, id in its answers) -> id shown

    def start(self) -> None:
        for host in self.hosts:
            host.start()

    def stop(self) -> None:
        for host in self.hosts:
            host.stop()

    def new_devices(self, known: Iterable[str]) -> list[RemoteDevice]:
        """Devices the hosts offer that have not joined yet. A device's id is its exporter's
        ``host/device``; where two exporters use one host label (two containers both called
        ``localhost``), the later one's devices are shown as ``host/device@HOST:PORT``, never
        dropped unseen."""
        seen = set(known)
        found = []
        for host in self.hosts:
            notes = (f"not in {host.url}",)  # why a figure is n/a: its exporter did not send it
            for info in host.devices():
                if (host.url, info.device_id) in self._shown:
                    continue
                shown = info.device_id
                if shown in seen:
                    shown = f"{shown}@{_where(host.url)}"
                if shown in seen:
                    continue  # one URL given twice
                self._shown[host.url, info.device_id] = shown
                seen.add(shown)
                device = replace(info, device_id=shown, notes=notes)
                found.append(RemoteDevice(host, device, key=info.device_id))
        return found

    def unreachable(self) -> list[Unreachable]:
        """Each host that does not answer, and since when (it is retried every period)."""
        found = []
        for host in self.hosts:
            since = host.unreachable_since()
            if since is not None:
                why = host.error or "no recent answer"
                found.append(Unreachable(host.url, clock_text(since), why, host.period_s))
        return found

    def notices(self) -> dict[str, str]:
        """Device id -> what its panel should say: its host does not answer, or sends more
        devices than are shown."""
        notices = {}
        for host in self.hosts:
            since = host.unreachable_since()
            if since is not None:
                notice = f"unreachable since {clock_text(since)}; retrying"
            elif host.note is not None:
                notice = f"{host.url}: {host.note}"
            else:
                continue
            for info in host.devices():
                shown = self._shown.get((host.url, info.device_id))
                if shown is not None:  # not joined: its raw id may be another host's device
                    notices[shown] = notice
        return notices


def _where(url: str) -> str:
    """``HOST:PORT`` of ``url``, without any ``user:password@`` it holds: it becomes part of a
    device's id, shown on panels and written into recordings and reports."""
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    return f"{host}:{parts.port}" if parts.port else str(host)
