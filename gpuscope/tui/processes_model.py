"""The Processes tab's model, no Textual: a row per GPU process from the latest samples and the
caches the sampler thread fills (user, job, command, host figures, the signal check), the note on
what the table cannot show, and running times. ``processes_view`` lays it out
(``tests/test_tui_processes.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gpuscope.measurement.process_energy import ProcessEnergyLedger
from gpuscope.safe_text import one_line
from gpuscope.telemetry.model import Sample, Vendor
from gpuscope.telemetry.processes import ProcessLookups
from gpuscope.tui import formatting as fmt

SIMULATED_REASON = "a simulated process: there is nothing to signal"
# a command line may be megabytes (ARG_MAX); the detail line under the table shows 3 lines
COMMAND_MAX = 1000
# a job's cell: ``slurm:13759490`` and ``container:<12 hex>`` whole, a pod's UID cut (the line
# under the table shows it whole)
JOB_CELL_MAX = 24
SIMULATED = "(simulated)"


def _shown(text: str | None) -> str | None:
    """A user or command line as one printable line, bounded: it may hold newlines, tabs or
    escape sequences (bash -c, python -c, or a process that names itself to attack a terminal)."""
    return None if text is None else one_line(text, COMMAND_MAX)


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
    energy_j: float | None = None  # charged since first seen, by SM share or as the sole process
    avg_power_w: float | None = None
    vendor: Vendor = Vendor.NVIDIA
    unverified: str | None = None  # why the pid may not be signalled; None: it may
    job: str | None = None  # ``job_owner``'s: slurm:1234, pod:<uid>, container:<id>, user:al

    @property
    def key(self) -> str:
        return f"{self.device_id}/{self.pid}"

    def values(self) -> tuple[object, ...]:
        """Sort values in the table's column order (``processes_view.COLUMNS``)."""
        running = None if self.started_s is None else -self.started_s  # older sorts as longer
        return (
            self.device_id, self.pid, self.user, self.job, self.kind, self.gpu_mem_mib, self.sm_pct,
            self.mem_bus_pct, self.energy_j, self.avg_power_w, self.cpu_pct, self.rss_mib,
            running, self.command,
        )  # fmt: skip

    def sort_key(self, column: int) -> tuple[bool, object]:
        """None sorts last whatever the direction's sign; numbers sort as numbers."""
        value = self.values()[column]
        return (value is None, value if value is not None else 0)

    def matches(self, text: str) -> bool:
        """The filter: any of device, pid, user, job, kind or command contains ``text``."""
        needle = text.lower()
        fields = (self.device_id, str(self.pid), self.user, self.job, self.kind, self.command)
        return any(needle in (f or "").lower() for f in fields)


def process_rows(
    latest: Iterable[Sample],
    lookups: ProcessLookups,
    simulated: frozenset[str],
    energy: ProcessEnergyLedger | None = None,
) -> list[ProcessRow]:
    rows = []
    for sample in latest:
        fake = sample.device_id in simulated
        for process in sample.reading.processes or ():
            check = None if fake else lookups.cached_check(process.pid, sample.vendor)
            # a number that may name another process: what /proc says of it is not shown
            hidden = fake or (check is not None and check.foreign)
            details = None if hidden else lookups.cached_details(process.pid)
            usage = None if hidden else lookups.cached_usage(process.pid)
            name = None if check is not None and check.foreign else process.name
            charged = energy.charged(sample.device_id, process) if energy else None
            rows.append(
                ProcessRow(
                    sample.device_id,
                    process.pid,
                    SIMULATED if fake else _shown(details.user) if details else None,
                    process.kind,
                    process.gpu_mem_mib,
                    process.sm_pct,
                    process.mem_bus_pct,
                    usage.cpu_pct if usage else None,
                    usage.rss_mib if usage else None,
                    usage.started_s if usage else None,
                    _shown((details.command if details else None) or name),
                    simulated=fake,
                    energy_j=charged.energy_j if charged else None,
                    avg_power_w=charged.avg_power_w if charged else None,
                    vendor=sample.vendor,
                    unverified=SIMULATED_REASON if fake else check.reason if check else None,
                    job=SIMULATED if fake else _shown(details.job) if details else None,
                )
            )
    return rows


def process_listing(gpus: Iterable[Sample], lookups: ProcessLookups) -> tuple[object, ...]:
    """What must show at once when it changes: which processes each GPU lists, of what kind,
    what the host says they are, and whether their host figures are known yet (a row scrolled
    into sight gets them at the next sample). Cheap (no rows are built): asked every sample."""
    details, usage = lookups.cached_details, lookups.cached_usage
    return tuple(
        (s.device_id, p.pid, p.kind, details(p.pid), usage(p.pid) is None)
        for s in gpus
        for p in s.reading.processes or ()
    )


def processes_note(
    gpus: Sequence[Sample], lookups: ProcessLookups, energy: ProcessEnergyLedger | None = None
) -> str:
    """What the table cannot show, and why, and the model behind its energy; a line or two
    that changes only when the devices do."""
    if not gpus:
        return "No GPUs: there are no GPU processes to list."
    lines = _energy_notes(gpus, energy) if energy is not None else []
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
    hidden = sorted(
        {
            p.pid
            for s in gpus
            for p in s.reading.processes or ()
            if (details := lookups.cached_details(p.pid)) is not None and details.user is None
        }
    )
    if hidden:
        lines.append(
            f"user and host figures n/a for pid {', '.join(map(str, hidden[:5]))}"
            f"{' …' if len(hidden) > 5 else ''}: the OS does not show them to this user "
            "(/proc mounted with hidepid, or the process is in another pid namespace)"
        )
    return "\n".join(lines)


def _energy_notes(gpus: Sequence[Sample], energy: ProcessEnergyLedger) -> list[str]:
    """How the energy column was charged, per basis (``process_energy`` states the model)."""
    measured = [(s, ledger) for s in gpus if (ledger := energy.device(s.device_id)) is not None]
    lines = []
    if any(any(p.sm_pct is not None for p in s.reading.processes or ()) for s, _ in measured):
        lines.append(
            "energy by SM share (an estimate) = the GPU's measured energy x the process's "
            "share, since first seen"
        )
    sole = [s.device_id for s, ledger in measured if ledger.sole_pid is not None]
    if sole:
        lines.append(
            f"energy on {', '.join(sole)}: all its measured energy, charged to its sole compute "
            "process (no SM shares from its driver)"
        )
    return lines


def unattributed_line(gpus: Sequence[Sample], energy: ProcessEnergyLedger | None) -> str:
    """The energy no process was charged for, per GPU, and why the newest interval's was not
    charged where no rule applied: a line whose figures move every sample, so it is kept apart
    from the note (one line, repainted alone)."""
    if energy is None:
        return ""
    left = [
        f"{s.device_id} {fmt.energy(ledger.unattributed_j)} of {fmt.energy(ledger.measured_j)}"
        + (f" (now: {ledger.unattributed_why.value})" if ledger.unattributed_why else "")
        for s in gpus
        if (ledger := energy.device(s.device_id)) is not None
    ]
    return (
        f"not charged to any process (idle, or no rule applies): {', '.join(left)}" if left else ""
    )


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


def shown_rows(
    rows: Sequence[ProcessRow], filter_text: str, column: int, reverse: bool
) -> list[ProcessRow]:
    """The rows the table shows, in order: those matching the filter, sorted by ``column``;
    rows with no value there (n/a) come last whichever the direction."""
    chosen = [r for r in rows if r.matches(filter_text)] if filter_text else list(rows)
    ordered = sorted(chosen, key=lambda r: r.sort_key(column))
    if not reverse:
        return ordered
    known = [r for r in ordered if not r.sort_key(column)[0]]
    return known[::-1] + [r for r in ordered if r.sort_key(column)[0]]


def row_cells(row: ProcessRow, now_s: float, unverified_mark: str) -> tuple[str, ...]:
    """A row as the table writes it: n/a for what is not known; the command whole (the table
    cuts it to its column)."""
    return (
        row.device_id,
        f"{row.pid}{unverified_mark}" if row.unverified else str(row.pid),
        row.user or fmt.NA,
        fmt.clip(row.job, JOB_CELL_MAX) if row.job else fmt.NA,
        row.kind or fmt.NA,
        fmt.value(row.gpu_mem_mib, unit=" MiB"),
        fmt.percent(row.sm_pct),
        fmt.percent(row.mem_bus_pct),
        fmt.energy(row.energy_j),
        fmt.value(row.avg_power_w, unit=" W"),
        fmt.percent(row.cpu_pct),
        fmt.value(row.rss_mib, unit=" MiB"),
        running_time(row.started_s, now_s),
        row.command or fmt.NA,
    )
