"""The UI's remote hosts (``--remote``): their status lines, notices and new devices. No widgets
here: the app asks for lines and devices. (Its own exporter, ``--serve``, is
``sinks.exporter.start_exporter``.)"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from textual.markup import escape

from gpuscope.telemetry.remote import RemoteDevice, RemoteHost, remote_devices


def _clock(wall_s: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(wall_s))


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

    def status_lines(self) -> list[str]:
        """A line per host that does not answer, in markup."""
        lines = []
        for host in self.hosts:
            since = host.unreachable_since()
            if since is not None:
                why = escape(host.error or "no recent answer")
                lines.append(
                    f"[$error]{escape(host.url)}: unreachable since {_clock(since)}[/] "
                    f"({why}); retrying every {host.period_s:g} s"
                )
        return lines

    def notices(self) -> dict[str, str]:
        """Device id -> what its panel should say while its host does not answer."""
        notices = {}
        for host in self.hosts:
            since = host.unreachable_since()
            if since is not None:
                for info in host.devices():
                    notices[info.device_id] = f"unreachable since {_clock(since)}; retrying"
        return notices
