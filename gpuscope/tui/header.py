"""The one-line header: what the session is doing, warnings first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.markup import escape
from textual.reactive import var
from textual.widgets import Static

from gpuscope.safe_text import one_line
from gpuscope.telemetry.model import Vendor
from gpuscope.tui import formatting as fmt

if TYPE_CHECKING:  # the app draws this header before it imports the session
    from gpuscope.session import Session
    from gpuscope.session_setup import SessionSetup
    from gpuscope.telemetry.discover import Discovery


def header_text(setup: SessionSetup, session: Session | None, paused: bool, window_s: float) -> str:
    """State that changes what is kept (simulated, recording, paused) comes first, so a narrow
    terminal cuts the drivers, not the warnings. Without a session yet (the first frame): what
    the setup says."""
    parts = ["[b]gpuscope[/b]"]
    if setup.simulated_ids:
        parts.append("[reverse $warning] SIMULATED GPUs (demo) [/]")
    recording = session.recording if session is not None else None
    sampler = session.sampler if session is not None else None
    if recording is not None:
        name = escape(recording.path.name)
        parts.append(f"[$error]● REC[/] {name} ({recording.rows_written} rows)")
    if paused:
        parts.append("[$warning]PAUSED[/]")
    if sampler is not None and sampler.error is not None:
        from gpuscope.sampler import stopped_line  # not before the first frame: rare, so here

        parts.append(f"[$error]{escape(stopped_line(sampler.error))}[/]")
    parts.append(escape(setup.host))
    if sampler is not None:
        parts.append(f"every {sampler.interval_s:g} s")
    parts.append(f"charts: last {fmt.duration(window_s)}")
    if not setup.gpm:  # the panels' activity line then says only "paused"
        parts.append("GPM off (--no-gpm)")
    if session is not None and session.found is not None:
        parts.extend(_driver_versions(session.found))
    else:
        parts.append("probing devices…")
    return " · ".join(parts)


def _driver_versions(found: Discovery) -> list[str]:
    seen: dict[Vendor, str] = {}
    for device in found.devices:
        info = device.info
        if info.vendor is not Vendor.CPU and info.driver and info.vendor not in seen:
            seen[info.vendor] = info.driver
    # a remote host's driver label is outside text
    return [f"{vendor.name} driver {escape(one_line(driver))}" for vendor, driver in seen.items()]


class HeaderLine(Static):
    """The header's one line; a new ``text`` repaints it, the same text does nothing."""

    DEFAULT_CSS = """
    HeaderLine {
        dock: top;
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $foreground;
    }
    """

    text: var[str] = var("")

    def watch_text(self, text: str) -> None:
        self.update(text, layout=False)  # one line, always
