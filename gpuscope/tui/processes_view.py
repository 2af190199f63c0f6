"""The Processes tab: every GPU's processes, nvitop's essentials plus what the host knows.

Columns: device, pid, user, job (``job_owner``: Slurm job, pod, container or user; cut, and
shown whole below the table), kind (C/G/C+G), GPU memory, SM % and memory-bus % (where the driver
samples processes), energy and average power charged to it (by SM share, or as its GPU's sole
compute process: the note above the table says which), host CPU %, resident memory, running
time and the command, cut to fit; the highlighted row's command is shown whole below the table.
``o`` / ``O`` or a click on a header sort; ``/`` filters; the highlight follows its process
across refreshes; ``t`` / ``K`` send SIGTERM / SIGKILL after a confirmation naming the pid and
command, only to a pid verified as a GPU process of ours (``telemetry.process_signals``; a ``?``
marks the others). The rows come from ``processes_model``, out of caches filled on the sampler
thread: this view never reads /proc.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.markup import escape
from textual.message import Message
from textual.widgets import Input, Static

from gpuscope.measurement.process_energy import ProcessEnergyLedger
from gpuscope.telemetry.model import Sample
from gpuscope.telemetry.processes import ProcessLookups
from gpuscope.tui.line_table import Column, LineTable
from gpuscope.tui.processes_model import (
    ProcessRow,
    process_listing,
    process_rows,
    processes_note,
    row_cells,
    shown_rows,
    unattributed_line,
)
from gpuscope.tui.signal_dialog import ask_and_signal

TABLE_COLUMNS = (
    Column("device"), Column("pid", "right"), Column("user"), Column("job"), Column("type"),
    Column("GPU mem", "right"), Column("SM %", "right"), Column("mem %", "right"),
    Column("energy", "right"), Column("W", "right"), Column("CPU %", "right"),
    Column("host mem", "right"), Column("time", "right"), Column("command", stretch=True),
)  # fmt: skip
COLUMNS = tuple(c.label for c in TABLE_COLUMNS)
# sorted by one of these, every row's host figures are read (the start time is read once anyway)
HOST_COLUMNS = frozenset({"CPU %", "host mem"})
UNVERIFIED_MARK = "?"  # after a pid: t / K refuse it, the line under the table says why
UNVERIFIED_NOTE = (
    f"{UNVERIFIED_MARK} after a pid: not verified as a GPU process of ours, so t / K refuse it "
    "(the line under the table says why)"
)


ONE_LINE = frozenset({"#processes-unattributed"})  # lines of fixed height, cut to the width
# The figures of listed processes (SM %, energy, CPU %, ...) change at most this often, as
# nvitop's default refresh: building 200 rows on every sample would cost more than showing them.
# A process that comes or goes, or whose user and command become known, shows at once.
VALUES_PERIOD_S = 2.0


class ProcessTable(LineTable):
    """The process list: sorted, filtered, its highlight following its process; the command
    takes the width the other columns leave (the highlighted row's is shown whole below)."""

    BINDINGS = [
        Binding("o", "cycle_sort", "Sort by next column"),
        Binding("O", "reverse_sort", "Reverse sort", show=False),
        Binding("slash", "filter", "Filter"),
        Binding("t", "signal('SIGTERM')", "SIGTERM"),
        Binding("K", "signal('SIGKILL')", "SIGKILL"),
    ]

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__(TABLE_COLUMNS, id="processes-table")
        self.sort_column = COLUMNS.index("GPU mem")  # largest first, as nvitop
        self.sort_reverse = True
        self.filter_text = ""
        self._clock = clock  # wall clock, for running times
        self._all: list[ProcessRow] = []
        self._rows: list[ProcessRow] = []

    def on_mount(self) -> None:
        self.set_rows([], [], self._labels())

    @property
    def selected(self) -> ProcessRow | None:
        if not self._rows or not 0 <= self.cursor_row < len(self._rows):
            return None
        return self._rows[self.cursor_row]

    def show(self, rows: list[ProcessRow]) -> None:
        self._all = rows
        ordered = shown_rows(rows, self.filter_text, self.sort_column, self.sort_reverse)
        now = self._clock()
        cells = [row_cells(row, now, UNVERIFIED_MARK) for row in ordered]
        self._rows = ordered
        self.set_rows([r.key for r in ordered], cells, self._labels())

    def host_usage_wanted(self) -> frozenset[int] | None:
        """The pids whose host figures are worth reading: the rows in sight, or all (None) when
        the rows are sorted by one of those figures."""
        if COLUMNS[self.sort_column] in HOST_COLUMNS:
            return None
        return frozenset(self._rows[i].pid for i in self.rows_in_sight())

    def _labels(self) -> tuple[str, ...]:
        arrow = " ▼" if self.sort_reverse else " ▲"
        return tuple(
            name + arrow if i == self.sort_column else name for i, name in enumerate(COLUMNS)
        )

    def action_cycle_sort(self) -> None:
        self._sort_by((self.sort_column + 1) % len(COLUMNS), self.sort_reverse)

    def action_reverse_sort(self) -> None:
        self._sort_by(self.sort_column, not self.sort_reverse)

    @on(LineTable.HeaderClicked)
    def _header_clicked(self, event: LineTable.HeaderClicked) -> None:
        same = event.column == self.sort_column
        self._sort_by(event.column, not self.sort_reverse if same else False)

    def _sort_by(self, column: int, reverse: bool) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        self.show(self._all)

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self.show(self._all)

    def action_filter(self) -> None:
        self.post_message(FilterRequested())

    def action_signal(self, name: str) -> None:
        row = self.selected
        if row is None:
            self.app.notify("no process selected", severity="warning")
            return
        ask_and_signal(self.app, row, signal.Signals[name])


class FilterRequested(Message):
    """``/`` on the table: the tab shows its filter line."""


class ProcessesView(Vertical):
    """The tab: a note on what is not reported, the filter line, the table, the whole command."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._texts: dict[str, str] = {}  # what each line shows
        self._listing: tuple[object, ...] | None = None  # what was listed at the last draw
        self._drawn_at = 0.0

    def due(self, listing: tuple[object, ...], now_s: float) -> bool:
        """Whether to draw now: the listing changed, ``VALUES_PERIOD_S`` passed, or ``stale()``
        was called (the tab was opened again)."""
        if listing != self._listing or not 0 <= now_s - self._drawn_at < VALUES_PERIOD_S:
            self._listing, self._drawn_at = listing, now_s
            return True
        return False

    def stale(self) -> None:
        self._listing = None

    def compose(self) -> ComposeResult:
        yield Static("", id="processes-note")
        yield Static("", id="processes-unattributed")
        yield Input(
            placeholder="filter: device, pid, user, job, type or command", id="processes-filter"
        )
        yield ProcessTable()
        yield Static("", id="process-detail")

    def host_usage_wanted(self) -> frozenset[int] | None:
        return self.query_one(ProcessTable).host_usage_wanted()

    def show_gpus(
        self,
        gpus: list[Sample],
        lookups: ProcessLookups,
        simulated_ids: frozenset[str],
        energy: ProcessEnergyLedger,
        now_s: float,
    ) -> None:
        """The GPUs' processes (their newest samples), when ``due``; tells ``lookups`` whose
        host figures are worth reading next (the rows in sight)."""
        lookups.host_usage_wanted = self.host_usage_wanted()
        if self.due(process_listing(gpus, lookups), now_s):
            self.show(
                process_rows(gpus, lookups, simulated_ids, energy),
                processes_note(gpus, lookups, energy),
                unattributed_line(gpus, energy),
            )

    def show(self, rows: list[ProcessRow], note: str, unattributed: str = "") -> None:
        if any(row.unverified for row in rows):
            note = f"{note}\n{UNVERIFIED_NOTE}" if note else UNVERIFIED_NOTE
        self._set("#processes-note", escape(note))
        self._set("#processes-unattributed", escape(unattributed))
        self.query_one(ProcessTable).show(rows)
        self._show_detail()

    def _set(self, selector: str, text: str) -> None:
        """Repaint a line only when its text changed: a Static's update lays out the screen."""
        line = self.query_one(selector, Static)
        if text == self._texts.get(selector):
            return
        fixed = selector in ONE_LINE and bool(self._texts.get(selector)) and bool(text)
        self._texts[selector] = text
        line.update(text, layout=not fixed)  # a line of fixed height needs no layout
        line.display = bool(text)

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

    @on(LineTable.Highlighted, "#processes-table")
    def _highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        row = self.query_one(ProcessTable).selected
        text = ""
        if row is not None:
            who = row.user or "n/a"
            if row.job and not row.simulated:
                who = f"{who} ({row.job})"
            text = f"[b]{row.pid}[/b] {escape(who)}: {escape(row.command or 'n/a')}"
            if row.unverified:
                text = f"[$warning]not signalled: {escape(row.unverified)}[/]\n{text}"
        self._set("#process-detail", text)
