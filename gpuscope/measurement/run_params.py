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
from gpuscope.telemetry.precisions import describe
from gpuscope.workloads.api import (
    BEST,
    Declared,
    Param,
    ParamValue,
    WorkloadError,
    device_kind,
    resolve_params,
)

# "best" picks from these, fastest first. Never tf32 (fp32 storage with a faster matmul mode)
# nor fp8 (it needs scaling a workload must be written for): neither is a drop-in precision.
BEST_ORDER = ("bf16", "fp16", "fp32")
# What an emulated precision is said of: fp32 is native everywhere, and tf32 and fp8 are GPU
# formats a workload refuses on its own where they do not exist.
EMULATABLE = ("bf16", "fp16")


@dataclass(frozen=True, slots=True)
class RunParams:
    """A run's parameters on its device, and what gpuscope decided for it."""

    values: dict[str, Any]
    chosen: dict[str, str] = field(default_factory=dict)  # parameter -> why this value here
    emulated: str | None = None  # the run's precision is emulated on its device: why, and the fix


def precision_param(workload: Declared) -> Param | None:
    """The parameter that names a workload's number format, if it declares one."""
    return next((p for p in workload.params if p.precision), None)


def run_params(workload: Declared, given: Mapping[str, ParamValue], target: RunTarget) -> RunParams:
    """``given`` (checked values, ``BEST`` for a precision) with the device's defaults for the
    rest, checked as a whole; WorkloadError for what does not fit."""
    kind = device_kind(target.torch_device)
    native, basis = _native(target)
    values: dict[str, ParamValue] = {}
    chosen: dict[str, str] = {}
    for param in workload.params:
        asked = given.get(param.name)
        if param.precision and (asked is None or asked == BEST):
            value, why = _precision(param, asked == BEST, native, basis, target.label)
            values[param.name], chosen[param.name] = value, why
        elif asked is not None:
            values[param.name] = asked
        elif param.device_defaults:  # said on every device: the values may differ between them
            values[param.name] = param.default_on(kind)
            chosen[param.name] = f"the default on {'a CPU' if kind == 'cpu' else 'a GPU'}"
    unknown = {k: v for k, v in given.items() if k not in values and k not in chosen}
    resolved = resolve_params(workload, {**unknown, **values})  # an unknown name: WorkloadError
    return RunParams(resolved, chosen, _emulated(workload, resolved, native, basis, target.label))


def _native(target: RunTarget) -> tuple[frozenset[str] | None, str]:
    info = target.telemetry
    if info is None or info.precisions is None:
        return None, "not known here"
    return info.precisions.native, info.precisions.basis


def _precision(
    param: Param, best: bool, native: frozenset[str] | None, basis: str, where: str
) -> tuple[ParamValue, str]:
    """The precision a run gets when none was named (or ``best``), and why."""
    default = param.default
    if native is None:
        return default, f"{'best: ' if best else ''}the default ({where}'s formats not known)"
    fastest = next((p for p in BEST_ORDER if p in (param.choices or ()) and p in native), None)
    if best:
        if fastest is None:
            return default, f"best: the default (none of {param.name}'s choices is native)"
        return fastest, f"best native on {where} ({basis})"
    if default in native or fastest is None:
        return default, "the default"
    return fastest, f"{default} would be emulated on {where} ({basis})"


def _emulated(
    workload: Declared,
    values: dict[str, Any],
    native: frozenset[str] | None,
    basis: str,
    where: str,
) -> str | None:
    param = precision_param(workload)
    if param is None or native is None:
        return None
    value = values.get(param.name)
    if value not in EMULATABLE or value in native:
        return None
    fastest = next((p for p in BEST_ORDER if p in (param.choices or ()) and p in native), None)
    if fastest is None:
        return f"{value} is emulated on {where} ({basis})"
    return (
        f"{value} is emulated on {where} ({basis}): far slower than {fastest}, which it does "
        f"in hardware ({param.name}={fastest}, or {param.name}=best; native there: "
        f"{describe(native)})"
    )


def given_values(workload: Declared, given: Mapping[str, str]) -> dict[str, ParamValue]:
    """Command-line or form text per parameter, each parsed and checked on its own (a
    precision may be ``best``); WorkloadError names the first that does not fit."""
    declared = {p.name: p for p in workload.params}
    parsed: dict[str, ParamValue] = {}
    for name, text in given.items():
        if name not in declared:
            known = ", ".join(declared) or "none"
            raise WorkloadError(f"{workload.name} has no parameter {name!r} (parameters: {known})")
        parsed[name] = declared[name].parse(text)
    return parsed


def choice_notes(workload: Declared, runs: Iterable[RunParams]) -> list[str]:
    """What a user should hear before the runs start, each once: a precision that is emulated
    where it runs, and a default precision replaced by the device's native one."""
    param = precision_param(workload)
    notes: list[str] = []
    for run in runs:
        if run.emulated:
            notes.append(run.emulated)
        if param is None or param.name not in run.chosen:
            continue
        value, why = run.values[param.name], run.chosen[param.name]
        if value != param.default and not why.startswith("best"):  # best: asked for
            notes.append(f"{param.name}={value}: {why}")
    return list(dict.fromkeys(notes))
