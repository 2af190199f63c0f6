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

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

DEVICE_KINDS = ("cpu", "cuda", "rocm")
ParamValue = int | float | str | bool


class WorkloadError(Exception):
    """A workload was asked for something it cannot do (bad parameter, unsupported device).

    Raise it from ``setup`` with a message for the user; it is reported as a usage error, not a
    crash.
    """


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter. Its type is the type of ``default``; ``choices`` limits the values."""

    name: str
    default: ParamValue
    help: str = ""
    choices: tuple[ParamValue, ...] | None = None

    def parse(self, text: str) -> ParamValue:
        """A command-line string as this parameter's type; WorkloadError if it does not fit."""
        kind = type(self.default)
        try:
            if kind is bool:
                lowered = text.lower()
                if lowered not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(text)
                value: ParamValue = lowered in ("1", "true", "yes")
            else:
                value = kind(text)
        except ValueError:
            raise WorkloadError(f"{self.name} must be {kind.__name__}, got {text!r}") from None
        return self.check(value)

    def check(self, value: ParamValue) -> ParamValue:
        if self.choices is not None and value not in self.choices:
            options = ", ".join(str(c) for c in self.choices)
            raise WorkloadError(f"{self.name} must be one of {options}; got {value!r}")
        return value


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
    """Why ``cls`` is not a usable workload; [] if it is. Never imports or instantiates it."""
    problems: list[str] = []
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_" for c in name):
        problems.append("name must be a non-empty string of letters, digits, '-' or '_'")
    unit = getattr(cls, "unit", None)
    if not isinstance(unit, str) or not unit:
        problems.append("unit must be a non-empty string (e.g. 'FLOP', 'images', 'tokens')")
    devices = getattr(cls, "devices", ())
    if not devices or not set(devices) <= set(DEVICE_KINDS):
        problems.append(f"devices must be a non-empty subset of {DEVICE_KINDS}")
    params = getattr(cls, "params", ())
    seen: set[str] = set()
    for param in params:
        if not isinstance(param, Param):
            problems.append(f"params must be Param instances, got {param!r}")
            continue
        if param.name in seen:
            problems.append(f"parameter {param.name!r} declared twice")
        seen.add(param.name)
        if param.choices is not None and param.default not in param.choices:
            problems.append(f"default of {param.name!r} is not one of its choices")
    abstract = sorted(getattr(cls, "__abstractmethods__", ()))
    if abstract:
        problems.append(f"missing methods: {', '.join(abstract)}")
    return problems


def resolve_params(cls: type[Workload], given: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
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
