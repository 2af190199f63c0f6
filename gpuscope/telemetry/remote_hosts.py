"""A set of remote hosts (``--remote``): who does not answer, what their panels should say, and
devices seen for the first time. Every method is cheap: no network on the caller's thread."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gpuscope.telemetry.remote import RemoteDevice, RemoteHost, remote_devices


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

    def __init__(self, urls: Sequence[str], period_s: float) -> None:
        self.hosts = [RemoteHost(url, period_s=period_s) for url in urls]

    def start(self) -> None:
        for host in self.hosts:
            host.start()

    def stop(self) -> None:
        for host in self.hosts:
            host.stop()

    def new_devices(self, known: Iterable[str]) -> list[RemoteDevice]:
        seen = list(known)
        found = []
        for host in self.hosts:
            added = remote_devices(host, seen)
            seen.extend(d.info.device_id for d in added)
            found.extend(added)
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
                notices[info.device_id] = notice
        return notices
