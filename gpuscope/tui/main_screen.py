"""The screen of the tabs, and the keys that work on it."""

from __future__ import annotations

from textual.screen import Screen

from gpuscope.tui.keys import APP_KEYS, MAIN_KEYS


class MainScreen(Screen[None]):
    """The tabs' screen. Its keys (``keys.MAIN_KEYS``) live here, so a dialog on top (the
    launcher, help) keeps its own: ``tab`` moves focus there, between tabs here."""

    # the app's own keys too, first, so the footer reads q, ?, then this screen's keys
    BINDINGS = [key.binding("app.") for key in (*APP_KEYS, *MAIN_KEYS)]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Under a dialog this screen's keys do nothing, so its footer does not offer them."""
        return self.app.screen is self
