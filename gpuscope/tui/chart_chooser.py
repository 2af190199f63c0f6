"""The dialog that picks which history charts each device panel shows (``c``)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from gpuscope.tui.checklist import CheckList
from gpuscope.tui.panel_charts import CHART_KINDS


class ChartChooser(ModalScreen[tuple[str, ...] | None]):
    """Dismissed with the chosen chart names in the panels' order, or None (cancelled)."""

    BINDINGS = [
        Binding("ctrl+s", "done", "Show these charts"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, chosen: tuple[str, ...]) -> None:
        super().__init__()
        self.chosen = chosen

    def compose(self) -> ComposeResult:
        with Vertical(id="charts-dialog"):
            yield Label("Charts on every device panel", id="charts-title")
            yield CheckList(
                *[(kind.title, name, name in self.chosen) for name, kind in CHART_KINDS.items()],
                id="charts-list",
            )
            yield Static("", id="charts-error")
            with Horizontal(id="charts-buttons"):
                yield Button("Show", variant="primary", id="charts-show")
                yield Button("Cancel", id="charts-cancel")

    def on_mount(self) -> None:
        self.query_one(CheckList).focus()  # arrows and space work at once

    def action_done(self) -> None:
        picked = set(self.query_one(CheckList).selected)
        if not picked:
            self.query_one("#charts-error", Static).update("[$error]choose at least one[/]")
            return
        self.dismiss(tuple(name for name in CHART_KINDS if name in picked))

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#charts-show")
    def _show(self) -> None:
        self.action_done()

    @on(Button.Pressed, "#charts-cancel")
    def _cancel(self) -> None:
        self.action_cancel()
