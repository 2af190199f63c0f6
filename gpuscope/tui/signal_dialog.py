"""``t`` / ``K`` on a process: refused at once for a row whose pid is not verified, else a
question naming the pid and command, then the signal on a worker thread
(``telemetry.process_signals`` checks everything again as it sends, through a pidfd, reading
/proc) and its outcome in a notice."""

from __future__ import annotations

import signal
from functools import partial
from typing import TYPE_CHECKING

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from gpuscope.telemetry.process_signals import send_signal

if TYPE_CHECKING:
    from gpuscope.tui.processes_model import ProcessRow


class ConfirmSignal(ModalScreen[bool]):
    """Asks before a signal is sent, naming the pid and the command."""

    BINDINGS = [
        Binding("y", "answer(True)", "Send"),
        Binding("n,escape", "answer(False)", "Cancel"),
    ]

    def __init__(self, row: ProcessRow, sig: signal.Signals) -> None:
        super().__init__()
        self.row, self.sig = row, sig

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Label(f"Send {self.sig.name} to pid {self.row.pid}?", id="confirm-title")
            yield Static(escape(self.row.command or "(command unknown)"), id="confirm-command")
            yield Static(f"user {escape(self.row.user or 'n/a')} · on {self.row.device_id}")
            with Horizontal(id="confirm-buttons"):
                yield Button(f"y  send {self.sig.name}", variant="error", id="confirm-yes")
                yield Button("n  cancel", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()  # enter alone never sends a signal

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")


def refusal(row: ProcessRow) -> str | None:
    """Why ``row``'s process may not be signalled, without asking: its pid is not verified."""
    if row.unverified is None:
        return None
    return f"pid {row.pid} cannot be signalled: {row.unverified}"


def ask_and_signal(app: App[object], row: ProcessRow, sig: signal.Signals) -> None:
    """Refuse an unverified row with its reason; else ask, and send on a yes."""
    why_not = refusal(row)
    if why_not is not None:
        app.notify(why_not, severity="error")
        return

    def answered(yes: bool | None) -> None:
        if yes:  # the app's worker, not the dialog's: the dialog is gone when it ends
            app.run_worker(
                partial(send_and_tell, app, row, sig),
                group="signals",
                description=f"{sig.name} to pid {row.pid}",
                thread=True,
            )

    app.push_screen(ConfirmSignal(row, sig), answered)


def send_and_tell(app: App[object], row: ProcessRow, sig: signal.Signals) -> None:
    """Send ``sig`` and notify its one-line outcome. On a worker thread: the checks before
    the signal read /proc (up to ``MAX_DESCRIPTORS`` links), which must not hold up the UI;
    ``App.notify`` is thread-safe."""
    failed = send_signal(row.pid, row.vendor, sig, row.started_s, row.user)
    if failed is None:
        app.notify(f"sent {sig.name} to pid {row.pid}")
    else:
        app.notify(failed, severity="error")
