"""Rows of ``gpuscope record --processes``: one per GPU process per sample, with the energy
attributed to it so far, so a recording answers "what did this training job cost".

Columns name their units. ``energy_j`` / ``avg_power_w`` are what the process was charged of
its GPU's measured energy since gpuscope first saw it (gpuscope.measurement.process_energy states
the model); ``energy_basis`` says how: ``sm share`` (``energy_source`` then ``estimate``) or
``sole process`` (the GPU's own energy source: ``counter``, ...). Where the process is not being
charged now, the energy cells are empty (n/a, not 0) and ``energy_basis`` says why
(``none: several processes, no SM shares``). ``user`` and ``command`` come from /proc, where
a process names itself: each is one printable line (``safe_text.one_line``), so ``cat`` on the
file replays no escape sequence, and a command line is cut to ``COMMAND_KEPT`` characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gpuscope.measurement.interval_energy import ChargeBasis
from gpuscope.measurement.process_energy import SOURCE, ProcessEnergy, ProcessEnergyLedger
from gpuscope.safe_text import one_line
from gpuscope.sinks.columns import iso_timestamp
from gpuscope.telemetry.model import ProcessUsage, Sample
from gpuscope.telemetry.processes import COMMAND_KEPT, ProcessLookups

PROCESS_COLUMN_NAMES = (
    "timestamp", "device", "pid", "user", "command", "type", "gpu_mem_mib", "sm_pct",
    "mem_bus_pct", "energy_j", "avg_power_w", "energy_source", "energy_basis",
)  # fmt: skip
USER_MAX = 64


class ProcessRows:
    """A ``RowTable`` of GPU processes. Reads /proc for user and command (cached per pid in
    ``lookups``): it runs as a sampler listener, never on a UI thread."""

    names: tuple[str, ...] = PROCESS_COLUMN_NAMES

    def __init__(self, ledger: ProcessEnergyLedger, lookups: ProcessLookups) -> None:
        self._ledger = ledger  # subscribed before this table, so it has this tick's samples
        self._lookups = lookups

    def rows(self, samples: Sequence[Sample]) -> list[list[Any]]:
        rows = []
        for sample in samples:
            for process in sample.reading.processes or ():
                values = self._values(sample, process)
                rows.append([values[name] for name in self.names])
        self._lookups.forget_exited({p.pid for s in samples for p in s.reading.processes or ()})
        return rows

    def records(self, samples: Sequence[Sample]) -> list[dict[str, Any]]:
        return [dict(zip(self.names, row, strict=True)) for row in self.rows(samples)]

    def _values(self, sample: Sample, process: ProcessUsage) -> dict[str, Any]:
        details = self._lookups.read_details(process.pid)
        charged = self._ledger.charged(sample.device_id, process)
        command = details.command or process.name
        return {
            "timestamp": iso_timestamp(sample.reading.wall_time_s),
            "device": sample.device_id,
            "pid": process.pid,
            "user": None if details.user is None else one_line(details.user, USER_MAX),
            "command": None if command is None else one_line(command, COMMAND_KEPT),
            "type": process.kind,
            "gpu_mem_mib": process.gpu_mem_mib,
            "sm_pct": process.sm_pct,
            "mem_bus_pct": process.mem_bus_pct,
            "energy_j": charged.energy_j if charged else None,
            "avg_power_w": charged.avg_power_w if charged else None,
            "energy_source": _source(sample, charged),
            "energy_basis": self._basis(sample, charged),
        }

    def _basis(self, sample: Sample, charged: ProcessEnergy | None) -> str | None:
        if charged is not None and charged.basis is not None:
            return charged.basis.value
        device = self._ledger.device(sample.device_id)
        why = device.unattributed_why if device is not None else None
        return f"none: {why.value}" if why is not None else None


def _source(sample: Sample, charged: ProcessEnergy | None) -> str | None:
    """An SM-share charge is an estimate; the sole process's is the GPU's own measured energy,
    labelled as the GPU's is."""
    if charged is None:
        return None
    if charged.basis is ChargeBasis.SOLE:
        return sample.energy_source.value if sample.energy_source else None
    return SOURCE.value
