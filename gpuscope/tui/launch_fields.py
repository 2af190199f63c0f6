"""The launcher's fields for a workload's parameters, and the one rule between a field and the
value it sets: a parameter whose default is per device (a precision, a CPU's size) starts on
"default", which names what each device gets, and sets nothing there, so each device gets its
own (``measurement.run_params``); a precision may also be "best"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.widgets import Input, Select

from gpuscope.measurement.run_params import run_params
from gpuscope.measurement.targets import RunTarget
from gpuscope.units import check_seconds
from gpuscope.workloads.api import BEST, Param, ParamValue, Workload, WorkloadError
from gpuscope.workloads.registry import WorkloadInfo
from gpuscope.workloads.runner import RUN_SILENCE_S

PER_DEVICE = "(default)"  # a field left on each device's own default


def param_field(
    workload: WorkloadInfo, param: Param, given: dict[str, Any], targets: Sequence[RunTarget]
) -> Input | Select[str]:
    """A parameter's field, on ``given``'s value where it has one."""
    field_id = f"param-{param.name}"
    per_device = param.precision or bool(param.device_defaults)
    if param.choices:
        options = [(str(c), str(c)) for c in param.choices]
        if per_device:
            shown = f"default: {defaults_text(workload, param, targets)}"
            options.insert(0, (shown, PER_DEVICE))
        if param.precision:
            options.insert(1, ("best: the fastest native one on each device", BEST))
        value = PER_DEVICE if per_device else str(param.default)
        value = str(given[param.name]) if param.name in given else value
        return Select(options, value=value, allow_blank=False, id=field_id)
    if param.device_defaults:
        field = Input(str(given.get(param.name, "")), id=field_id)
        field.placeholder = f"default: {defaults_text(workload, param, targets)}"
        return field
    return Input(str(given.get(param.name, param.default)), id=field_id)


def field_value(param: Param, value: object) -> ParamValue | None:
    """The value a field sets, checked; None for a field left on each device's default."""
    text = str(value)
    if text == PER_DEVICE or (param.device_defaults and not text.strip()):
        return None
    return param.parse(text)


def defaults_text(workload: WorkloadInfo, param: Param, targets: Sequence[RunTarget]) -> str:
    """What each launch target gets when the field is left on its default:
    ``fp32 on cpu, bf16 on cuda:0 cuda:1``."""
    by_value: dict[str, list[str]] = {}
    for target in targets:
        try:
            value = run_params(workload, {}, target).values[param.name]
        except WorkloadError:
            continue
        by_value.setdefault(str(value), []).append(target.label)
    parts = [f"{value} on {' '.join(where)}" for value, where in by_value.items()]
    return ", ".join(parts) or str(param.default)


def hang_hint(workload: WorkloadInfo | None) -> str:
    """What an empty hang limit allows, as the runner's ``HangLimits`` does."""
    setup_s = workload.setup_timeout_s if workload is not None else Workload.setup_timeout_s
    return (
        f"by phase: {setup_s:.0f} s for setup, as long for the first step, then "
        f"{RUN_SILENCE_S:.0f} s"
    )


def field_seconds(text: str, name: str, minimum: float) -> float:
    """A field's seconds, checked as the command line checks them."""
    try:
        value = float(text)
    except ValueError:
        raise WorkloadError(f"{name} must be a number of seconds, got {text!r}") from None
    try:
        return check_seconds(value, name, minimum, inclusive=True)
    except ValueError as exc:
        raise WorkloadError(str(exc)) from None
