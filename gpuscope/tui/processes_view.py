"""The Processes tab: every GPU's processes, nvitop's essentials plus what the host knows.

Columns: device, pid, user, kind (C/G/C+G), GPU memory, SM % and memory-bus % (where the driver
samples processes), host CPU %, resident memory, running time and the command, cut to fit; the
highlighted row's command is shown whole below the table. ``o`` / ``O`` or a click on a header
sort; ``/`` filters; the highlight follows its process across refreshes; ``t`` / ``K`` send
SIGTERM / SIGKILL after a confirmation naming the pid and command. Everything comes from
caches filled on the sampler thread: this view never reads /proc.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import psutil
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static
from textual.widgets.data_table import ColumnKey

from gpuscope.measurement.process_energy import ProcessEnergyLedger
from gpuscope.telemetry.model import Sample
from gpuscope.telemetry.processes import cached_details, cached_usage
from gpuscope.tui import formatting as fmt

COLUMNS = (
    "device", "pid", "user", "type", "GPU mem", "SM %", "mem %", "energy est.", "W est.",
    "CPU %", "host mem", "time", "command",
)  # fmt: skip
COMMAND_CELL = 60  # characters of the command in the table; the highlighted row shows it whole
VALUES_PERIOD_S = 2.0  # the figures of listed processes change in place at most this often
# figures that move on every sample; a change elsewhere (a command now known) shows at once
LIVE_COLUMNS = frozenset({"SM %", "mem %", "energy est.", "W est.", "CPU %", "host mem", "time"})


@dataclass(frozen=True, slots=True)
class ProcessRow:
    device_id: str
    pid: int
    user: str | None
    kind: str | None
    gpu_mem_mib: float | None
    sm_pct: float | None
    mem_bus_pct: float | None
    cpu_pct: float | None
    rss_mib: float | None
    started_s: float | None  # wall clock
    command: str | None
    simulated: bool = False
    energy_j: float | None = None  # attributed by SM share since first seen: an estimate
    avg_power_w: float | None = None

    @property
    def key(self) -> str:
        return f"{self.device_id}/{self.pid}"

    def values(self) -> tuple[object, ...]:
        running = None if self.started_s is None else -self.started_s  # older sorts as longer
        return (
            self.device_id, self.pid, self.user, self.kind, self.gpu_mem_mib, self.sm_pct,
            self.mem_bus_pct, self.energy_j, self.avg_power_w, self.cpu_pct, self.rss_mib,
            running, self.command,
        )  # fmt: skip

    def sort_key(self, column: int) -> tuple[bool, object]:
        """None sorts last whatever the direction's sign; numbers sort as numbers."""
        value = self.values()[column]
        return (value is None, value if value is not None else 0)

    def matches(self, text: str) -> bool:
        """The filter: any of device, pid, user, kind or command contains ``text``."""
        needle = text.lower()
        fields = (self.device_id, str(self.pid), self.user or "", self.kind or "", self.command)
        return any(needle in (f or "").lower() for f in fields)


def process_rows(
    latest: Iterable[Sample],
    simulated: frozenset[str],
    energy: ProcessEnergyLedger | None = None,
) -> list[ProcessRow]:
    rows = []
    for sample in latest:
        fake = sample.device_id in simulated
        for process in sample.reading.processes or ():
            details = None if fake else cached_details(process.pid)
            usage = None if fake else cached_usage(process.pid)
            charged = energy.process(sample.device_id, process.pid) if energy else None
            # no share from the driver: nothing is charged, and n/a says so better than 0 J
            has_share = process.sm_pct is not None
            rows.append(
                ProcessRow(
                    sample.device_id,
                    process.pid,
                    "(simulated)" if fake else details.user if details else None,
                    process.kind,
                    process.gpu_mem_mib,
                    process.sm_pct,
                    process.mem_bus_pct,
                    usage.cpu_pct if usage else None,
                    usage.rss_mib if usage else None,
                    usage.started_s if usage else None,
                    (details.command if details else None) or process.name,
                    simulated=fake,
                    energy_j=charged.energy_j if charged and has_share else None,
                    avg_power_w=charged.avg_power_w if charged and has_share else None,
                )
            )
    return rows


def processes_note(gpus: Sequence[Sample], energy: ProcessEnergyLedger | None = None) -> str:
    """What the table cannot show, and why, in a line or two; and what energy no process was
    charged for."""
    if not gpus:
        return "No GPUs: there are no GPU processes to list."
    lines = []
    if energy is not None:
        left = [
            f"{s.device_id} {fmt.energy(ledger.unattributed_j)} of {fmt.energy(ledger.measured_j)}"
            for s in gpus
            if (ledger := energy.device(s.device_id)) is not None
        ]
        if left:
            lines.append(
                "energy est. = the GPU's measured energy x the process's SM share, since first "
                f"seen; not charged to any process (idle, unsampled): {', '.join(left)}"
            )
    no_list = [s.device_id for s in gpus if s.reading.processes is None]
    if no_list:
        lines.append(f"process lists not reported by: {', '.join(no_list)}")
    unsampled = [
        s.device_id
        for s in gpus
        if s.reading.processes and all(p.sm_pct is None for p in s.reading.processes)
    ]
    if unsampled:
        lines.append(
            f"SM % and mem % n/a on {', '.join(unsampled)}: its driver does not sample "
            "processes (NVML NotSupported)"
        )
    return "\n".join(lines)


def running_time(started_s: float | None, now_s: float) -> str:
    """``0:42``, ``1:02:03``, ``3d 04:05``: nvitop's and ps's way, short."""
    if started_s is None:
        return fmt.NA
    seconds = max(0, int(now_s - started_s))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}:{minutes:02d}"
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def send_signal(row: ProcessRow, sig: signal.Signals) -> str | None:
    """Signal the process the row shows; None on success, else why not, in one line.

    Only if it is still that process: its start time must be the one the row was shown with
    (a pid reused while the question was open, or seen from another pid namespace, is refused),
    and psutil checks again as it sends."""
    if row.simulated:
        return f"pid {row.pid} is a simulated process: there is nothing to signal"
    if row.started_s is None:
        return f"pid {row.pid}: cannot tell it is the process shown (its start time is unknown)"
    try:
        process = psutil.Process(row.pid)
        if process.create_time() != row.started_s:
            return f"pid {row.pid} is now another process: nothing sent"
        process.send_signal(sig)
    except psutil.NoSuchProcess:
        return f"pid {row.pid} has already exited"
    except psutil.AccessDenied:
        owner = f" (it belongs to {row.user})" if row.user else ""
        return f"no permission to signal pid {row.pid}{owner}: run gpuscope as that user or root"
    return None


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


class ProcessTable(DataTable[str]):
    BINDINGS = [
        Binding("o", "cycle_sort", "Sort by next column"),
        Binding("O", "reverse_sort", "Reverse sort", show=False),
        Binding("slash", "filter", "Filter"),
        Binding("t", "signal('SIGTERM')", "SIGTERM"),
        Binding("K", "signal('SIGKILL')", "SIGKILL"),
    ]

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__(id="processes-table", zebra_stripes=True, cursor_type="row")
        self.sort_column = COLUMNS.index("GPU mem")  # largest first, as nvitop
        self.sort_reverse = True
        self.filter_text = ""
        self._clock = clock  # wall clock, for running times
        self._all: list[ProcessRow] = []
        self._rows: list[ProcessRow] = []
        self._shown: object = None
        self._columns: list[ColumnKey] = []
        self._values_at = 0.0  # when the figures in the cells were last changed (wall clock)

    def on_mount(self) -> None:
        self._columns = self.add_columns(*self._labels())

    @property
    def selected(self) -> ProcessRow | None:
        if not self._rows or not 0 <= self.cursor_row < len(self._rows):
            return None
        return self._rows[self.cursor_row]

    def show(self, rows: list[ProcessRow]) -> None:
        self._all = rows
        chosen = [r for r in rows if r.matches(self.filter_text)] if self.filter_text else rows
        ordered = sorted(chosen, key=lambda r: r.sort_key(self.sort_column))
        if self.sort_reverse:
            nones = [r for r in ordered if r.sort_key(self.sort_column)[0]]
            ordered = [r for r in ordered if not r.sort_key(self.sort_column)[0]][::-1] + nones
        now = self._clock()
        cells = [self._cells(row, now) for row in ordered]
        if cells == self._shown:
            return
        keys = [r.key for r in ordered]
        if isinstance(self._shown, list) and keys == [r.key for r in self._rows]:
            # The same processes in the same order: change only the cells that changed, and
            # only every VALUES_PERIOD_S. Any changed cell makes DataTable render every visible
            # cell again (~90 ms for 40 rows of 13 columns here), and energy changes each tick.
            changed = {
                COLUMNS[i]
                for new_cells, old_cells in zip(cells, self._shown, strict=True)
                for i, (a, b) in enumerate(zip(new_cells, old_cells, strict=True))
                if a != b
            }
            if changed <= LIVE_COLUMNS and now - self._values_at < VALUES_PERIOD_S:
                return  # only figures that move all the time: they wait their turn
            self._values_at = now
            for key, new_cells, old_cells in zip(keys, cells, self._shown, strict=True):
                for column, value, before in zip(self._columns, new_cells, old_cells, strict=True):
                    if value != before:
                        self.update_cell(key, column, value)
            self._shown, self._rows = cells, ordered
            return
        followed = self.selected.key if self.selected is not None else None
        self._shown, self._rows, self._values_at = cells, ordered, now
        self.clear(columns=True)
        self._columns = self.add_columns(*self._labels())
        for row, values in zip(ordered, cells, strict=True):
            self.add_row(*values, key=row.key)
        if followed in keys:  # the highlight stays on its process, wherever it sorted to
            self.move_cursor(row=keys.index(followed), animate=False)

    @staticmethod
    def _cells(row: ProcessRow, now: float) -> tuple[str, ...]:
        return (
            row.device_id,
            str(row.pid),
            row.user or fmt.NA,
            row.kind or fmt.NA,
            fmt.value(row.gpu_mem_mib, unit=" MiB"),
            fmt.percent(row.sm_pct),
            fmt.percent(row.mem_bus_pct),
            fmt.energy(row.energy_j),
            fmt.value(row.avg_power_w, unit=" W"),
            fmt.percent(row.cpu_pct),
            fmt.value(row.rss_mib, unit=" MiB"),
            running_time(row.started_s, now),
            fmt.clip(row.command, COMMAND_CELL) if row.command else fmt.NA,
        )

    def _labels(self) -> list[str]:
        arrow = " ▼" if self.sort_reverse else " ▲"
        return [name + arrow if i == self.sort_column else name for i, name in enumerate(COLUMNS)]

    def action_cycle_sort(self) -> None:
        self._sort_by((self.sort_column + 1) % len(COLUMNS), self.sort_reverse)

    def action_reverse_sort(self) -> None:
        self._sort_by(self.sort_column, not self.sort_reverse)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        same = event.column_index == self.sort_column
        self._sort_by(event.column_index, not self.sort_reverse if same else False)

    def _sort_by(self, column: int, reverse: bool) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        self._shown = None
        self.show(self._all)
        if not self._all:  # nothing to re-sort, but the arrow moved
            self.clear(columns=True)
            self._columns = self.add_columns(*self._labels())

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self._shown = None
        self.show(self._all)

    def action_filter(self) -> None:
        self.post_message(FilterRequested())

    def action_signal(self, name: str) -> None:
        row = self.selected
        if row is None:
            self.app.notify("no process selected", severity="warning")
            return
        sig = signal.Signals[name]

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            why_not = send_signal(row, sig)
            if why_not is None:
                self.app.notify(f"sent {sig.name} to pid {row.pid}")
            else:
                self.app.notify(why_not, severity="error")

        self.app.push_screen(ConfirmSignal(row, sig), answered)


class FilterRequested(Message):
    """``/`` on the table: the tab shows its filter line."""


class ProcessesView(Vertical):
    """The tab: a note on what is not reported, the filter line, the table, the whole command."""

    def compose(self) -> ComposeResult:
        yield Static("", id="processes-note")
        yield Input(placeholder="filter: device, pid, user, type or command", id="processes-filter")
        yield ProcessTable()
        yield Static("", id="process-detail")

    def show(self, rows: list[ProcessRow], note: str) -> None:
        self.query_one("#processes-note", Static).update(escape(note))
        self.query_one(ProcessTable).show(rows)
        self._show_detail()

    @on(FilterRequested)
    def _open_filter(self) -> None:
        line = self.query_one("#processes-filter", Input)
        line.display = True
        line.focus()

    @on(Input.Changed, "#processes-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(ProcessTable).set_filter(event.value)
        self._show_detail()

    @on(Input.Submitted, "#processes-filter")
    def _filter_done(self) -> None:
        line = self.query_one("#processes-filter", Input)
        line.display = bool(line.value)  # a filter in force stays in sight
        self.query_one(ProcessTable).focus()

    def key_escape(self) -> None:
        """Escape in the filter line clears the filter."""
        line = self.query_one("#processes-filter", Input)
        if line.has_focus:
            line.value = ""
            line.display = False
            self.query_one(ProcessTable).focus()

    @on(DataTable.RowHighlighted, "#processes-table")
    def _highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        row = self.query_one(ProcessTable).selected
        text = ""
        if row is not None:
            text = f"[b]{row.pid}[/b] {escape(row.user or 'n/a')}: {escape(row.command or 'n/a')}"
        detail = self.query_one("#process-detail", Static)
        detail.update(text)
        detail.display = bool(text)
