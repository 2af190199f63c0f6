"""The screen of the tabs, and the keys that work on it; it asks for the GPUs' activity counters
(GPM) while the Devices tab, which shows them, is on screen."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import on
from textual.screen import Screen
from textual.widgets import TabbedContent

from gpuscope.tui.keys import APP_KEYS, MAIN_KEYS

if TYPE_CHECKING:
    from gpuscope.tui.app import GpuscopeApp

DEVICES_TAB = "devices"
ACTIVITY_OWNER = "devices tab"  # as the sampler knows this screen's wish


class MainScreen(Screen[None]):
    """The tabs' screen. Its keys (``keys.MAIN_KEYS``) live here, so a dialog on top (the
    launcher, help) keeps its own: ``tab`` moves focus there, between tabs here."""

    # the app's own keys too, first, so the footer reads q, ?, then this screen's keys
    BINDINGS = [key.binding("app.") for key in (*APP_KEYS, *MAIN_KEYS)]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Under a dialog this screen's keys do nothing, so its footer does not offer them."""
        return self.app.screen is self

    @on(TabbedContent.TabActivated)
    def _activity_while_devices_shown(self, event: TabbedContent.TabActivated) -> None:
        """GPM shares its counters with DCGM's profiling: read only while the panels that show
        it are on screen (the session ignores this with ``--no-gpm``). The event goes on to
        the app."""
        if cast("GpuscopeApp", self.app).built:  # else the app asks once it has a session
            self.ask_for_activity()

    def ask_for_activity(self) -> None:
        """The session reads the counters while the Devices tab is the one shown and shows
        them (the compact layout has no activity line: then only an activity chart asks)."""
        app = cast("GpuscopeApp", self.app)
        shown = app.tabs.active == DEVICES_TAB and app.devices.shows_activity(app.chart_names)
        app.session.want_activity(ACTIVITY_OWNER, shown)
