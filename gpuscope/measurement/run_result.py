"""What a run was worth: throughput, energy, average power, work per joule, % of peak.

Throughput is work over the child's measured seconds (warm-up excluded, device synchronised at
both ends). Energy and average power come from the sampler's window over the same stretch, on
the telemetry device that did the work. Work per joule is throughput divided by average power,
so both figures come from the same window even when its edges differ from the child's by a few
milliseconds of IPC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from typing import Any

from gpuscope.measurement.peaks import peak_tflops
from gpuscope.measurement.sharing import Sharing
from gpuscope.safe_text import one_line
from gpuscope.sampler import WindowResult
from gpuscope.telemetry.model import DeviceInfo, EnergySource
from gpuscope.units import format_ratio
from gpuscope.workloads.events import Result
from gpuscope.workloads.facts import value_text


@dataclass(frozen=True, slots=True)
class RunResult:
    workload: str
    device: str  # as the workload saw it: "cpu", "cuda:0"
    telemetry_device: str | None  # "nvidia:0", "cpu"; None when no telemetry device matched
    device_name: str | None
    params: dict[str, Any]
    unit: str
    units: float
    seconds: float
    steps: int
    throughput: float | None  # units per second; None: stopped before it measured anything
    tflops: float | None  # achieved TFLOP/s where the workload reports FLOPs
    energy_j: float | None
    avg_power_w: float | None
    work_per_joule: float | None  # units per joule
    energy_source: EnergySource | None  # None: no energy figure (a string only once written)
    pct_of_peak: float | None  # achieved vs datasheet peak for the dtype; None when unknown
    energy_note: str | None = None  # why there is no energy figure, when there is none
    facts: dict[str, Any] = field(default_factory=dict)  # what the workload's setup settled
    notes: list[str] = field(default_factory=list)  # what was dropped from the facts, and why
    stopped_early: bool = False
    peak_mem_mib: float | None = None  # the most memory the run held (events.Result says how)
    peak_mem_source: str | None = None  # "allocator" (GPU), "rss" (CPU); None: not known
    # the measured stretch on the wall clock (s since the epoch), so a report can mark it on a
    # recording's timeline; None where it is not known
    measured_from_s: float | None = None
    measured_to_s: float | None = None
    # parameters gpuscope chose for this device (per-device defaults, the native precision), and
    # why: runs of one request compare even where these differ (``comparable_key``)
    chosen: dict[str, str] = field(default_factory=dict)
    emulated: str | None = None  # its precision is one the device only emulates: why
    # others used the device over the window (measurement.sharing): their share (%, None where
    # it cannot be told) and the note saying who; shared is None when the device was its own
    shared_pct: float | None = None
    shared: str | None = None
    precision_param: str | None = None  # the parameter naming its number format ("dtype")

    @property
    def is_estimate(self) -> bool:
        """Its energy, work per joule and average power come from a model, not a measurement."""
        return self.energy_source is EnergySource.ESTIMATE

    @property
    def group_key(self) -> str:
        """Runs with the same key answer one question and are held against each other."""
        return comparable_key(self.workload, self.params, self.chosen)

    def as_dict(self) -> dict[str, Any]:
        """Every field as JSON holds it: the energy source as its name (``"estimate"``)."""
        values = asdict(self)
        values["energy_source"] = self.energy_source.value if self.energy_source else None
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunResult:
        """The report ``as_dict`` wrote (``bench --json``, a sweep's point), read back. A key
        a file leaves out takes its default (None; 0 for units, seconds and steps, which older
        and hand-made files omit); one of the wrong type raises ``ValueError`` in one line that
        names it. Texts are taken as given: a caller reading a file makes them printable and
        bounds its figures first (``report.inputs``)."""
        found: dict[str, Any] = {}
        for spec in fields(cls):
            value = values.get(spec.name)
            if value is None and spec.name in _NEEDED_TEXT:
                raise ValueError(f"has no {spec.name}")
            found[spec.name] = _default(spec) if value is None else _checked(spec.name, value)
        return cls(**found)


_NEEDED_TEXT = ("workload", "device", "unit")
_COUNTS = ("units", "seconds", "steps")  # 0 where a file leaves them out
# the measured figures: None where unknown, never 0 (a report reading a file bounds these)
FIGURE_FIELDS = ("throughput", "tflops", "energy_j", "avg_power_w", "work_per_joule",
                 "pct_of_peak", "peak_mem_mib", "measured_from_s", "measured_to_s",
                 "shared_pct")  # fmt: skip
_TEXTS = ("telemetry_device", "device_name", "energy_note", "peak_mem_source", "emulated",
          "shared", "precision_param")  # fmt: skip
_OBJECTS = ("params", "facts", "chosen")


def _default(spec: Field[Any]) -> Any:
    """What a key a file leaves out (or writes as null) reads as."""
    if spec.name in _COUNTS:
        return 0
    if spec.name in _OBJECTS:
        return {}
    if spec.default_factory is not MISSING:
        return spec.default_factory()
    return None if spec.default is MISSING else spec.default


def _checked(name: str, value: Any) -> Any:
    """One field of ``RunResult.from_dict``, not None: checked, and made what a report holds."""
    if name in _COUNTS or name in FIGURE_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} is not a number: {value!r:.40}")
        return value
    if name in _NEEDED_TEXT or name in _TEXTS:
        if not isinstance(value, str):
            raise ValueError(f"{name} is not text: {value!r:.40}")
        return value
    if name in _OBJECTS:
        if not isinstance(value, dict):
            raise ValueError(f"{name} is not an object")
        return {k: str(v) for k, v in value.items()} if name == "chosen" else dict(value)
    if name == "notes":
        if not isinstance(value, list):
            raise ValueError("notes is not a list")
        return [str(note) for note in value]
    if name == "stopped_early":
        if not isinstance(value, bool):
            raise ValueError(f"stopped_early is not true or false: {value!r:.40}")
        return value
    if name == "energy_source":
        try:
            return EnergySource(value)
        except ValueError:
            known = ", ".join(s.value for s in EnergySource)
            raise ValueError(f"energy_source is not one of {known}: {value!r:.40}") from None
    raise AssertionError(f"RunResult.{name} has no reading")  # a new field: give it one


def params_text(params: Mapping[str, Any]) -> str:
    """``dtype=bf16 size=4096``: parameters (or facts) as one line of printable text, whatever
    they hold (a report read from a file, a fact too long to write)."""
    return " ".join(f"{one_line(str(k), 64)}={value_text(v, 200)}" for k, v in params.items())


def peak_dtype(params: dict[str, Any]) -> str | None:
    """The dtype whose datasheet peak a run is held against: a GEMM's ``dtype``; a model's
    autocast ``precision`` when it is bf16 or fp16. A model at fp32 has none: cuDNN may run its
    convolutions and LSTM as TF32 (``torch.backends.cudnn.allow_tf32`` is on by default), so
    neither the fp32 nor the tf32 peak is the honest one."""
    if "dtype" in params:
        return str(params["dtype"])
    precision = params.get("precision")
    return str(precision) if precision in ("bf16", "fp16") else None


def build_result(
    workload: str,
    device: str,
    unit: str,
    params: dict[str, Any],
    result: Result,
    window: WindowResult | None,
    telemetry: DeviceInfo | None,
    device_name: str | None,
    facts: dict[str, Any] | None = None,
    notes: list[str] | None = None,
    ended_wall_s: float | None = None,
    chosen: dict[str, str] | None = None,
    emulated: str | None = None,
    sharing: Sharing | None = None,
    precision_param: str | None = None,
) -> RunResult:
    """Combine the child's ``result`` event with the sampler window of the device that worked."""
    seconds = result.seconds
    units = result.units
    throughput = units / seconds if seconds > 0 else None  # no measured time: no figure, not 0
    flops = result.flops
    tflops = flops / seconds / 1e12 if flops is not None and seconds > 0 else None
    avg_power = window.avg_power_w if window is not None else None
    work_per_joule = throughput / avg_power if avg_power and throughput is not None else None
    peak = peak_tflops(device_name, peak_dtype(params)) if tflops is not None else None
    return RunResult(
        workload=workload,
        device=device,
        telemetry_device=telemetry.device_id if telemetry else None,
        device_name=device_name,
        params=params,
        unit=unit,
        units=units,
        seconds=seconds,
        steps=result.steps,
        throughput=throughput,
        tflops=tflops,
        energy_j=window.energy_j if window is not None else None,
        avg_power_w=avg_power,
        work_per_joule=work_per_joule,
        energy_source=window.source if window is not None else None,
        pct_of_peak=100 * tflops / peak if tflops is not None and peak else None,
        energy_note=None if avg_power is not None else _why_no_energy(telemetry, window, seconds),
        facts=dict(facts or {}),
        notes=list(notes or ()),
        stopped_early=result.stopped_early,
        peak_mem_mib=result.peak_mem_mib,
        peak_mem_source=result.peak_mem_source,
        measured_from_s=ended_wall_s - seconds if ended_wall_s is not None else None,
        measured_to_s=ended_wall_s,
        chosen=dict(chosen or {}),
        emulated=emulated,
        shared_pct=sharing.share_pct if sharing is not None else None,
        shared=sharing.note() if sharing is not None else None,
        precision_param=precision_param,
    )


NOT_MEASURED = "stopped before it measured anything"


def _why_no_energy(
    telemetry: DeviceInfo | None, window: WindowResult | None, seconds: float
) -> str:
    if seconds <= 0:
        return NOT_MEASURED
    if telemetry is None:
        return "no telemetry device matched this torch device"
    if window is not None and window.device_lost:
        return f"{telemetry.device_id} was lost during the run"
    return "; ".join(telemetry.notes) or f"{telemetry.device_id} reports neither energy nor power"


@dataclass(frozen=True, slots=True)
class Comparison:
    """``device`` against ``baseline`` for the same workload and request."""

    baseline: str
    device: str
    speedup: float | None  # throughput ratio
    efficiency_ratio: float | None  # work-per-joule ratio; None unless both have energy
    estimated: tuple[str, ...] = ()  # the devices (of the two) whose energy is an estimate
    precisions: tuple[str | None, str | None] = (None, None)  # (baseline's, device's)
    emulated: tuple[str, ...] = ()  # the devices (of the two) that ran a precision they emulate
    differs: tuple[str, ...] = ()  # parameters chosen per device that differ: "size 2048/8192"
    precision_param: str | None = None  # the parameter naming the precision: the fair way

    def estimated_note(self) -> str:
        """`` (cpu estimated)`` where a side's work/J is an estimate; empty otherwise."""
        return f" ({' and '.join(self.estimated)} estimated)" if self.estimated else ""

    @property
    def fair(self) -> bool:
        """Neither side ran a precision its device only emulates."""
        return not self.emulated

    def sides(self) -> str:
        """``cuda:0 (bf16) vs cpu (fp32)``: each side with its precision."""
        base, other = self.precisions
        return f"{_side(self.device, other)} vs {_side(self.baseline, base)}"

    def unfair_note(self) -> str:
        """Empty for a fair ratio; else why it is not one, and how to get one."""
        if self.fair:
            return ""
        who = " and ".join(self.emulated)
        best = f"--{self.precision_param} best" if self.precision_param else "best"
        return (
            f" [NOT FAIR: {who} emulated {'its' if len(self.emulated) == 1 else 'their'} "
            f"precision; {best} runs each device at its fastest native one]"
        )

    def line(self) -> str:
        """The comparison as bench prints it: sides, ratios, what differs, and fairness."""
        efficiency = (
            "n/a (needs energy on both)"
            if self.efficiency_ratio is None
            else f"{format_ratio(self.efficiency_ratio)}{self.estimated_note()}"
        )
        differs = f" ({', '.join(self.differs)})" if self.differs else ""
        return (
            f"{self.sides()}: throughput {format_ratio(self.speedup)}, work per joule "
            f"{efficiency}{differs}{self.unfair_note()}"
        )


def _side(device: str, precision: str | None) -> str:
    return f"{device} ({precision})" if precision else device


def precision_name(params: Mapping[str, Any], precision_param: str | None) -> str | None:
    """The name of the parameter that holds a run's number format: the one the workload
    declared (``Param.precision``); in files from before it was recorded, ``dtype`` or
    ``precision``."""
    if precision_param is not None:
        return precision_param
    return next((name for name in ("dtype", "precision") if name in params), None)


def run_precision(report: RunResult) -> str | None:
    """The number format a run computed in: a GEMM's dtype, a model's precision."""
    name = precision_name(report.params, report.precision_param)
    value = report.params.get(name) if name is not None else None
    return str(value) if value is not None else None


def ratio(value: float | None, baseline: float | None) -> float | None:
    """``value`` as a multiple of ``baseline`` (a speed-up, a work-per-joule ratio); None where
    either is unknown or the baseline is 0 or less. Bench, the report and Compare all use it."""
    if value is None or baseline is None or baseline <= 0:
        return None
    return value / baseline


def compare(baseline: RunResult, other: RunResult) -> Comparison:
    speedup = ratio(other.throughput, baseline.throughput)
    efficiency = ratio(other.work_per_joule, baseline.work_per_joule)
    estimated = tuple(r.device for r in (baseline, other) if r.is_estimate)
    emulated = tuple(r.device for r in (baseline, other) if r.emulated)
    named = precision_name(other.params, other.precision_param)
    differs = tuple(
        f"{name} {baseline.params[name]}/{other.params[name]}"
        for name in baseline.params
        if name in other.params
        and baseline.params[name] != other.params[name]
        and name != named  # said beside each device
    )
    return Comparison(
        baseline.device,
        other.device,
        speedup,
        efficiency,
        estimated,
        (run_precision(baseline), run_precision(other)),
        emulated,
        differs,
        named,
    )


def comparable_key(workload: str, params: Mapping[str, Any], chosen: Mapping[str, str]) -> str:
    """Runs that answer one question: one workload, and the parameters the user set. What
    gpuscope chose per device (a CPU's size, each device's native precision) may differ."""
    asked = sorted((k, _comparable(v)) for k, v in params.items() if k not in chosen)
    return f"{workload} {asked}"


def _comparable(value: Any) -> str:
    """A value's repr, or for an integer past what Python writes, its size (never raises)."""
    return value_text(value, 100_000) if isinstance(value, int) else repr(value)


def group_results(reports: Iterable[RunResult]) -> list[list[RunResult]]:
    """The runs of one workload and request together (``RunResult.group_key``: a --compare's
    devices), groups in the order their first run came, runs in the order they came."""
    found: dict[str, list[RunResult]] = {}
    for report in reports:
        found.setdefault(report.group_key, []).append(report)
    return list(found.values())


def comparisons(reports: list[RunResult]) -> list[Comparison]:
    """Each report against the first one of its group (a --compare's first device), in the
    order the reports came; runs of different workloads are never compared."""
    first = {id(r): group[0] for group in group_results(reports) for r in group}
    return [compare(first[id(r)], r) for r in reports if first[id(r)] is not r]
