"""The workload contract: what a bundled workload or a user's plugin declares and implements.

A workload is a class. It declares its name, what it measures, the device kinds it runs on, its
parameters with defaults and its unit of work. It implements ``setup`` (build tensors and
models on the device), ``step`` (one unit of work, returning how much work was done) and
``teardown``. The runner owns timing: it warms up, synchronises the device at measurement
boundaries and decides when to stop. A plugin cannot get timing wrong because it never times
anything. See docs/plugins.md.

This module imports nothing heavy: the registry reads declarations without importing torch.
"""

from __future__ import annotations

import math
import numbers
import re
import reprlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from gpuscope.safe_text import one_line
from gpuscope.units import check_seconds
from gpuscope.workloads.facts import value_text

DEVICE_KINDS = ("cpu", "cuda", "rocm")
ParamValue = int | float | str | bool
PARAM_TYPES = (int, float, str, bool)
# gpuscope bench's own options: a parameter of one of these names could never be set
# (tests/test_registry.py checks this against the command line's parser).
RESERVED_PARAM_NAMES = frozenset(
    {"workload", "list", "device", "compare", "duration", "warmup", "plugin", "hang_timeout",
     "cpu_tdp", "json", "csv", "debug", "help", "h", "version", "sweep"}
)  # fmt: skip


class WorkloadError(Exception):
    """A workload was asked for something it cannot do (bad parameter, unsupported device).

    Raise it from ``setup`` with a message for the user; it is reported as a usage error, not a
    crash.
    """


class ContractError(Exception):
    """A workload broke its side of the contract (``step`` returned something that is not an
    amount of work). A bug in the workload, not the user's input."""


# Number formats gpuscope knows whether a device computes in hardware (telemetry.precisions).
PRECISION_NAMES = ("fp32", "tf32", "fp16", "bf16", "fp8")
BEST = "best"  # a precision parameter's request: each device's best native precision

# A workload's name is typed on command lines and shown everywhere: ASCII letters, digits, '-'
# and '_' only, so a look-alike (gemm in fullwidth letters) or a control character is never one.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
NAME_RULE = "ASCII letters, digits, '-' or '_', starting with a letter or digit, at most 64"
PARAM_NAME_MAX = 64
UNIT_MAX = 40  # characters of a unit ("FLOP", "images"): it follows every figure
TEXT_VALUE_MAX = 100  # characters of a str parameter's default or choice
INT_RANGE = (-(2**63), 2**63 - 1)  # an int parameter reaches torch as a C int64


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a workload; None if it can."""
    if isinstance(name, str) and NAME_PATTERN.fullmatch(name):
        return None
    return f"name must be {NAME_RULE} characters"


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter. Its type is the type of ``default`` (int, float, str or bool);
    ``choices`` limits the values, ``minimum`` and ``maximum`` bound a number (inclusive).
    gpuscope checks all of it before any run starts, on real and simulated devices alike.

    ``device_defaults`` gives another default on a kind of device (``{"cpu": 2048}``: a size
    whose step takes well under a second on a small CPU). ``precision`` marks the parameter
    that names the run's number format (its choices among ``PRECISION_NAMES``): where its
    default is one the device only emulates, gpuscope runs the device's fastest native one
    instead, and ``best`` asks for that on every device."""

    name: str
    default: ParamValue
    help: str = ""
    choices: tuple[ParamValue, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    device_defaults: Mapping[str, ParamValue] = field(default_factory=dict)
    precision: bool = False

    def default_on(self, kind: str) -> ParamValue:
        """The default on a device of ``kind`` ("cpu", "cuda", "rocm")."""
        return self.device_defaults.get(kind, self.default)

    def __hash__(self) -> int:  # the mapping is not hashable; the rest names the parameter
        return hash((self.name, self.default, self.choices, self.minimum, self.maximum))

    def parse(self, text: str) -> ParamValue:
        """A command-line string as this parameter's type; WorkloadError if it does not fit.
        A precision parameter also takes ``best`` (``BEST``), resolved per device."""
        if self.precision and text.strip().lower() == BEST:
            return BEST
        kind = type(self.default)
        try:
            if kind is bool:
                lowered = text.lower()
                if lowered not in BOOL_WORDS:
                    raise ValueError(text)
                value: ParamValue = lowered in ("1", "true", "yes")
            else:
                value = kind(text)
        except ValueError:
            written = "true or false" if kind is bool else kind.__name__
            shown = repr(one_line(text, 40))
            raise WorkloadError(f"{self.name} must be {written}, got {shown}") from None
        return self.check(value)

    def check(self, value: Any) -> ParamValue:
        """``value`` if it is of this parameter's type, finite, in bounds and among the choices."""
        kind = type(self.default)
        if kind is float and type(value) is int:
            value = float(value)
        shown = _shown(value)
        if type(value) is not kind:
            raise WorkloadError(f"{self.name} must be {kind.__name__}, got {shown}")
        if isinstance(value, int) and not INT_RANGE[0] <= value <= INT_RANGE[1]:
            low = max(INT_RANGE[0], math.ceil(self.minimum)) if self.minimum is not None else None
            high = INT_RANGE[1] if self.maximum is None else min(INT_RANGE[1], int(self.maximum))
            span = f"from {low:,} to {high:,}" if low is not None else f"at most {high:,}"
            raise WorkloadError(f"{self.name} must be {span} (a 64-bit integer), got {shown}")
        if kind in (int, float):
            number = float(value)
            if not math.isfinite(number):
                raise WorkloadError(f"{self.name} must be a finite number, got {shown}")
            if self.minimum is not None and number < self.minimum:
                raise WorkloadError(f"{self.name} must be at least {self.minimum:g}, got {shown}")
            if self.maximum is not None and number > self.maximum:
                raise WorkloadError(f"{self.name} must be at most {self.maximum:g}, got {shown}")
        if self.choices is not None and value not in self.choices:
            options = ", ".join(str(c) for c in self.choices)
            raise WorkloadError(f"{self.name} must be one of {options}; got {shown}")
        checked: ParamValue = value
        return checked


BOOL_WORDS = ("1", "0", "true", "false", "yes", "no")


def _shown(value: object) -> str:
    """A parameter value in a message: short, printable, and never too long to write."""
    if isinstance(value, str):
        return repr(one_line(value, 40))
    return value_text(value if isinstance(value, int | float) else repr(value), 40)


@dataclass(frozen=True, slots=True)
class Work:
    """What one ``step`` did: ``units`` of the workload's unit, and FLOPs where known."""

    units: float
    flops: float | None = None


class Workload(ABC):
    """Subclass this. Class attributes declare; methods run in the runner's child process."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    devices: ClassVar[tuple[str, ...]] = DEVICE_KINDS
    params: ClassVar[tuple[Param, ...]] = ()
    unit: ClassVar[str]  # "FLOP", "images", "tokens", or the workload's own
    # How long ``setup`` may take before the run counts as hung (``--hang-timeout`` overrides).
    setup_timeout_s: ClassVar[float] = 120.0

    @abstractmethod
    def setup(self, device: str, params: Mapping[str, Any]) -> None:
        """Build tensors and models on ``device`` ("cpu", "cuda:0", ...). ``params`` holds every
        declared parameter, defaults filled in. Raise WorkloadError for what cannot be done."""

    @abstractmethod
    def step(self) -> Work | float:
        """Do one unit of work; return what was done (a bare number means ``Work(units=n)``)."""

    def teardown(self) -> None:  # noqa: B027 (optional hook, empty by default)
        """Free what ``setup`` made. Called even when ``step`` failed."""

    def facts(self) -> dict[str, Any]:
        """Facts ``setup`` settled, reported once with the results (e.g. the batch it chose,
        the model's parameter count). Plain JSON values only."""
        return {}


def contract_problems(cls: type) -> list[str]:
    """Why ``cls`` is not a usable workload; [] if it is. Never instantiates it."""
    problems: list[str] = []
    name_wrong = name_problem(getattr(cls, "name", None))
    if name_wrong is not None:
        problems.append(name_wrong)
    unit = getattr(cls, "unit", None)
    if not isinstance(unit, str) or not one_line(unit):
        problems.append("unit must be a non-empty string (e.g. 'FLOP', 'images', 'tokens')")
    if not isinstance(getattr(cls, "description", ""), str):
        problems.append("description must be a string")
    devices = getattr(cls, "devices", ())
    if (
        not isinstance(devices, tuple | list)
        or not devices
        or not set(devices) <= set(DEVICE_KINDS)
    ):
        problems.append(f"devices must be a non-empty subset of {DEVICE_KINDS}")
    params = getattr(cls, "params", ())
    if not isinstance(params, tuple | list):
        problems.append("params must be a tuple of Param")
        params = ()
    seen: set[str] = set()
    for param in params:
        if not isinstance(param, Param):
            problems.append(f"params must be Param instances, got {param!r}")
            continue
        if param.name in seen:
            problems.append(f"parameter {param.name!r} declared twice")
        seen.add(param.name)
        problems.extend(param_problems(param))
    setup_timeout = getattr(cls, "setup_timeout_s", 120.0)
    try:
        if isinstance(setup_timeout, bool) or not isinstance(setup_timeout, int | float):
            raise ValueError("setup_timeout_s must be a number of seconds")
        check_seconds(setup_timeout, "setup_timeout_s")
    except ValueError as exc:
        problems.append(str(exc))
    abstract = sorted(getattr(cls, "__abstractmethods__", ()))
    if abstract:
        problems.append(f"missing methods: {', '.join(abstract)}")
    return problems


def param_problems(param: Param) -> list[str]:
    """Why one declared parameter could not be set or checked; [] if it can."""
    name = param.name
    if (
        not isinstance(name, str)
        or not (name.isascii() and name.isidentifier())
        or len(name) > PARAM_NAME_MAX
    ):
        shown = repr(one_line(name, PARAM_NAME_MAX)) if isinstance(name, str) else repr(name)
        return [
            f"parameter name {shown} must be an ASCII Python identifier (letters, digits, '_'; "
            f"at most {PARAM_NAME_MAX})"
        ]
    if name in RESERVED_PARAM_NAMES:
        return [f"parameter {name!r} has the name of a gpuscope bench option (--{name})"]
    if type(param.default) not in PARAM_TYPES:
        return [f"default of {name!r} must be int, float, str or bool, got {param.default!r}"]
    problems = []
    for bound in (param.minimum, param.maximum):
        if bound is not None and (
            type(param.default) not in (int, float)
            or type(bound) not in (int, float)
            or not math.isfinite(bound)
        ):
            problems.append(f"minimum and maximum of {name!r} must be finite numbers on a number")
    try:
        param.check(param.default)
    except WorkloadError as exc:
        problems.append(f"default of {name!r} is not valid: {exc}")
    for kind, value in param.device_defaults.items():
        if kind not in DEVICE_KINDS:
            problems.append(
                f"device_defaults of {name!r}: {kind!r} is no device kind {DEVICE_KINDS}"
            )
            continue
        try:
            param.check(value)
        except WorkloadError as exc:
            problems.append(f"device_defaults of {name!r} on {kind} is not valid: {exc}")
    texts = [param.default, *(param.choices or ()), *param.device_defaults.values()]
    if any(
        type(text) is str and (not text.isprintable() or len(text) > TEXT_VALUE_MAX)
        for text in texts
    ):
        problems.append(
            f"text values of {name!r} must be printable, at most {TEXT_VALUE_MAX} characters"
        )
    if param.precision and (type(param.default) is not str or not param.choices):
        problems.append(
            f"precision parameter {name!r} must be a str with choices (e.g. fp32, bf16)"
        )
    if param.choices is not None:
        if not isinstance(param.choices, tuple | list) or not param.choices:
            problems.append(f"choices of {name!r} must be a non-empty tuple")
        elif any(type(choice) is not type(param.default) for choice in param.choices):
            problems.append(f"choices of {name!r} must all have the default's type")
    return problems


class Declared(Protocol):
    """What the parameter checks need of a workload: a workload class, or its description as
    read from a plugin file in another process (``registry.WorkloadInfo``)."""

    @property
    def name(self) -> str: ...

    @property
    def params(self) -> Sequence[Param]: ...


def resolve_params(
    cls: type[Workload] | Declared, given: Mapping[str, ParamValue]
) -> dict[str, ParamValue]:
    """Defaults overlaid with ``given``; WorkloadError for an unknown name or a bad value."""
    declared = {p.name: p for p in cls.params}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        known = ", ".join(declared) or "none"
        raise WorkloadError(f"{cls.name} has no parameter {unknown[0]!r} (parameters: {known})")
    resolved = {name: p.default for name, p in declared.items()}
    for name, value in given.items():
        resolved[name] = declared[name].check(value)
    return resolved


def device_kind(device: str) -> str:
    """ "cuda:0" -> "cuda"; the kind a workload's ``devices`` is checked against."""
    return device.split(":", 1)[0]


def kind_on(device: str, hip: bool) -> str:
    """The device kind a run of ``device`` really has: on a ROCm build of torch (``hip``) a
    GPU is "rocm" whether the user wrote cuda:N or rocm:N."""
    kind = device_kind(device)
    return "rocm" if hip and kind in ("cuda", "rocm") else kind


def not_rocm_build(device: str, hip: bool, version: str) -> str | None:
    """Why ``device`` cannot be opened by this torch (``rocm:N`` names an AMD GPU, which only
    a ROCm build opens), or None: the parent's check and the child's say it alike."""
    if device_kind(device) == "rocm" and not hip:
        return f"this torch is not a ROCm build (torch {version})"
    return None


def runs_on(workload: type[Workload] | Declared, kind: str) -> bool:
    """Whether ``workload`` declares the device kind ``kind`` (from ``kind_on``): the one rule
    the child applies, and the parent through ``measurement.targets.why_not_runnable``."""
    return kind in getattr(workload, "devices", ())


def not_runnable(workload: type[Workload] | Declared, device: str) -> str:
    """The one-line refusal for ``device``."""
    return (
        f"{workload.name} does not run on {device} "
        f"(it supports {', '.join(getattr(workload, 'devices', ()))})"
    )


def torch_device(device: str) -> str:
    """The device as torch names it: ROCm builds of torch call AMD GPUs "cuda" too."""
    kind, _, index = device.partition(":")
    return "cpu" if kind == "cpu" else f"cuda:{index or 0}"


_STEP_REPR = reprlib.Repr()  # a step's odd return in a message: a list's first items, not 44 MB
_STEP_REPR.maxstring = _STEP_REPR.maxother = 60


def as_work(done: object) -> Work:
    """What ``step`` returned, as ``Work``; ContractError unless it is an amount of work."""
    units = _amount(done.units if isinstance(done, Work) else done)
    flops = done.flops if isinstance(done, Work) else None
    checked_flops = None if flops is None else _amount(flops)
    if units is None or (flops is not None and checked_flops is None):
        raise ContractError(
            f"step returned {_STEP_REPR.repr(done)}: it must return a finite number >= 0, or "
            "Work(units, flops) with finite numbers >= 0"
        )
    return Work(units, checked_flops)


def _amount(value: object) -> float | None:
    """``value`` as a plain float if it is a real number (numpy's included, bool not), finite and
    >= 0; else None."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError, TypeError):
        return None
    return number if math.isfinite(number) and number >= 0 else None
