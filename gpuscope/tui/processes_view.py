"""Per-GPU compute processes, like nvitop's list: device, pid, user, GPU memory, command.

Sort by clicking a column header, or cycle the sort column with ``o`` (``O`` reverses).
User and command come from a cache filled on the sampler thread; this view never reads /proc.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from textual.binding import Binding
from textual.widgets import DataTable

from gpuscope.telemetry.model import Sample
from gpuscope.telemetry.processes import cached_details
from gpuscope.tui import formatting as fmt

COLUMNS = ("device", "pid", "user", "GPU mem", "command")


@dataclass(frozen=True, slots=True)
class ProcessRow:
    device_id: str
    pid: int
    user: str | None
    gpu_mem_mib: float | None
    command: str | None

    def sort_key(self, column: int) -> tuple[int, object]:
        """None sorts last whatever the direction's sign; numbers sort as numbers."""
        value = (self.device_id, self.pid, self.user, self.gpu_mem_mib, self.command)[column]
        return (value is None, value if value is not None else 0)


def process_rows(latest: Iterable[Sample], simulated: frozenset[str]) -> list[ProcessRow]:
    rows = []
    for sample in latest:
        for process in sample.reading.processes or ():
            user: str | None
            command: str | None
            if sample.device_id in simulated:
                user, command = "(simulated)", process.name
            else:
                details = cached_details(process.pid)
                user = details.user if details else None
                command = (details.command if details else None) or process.name
            rows.append(
                ProcessRow(sample.device_id, process.pid, user, process.gpu_mem_mib, command)
            )
    return rows


class ProcessTable(DataTable[str]):
    BINDINGS = [
        Binding("o", "cycle_sort", "Sort by next column"),
        Binding("O", "reverse_sort", "Reverse sort", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="processes-table", zebra_stripes=True, cursor_type="row")
        self.sort_column = 3  # GPU memory, largest first, as nvitop
        self.sort_reverse = True
        self._rows: list[ProcessRow] = []

    def on_mount(self) -> None:
        self.add_columns(*self._labels())

    def show(self, rows: list[ProcessRow]) -> None:
        ordered = sorted(rows, key=lambda r: r.sort_key(self.sort_column), reverse=False)
        if self.sort_reverse:
            nones = [r for r in ordered if r.sort_key(self.sort_column)[0]]
            ordered = [r for r in ordered if not r.sort_key(self.sort_column)[0]][::-1] + nones
        if ordered == self._rows:
            return
        self._rows = ordered
        self.clear(columns=True)
        self.add_columns(*self._labels())
        for row in ordered:
            self.add_row(
                row.device_id,
                str(row.pid),
                row.user or fmt.NA,
                fmt.value(row.gpu_mem_mib, unit=" MiB"),
                row.command or fmt.NA,
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
        rows, self._rows = self._rows, []
        self.show(rows)
        if not rows:  # nothing to re-sort, but the arrow moved
            self.clear(columns=True)
            self.add_columns(*self._labels())
