"""What a run is worth so far, and which runs compare with each other: shared by the Workloads
and Compare views, and kept free of Textual so the Compare tab's model is plain Python."""

from __future__ import annotations

from dataclasses import dataclass

from gpuscope.measurement.measured_run import MeasuredRun
from gpuscope.measurement.run_result import comparable_key
from gpuscope.telemetry.model import EnergySource


def group_key(run: MeasuredRun) -> str:
    """Runs comparable with each other: same workload, same request (``comparable_key``)."""
    return comparable_key(run.workload.name, run.params, run.chosen)


@dataclass(frozen=True, slots=True)
class RunFigures:
    """What a run is worth so far (final once the run is done)."""

    throughput: float | None  # units per second
    work_per_joule: float | None
    avg_power_w: float | None
    energy_source: EnergySource | None
    note: str | None  # why there is no energy figure
    pct_of_peak: float | None = None  # from the final report only: live events carry no FLOPs

    @property
    def is_estimate(self) -> bool:
        """Its energy, work per joule and power come from a model, not a measurement."""
        return self.energy_source is EnergySource.ESTIMATE


def run_figures(run: MeasuredRun) -> RunFigures:
    report = run.result
    if report is not None:
        return RunFigures(
            report.throughput,
            report.work_per_joule,
            report.avg_power_w,
            report.energy_source,
            report.energy_note,
            report.pct_of_peak,
        )
    throughput = run.units / run.seconds if run.seconds > 0 else None
    powers = [p.avg_power_w for p in run.live if p.avg_power_w is not None]
    power = sum(powers) / len(powers) if powers else None
    last = run.live[-1] if run.live else None
    note = None
    if power is None and run.telemetry is not None:
        note = "; ".join(n for n in run.telemetry.notes) or "no power reading"
    return RunFigures(
        throughput,
        throughput / power if throughput is not None and power else None,
        power,
        last.energy_source if last is not None else None,
        note,
    )
