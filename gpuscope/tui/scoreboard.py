"""The Compare tab's model: every workload configuration of the session, scored per device.

Plain Python (no Textual), so grouping, ratios and the log-scale bars are tested without a
terminal; ``compare_view`` only lays this out. A group is one workload with one set of requested
parameters; within it each device shows its newest run, the CPU first, and every figure is
compared with the CPU's when the CPU ran in that group.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from gpuscope.measurement.measured_run import MeasuredRun, RunState
from gpuscope.measurement.run_figures import group_key, run_figures
from gpuscope.measurement.run_result import ratio
from gpuscope.telemetry.model import EnergySource
from gpuscope.units import SI_PREFIXES, decade_label
from gpuscope.workloads.events import ErrorKind

BASELINE_DEVICE = "cpu"


class RowStatus(enum.Enum):
    """Where a row's figures stand: only DONE figures are final and whole."""

    PENDING = "starting"  # no figure yet (starting, warming up)
    LIVE = "live"
    STOPPING = "stopping"  # asked to stop, its partial result not in yet
    STOPPED = "stopped"  # stopped early: figures over part of the asked duration
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Row:
    """One device's newest run in a group, and how it compares with the group's CPU run."""

    device: str
    status: RowStatus
    simulated: bool
    throughput: float | None  # units per second; None before the first figure
    work_per_joule: float | None
    avg_power_w: float | None
    pct_of_peak: float | None
    energy_source: EnergySource | None  # None when the device has no energy
    energy_note: str | None  # why there is no energy figure
    speedup: float | None = None  # throughput / the CPU's; None without a CPU figure
    efficiency_ratio: float | None = None  # work/J / the CPU's; None unless both have energy
    failure: str | None = None  # the error, for a failed row
    precision: str | None = None  # the number format it ran in ("fp32", "bf16")
    emulated: str | None = None  # its precision is emulated on its device: why (run_params)
    shared: str | None = None  # others used its device over the window: who (sharing)
    shared_pct: float | None = None

    @property
    def is_estimate(self) -> bool:
        """Energy (so work/J and W) from a model, not a measurement."""
        return self.energy_source is EnergySource.ESTIMATE


@dataclass(frozen=True, slots=True)
class Group:
    """One workload configuration: its rows (CPU first) and the parameters the runs used."""

    workload: str
    unit: str
    params_used: tuple[tuple[str, str], ...]  # (name, value) or (name, "32 on cpu, 256 on ...")
    rows: tuple[Row, ...]
    precision_param: str | None = None  # the parameter naming the precision: the fair way

    @property
    def baseline(self) -> Row | None:
        """The CPU row, when the CPU ran this configuration and has a throughput."""
        row = next((r for r in self.rows if r.device == BASELINE_DEVICE), None)
        return row if row is not None and row.throughput is not None else None

    @property
    def fair(self) -> bool:
        """No device ran a precision it only emulates: its ratios compare like with like."""
        return not any(r.emulated for r in self.rows)


def _never_started(run: MeasuredRun) -> bool:
    return run.error is not None and run.error.kind is ErrorKind.STOPPED and not run.facts


def scoreboard(runs: Sequence[MeasuredRun], simulated: frozenset[str] = frozenset()) -> list[Group]:
    """The session's runs (in launch order) as groups, the newest configuration first."""
    members: dict[str, list[MeasuredRun]] = {}
    for run in runs:
        if not _never_started(run):
            members.setdefault(group_key(run), []).append(run)
    # dicts keep insertion order: re-inserting on each run puts the newest-used group last
    newest: dict[str, None] = {}
    for run in runs:
        key = group_key(run)
        if key in members:
            newest.pop(key, None)
            newest[key] = None
    return [_group(members[key], simulated) for key in reversed(newest)]


def _group(runs: list[MeasuredRun], simulated: frozenset[str]) -> Group:
    chosen: dict[str, MeasuredRun] = {}
    for run in runs:  # the newest run per device, but a failure never hides figures
        held = chosen.get(run.device)
        if run.state is not RunState.FAILED or held is None or held.state is RunState.FAILED:
            chosen[run.device] = run
    ordered = sorted(chosen.values(), key=lambda r: device_order(r.device))
    rows = [_row(run, simulated) for run in ordered]
    base = next((r for r in rows if r.device == BASELINE_DEVICE), None)
    if base is not None and base.throughput is not None:
        rows = [_against(row, base) for row in rows]
    latest = runs[-1]
    return Group(
        latest.workload.name,
        latest.workload.unit,
        params_used(ordered),
        tuple(rows),
        latest.precision_param,
    )


def device_order(device: str) -> tuple[int, str, int]:
    """CPU first, then by name with the index as a number (cuda:2 before cuda:10)."""
    name, _, index = device.partition(":")
    return (device != BASELINE_DEVICE, name, int(index) if index.isdigit() else -1)


def _status(run: MeasuredRun) -> RowStatus:
    if run.state is RunState.FAILED:
        return RowStatus.FAILED
    if run.result is not None:
        return RowStatus.STOPPED if run.result.stopped_early else RowStatus.DONE
    if run.stop_requested:
        return RowStatus.STOPPING
    return RowStatus.LIVE if run.state is RunState.MEASURING else RowStatus.PENDING


def _row(run: MeasuredRun, simulated: frozenset[str]) -> Row:
    status = _status(run)
    device_id = run.telemetry.device_id if run.telemetry else None
    precision = run.precision
    emulated = run.emulated.head() if run.emulated is not None else None
    if status is RowStatus.FAILED:
        message = run.error.message if run.error else "failed"
        return Row(
            run.device, status, device_id in simulated, *(None,) * 6, failure=message,
            precision=precision, emulated=emulated,
        )  # fmt: skip
    figures = run_figures(run)
    throughput = figures.throughput if figures.throughput else None  # 0: nothing measured
    return Row(
        run.device,
        status,
        device_id in simulated,
        throughput,
        figures.work_per_joule if throughput else None,
        figures.avg_power_w,
        figures.pct_of_peak,
        figures.energy_source,
        figures.note,
        precision=precision,
        emulated=emulated,
        shared=run.result.shared if run.result is not None else None,
        shared_pct=run.result.shared_pct if run.result is not None else None,
    )


def _against(row: Row, base: Row) -> Row:
    return replace(
        row,
        speedup=ratio(row.throughput, base.throughput),
        efficiency_ratio=ratio(row.work_per_joule, base.work_per_joule),
    )


def params_used(runs: Sequence[MeasuredRun]) -> tuple[tuple[str, str], ...]:
    """Each parameter as the runs used it: what setup settled (a ``facts`` entry of the same
    name) where it said, else what the run was given (per device where they differ)."""
    if not runs:
        return ()
    started = [r for r in runs if r.state is not RunState.STARTING] or list(runs)
    used: list[tuple[str, str]] = []
    for name, asked in runs[-1].params.items():
        by_value: dict[str, list[str]] = {}
        for run in started:
            value = str(run.facts.get(name, run.params.get(name, asked)))
            by_value.setdefault(value, []).append(run.device)
        if len(by_value) == 1:
            used.append((name, next(iter(by_value))))
        else:
            parts = [f"{value} on {' '.join(devices)}" for value, devices in by_value.items()]
            used.append((name, ", ".join(parts)))
    return tuple(used)


def format_compact(value: float) -> str:
    """A figure in 3 significant figures with an SI prefix and no unit: ``3.98k``, ``29.1``."""
    for scale, prefix in SI_PREFIXES:
        if abs(value) >= scale:
            return f"{value / scale:.3g}{prefix}"
    return f"{value:.3g}"


_BAR_FULL = "█"
_BAR_PARTS = ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")


@dataclass(frozen=True, slots=True)
class LogScale:
    """Decades ``low`` to ``high`` (powers of ten) across ``width`` cells.

    The lowest decade sits at least a quarter decade below the smallest value, so every value
    > 0 has a bar (and at least one eighth of a cell), whatever the gap to the largest. Each
    decade's label starts at its tick; so that the top decade's label fits too, the top decade
    stands at least that label's length before the right edge, and no bar goes past it.
    """

    low: int
    high: int
    width: int

    @property
    def span(self) -> int:
        """Cells from the lowest decade's tick to the highest's: a whole number of cells a
        decade where the width allows, so every tick stands exactly at its value."""
        room = max(1, self.width - len(decade_label(self.high)))
        decades = self.high - self.low
        return room // decades * decades if room >= decades else room

    def cells(self, value: float | None) -> float:
        """Bar length in cells: 0 for None or <= 0, else at least 1/8."""
        if value is None or value <= 0 or self.width <= 0:
            return 0.0
        fraction = (math.log10(value) - self.low) / (self.high - self.low)
        return max(0.125, min(1.0, fraction) * self.span)

    def bar(self, value: float | None) -> str:
        """The bar for ``value``, ``width`` characters wide (blank-padded), in eighth blocks."""
        eighths = max(1, round(self.cells(value) * 8)) if self.cells(value) else 0
        full, part = divmod(eighths, 8)
        text = _BAR_FULL * full + _BAR_PARTS[part]
        return text + " " * (self.width - len(text))

    def decade_column(self, decade: int) -> int:
        """The cell a decade's tick stands at: where a bar of exactly 10^decade ends."""
        return round((decade - self.low) / (self.high - self.low) * self.span)

    def tick_line(self) -> str:
        """Decade labels (``1``, ``10``, ``1k``, ``0.1``) each starting at its decade's column,
        ``width`` characters wide; a label that would run into the one before is left out (the
        top decade's never is: it is the scale's end)."""
        line = [" "] * self.width
        placed: list[tuple[int, str]] = []  # (column, label), a space at least between two

        def free(column: int) -> bool:
            return not placed or column > placed[-1][0] + len(placed[-1][1])

        for decade in range(self.low, self.high + 1):
            label, column = decade_label(decade), self.decade_column(decade)
            while decade == self.high and not free(column):
                placed.pop()  # the top label wins over the one it would touch
            if free(column):
                placed.append((column, label))
        for column, label in placed:
            line[column : column + len(label)] = list(label[: self.width - column])
        return "".join(line)


def log_scale(values: Sequence[float | None], width: int) -> LogScale | None:
    """A scale that shows every value > 0 of ``values``; None when none is > 0."""
    positive = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    if not positive:
        return None
    low = math.floor(math.log10(min(positive)) - 0.25)
    high = max(math.ceil(math.log10(max(positive))), low + 1)
    return LogScale(low, high, max(1, width))
