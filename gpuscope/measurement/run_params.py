"""The parameters a run gets on its device: what the user gave, and per-device defaults for the
rest, each choice said.

A workload's defaults are per device (``Param.device_defaults``: a GEMM of n=2048 on a CPU,
8192 on a GPU). Its precision parameter's default is kept where the device computes it in
hardware and replaced by the device's fastest native precision where it does not (bf16 on a
CPU without AVX512-BF16 or AMX runs a hundred times slower than fp32). ``best`` asks for the
fastest native precision on every device: the fair way to compare a CPU with a GPU. A precision
asked for by name is run as asked, with a line saying when the device only emulates it.
``bench``, ``suite``, the sweeps and the launcher all resolve parameters here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gpuscope.measurement.targets import RunTarget
from gpuscope.telemetry.precisions import EMULATABLE, describe
from gpuscope.workloads.api import BEST, Declared, Param, ParamValue, resolve_params

# "best" picks from these, fastest first. Never tf32 (fp32 storage with a faster matmul mode)
# nor fp8 (it needs scaling a workload must be written for): neither is a drop-in precision.
BEST_ORDER = ("bf16", "fp16", "fp32")


@dataclass(frozen=True, slots=True)
class Emulated:
    """A run's precision is one its device only emulates."""

    precision: str  # "bf16"
    device: str  # "cpu", as the run is labelled
    basis: str  # what the device's formats were read from: "AVX2, no AVX512-BF16 or AMX"
    param: str  # the parameter that names it: "dtype"
    fastest: str | None  # the device's fastest native one among the parameter's choices
    native: frozenset[str]

    def head(self) -> str:
        """``bf16 is emulated on cpu (AVX2, no AVX512-BF16 or AMX)``."""
        return f"{self.precision} is emulated on {self.device} ({self.basis})"

    def text(self) -> str:
        """The head, and the precision that runs in hardware there, and how to ask for it."""
        if self.fastest is None:
            return self.head()
        return (
            f"{self.head()}: far slower than {self.fastest}, which it does in hardware "
            f"({self.param}={self.fastest}, or {self.param}=best; native there: "
            f"{describe(self.native)})"
        )


@dataclass(frozen=True, slots=True)
class RunParams:
    """A run's parameters on its device, and what gpuscope decided for it."""

    values: dict[str, Any]
    chosen: dict[str, str] = field(default_factory=dict)  # parameter -> why this value here
    emulated: Emulated | None = None
    precision_param: str | None = None  # the parameter that names the run's number format
    notes: tuple[str, ...] = ()  # to say before the run: a default replaced by a native one


def precision_param(workload: Declared) -> Param | None:
    """The parameter that names a workload's number format, if it declares one."""
    return next((p for p in workload.params if p.precision), None)


def run_params(workload: Declared, given: Mapping[str, ParamValue], target: RunTarget) -> RunParams:
    """``given`` (checked values, ``BEST`` for a precision) with the device's defaults for the
    rest, checked as a whole; WorkloadError for what does not fit."""
    native, basis = _native(target)
    values: dict[str, ParamValue] = {}
    chosen: dict[str, str] = {}
    notes: list[str] = []
    for param in workload.params:
        asked = given.get(param.name)
        if param.precision and (asked is None or asked == BEST):
            value, why = _precision(param, target, asked == BEST, native, basis)
            values[param.name], chosen[param.name] = value, why
            if asked is None and value != param.default_on(target.kind):  # replaced: say so
                notes.append(f"{param.name}={value}: {why}")
        elif asked is not None:
            values[param.name] = asked
        elif param.device_defaults:  # said on every device: the values may differ between them
            values[param.name] = param.default_on(target.kind)
            chosen[param.name] = f"the default on {'a CPU' if target.kind == 'cpu' else 'a GPU'}"
    unknown = {k: v for k, v in given.items() if k not in values and k not in chosen}
    resolved = resolve_params(workload, {**unknown, **values})  # an unknown name: WorkloadError
    named = precision_param(workload)
    return RunParams(
        resolved,
        chosen,
        _emulated(named, resolved, native, basis, target.label),
        named.name if named is not None else None,
        tuple(notes),
    )


def _native(target: RunTarget) -> tuple[frozenset[str] | None, str]:
    info = target.telemetry
    if info is None or info.precisions is None:
        return None, "not known here"
    return info.precisions.native, info.precisions.basis


def _fastest(param: Param, native: frozenset[str]) -> str | None:
    """The first of ``BEST_ORDER`` among the parameter's choices that the device does."""
    return next((p for p in BEST_ORDER if p in (param.choices or ()) and p in native), None)


def _precision(
    param: Param, target: RunTarget, best: bool, native: frozenset[str] | None, basis: str
) -> tuple[ParamValue, str]:
    """The precision a run gets when none was named (or ``best``), and why."""
    default = param.default_on(target.kind)
    if native is None:
        why = f"the default ({target.label}'s formats not known here)"
        return default, f"best: {why}" if best else why
    fastest = _fastest(param, native)
    if best:
        if fastest is None:
            return default, f"best: the default (none of {param.name}'s choices is native)"
        return fastest, f"best native on {target.label} ({basis})"
    if default in native or fastest is None:
        return default, "the default"
    return fastest, f"{default} would be emulated on {target.label} ({basis})"


def _emulated(
    param: Param | None,
    values: dict[str, Any],
    native: frozenset[str] | None,
    basis: str,
    where: str,
) -> Emulated | None:
    if param is None or native is None:
        return None
    value = values.get(param.name)
    if value not in EMULATABLE or value in native:
        return None
    return Emulated(str(value), where, basis, param.name, _fastest(param, native), native)


def choice_notes(runs: Iterable[RunParams]) -> list[str]:
    """What a user should hear before the runs start, each once: a default precision replaced
    by the device's native one, and a precision asked for that the device only emulates."""
    notes: list[str] = []
    for run in runs:
        notes += run.notes
        if run.emulated is not None:
            notes.append(run.emulated.text())
    return list(dict.fromkeys(notes))
