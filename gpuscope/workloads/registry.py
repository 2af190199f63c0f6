"""Finds workloads: bundled ones, ``*.py`` files in plugin folders, ``--plugin FILE``, and the
``gpuscope.workloads`` entry-point group of installed packages.

A plugin that fails in any way (syntax error, import error, a broken contract, a taken name) is
listed as broken with its reason and never stops the others from loading. Loading a plugin runs
its module's top level, so plugins should import torch inside ``setup`` (docs/plugins.md).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from gpuscope.workloads.api import Workload, contract_problems

BUNDLED_MODULES = (
    "gpuscope.workloads.gemm",
    "gpuscope.workloads.cnn",
    "gpuscope.workloads.rnn",
    "gpuscope.workloads.memory_probe",
)
ENTRY_POINT_GROUP = "gpuscope.workloads"
PROJECT_PLUGINS = Path(__file__).resolve().parents[2] / "plugins"  # a source checkout's plugins/


def user_plugin_dir() -> Path:
    """``$XDG_CONFIG_HOME/gpuscope/plugins`` (default ``~/.config/gpuscope/plugins``)."""
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "gpuscope" / "plugins"


@dataclass(frozen=True, slots=True)
class WorkloadRef:
    """Where a workload class lives, in a form a spawned child process can load it from."""

    qualname: str
    module: str  # importable module name, or the name a plugin file is loaded under
    file: str | None = None  # plugin file path; None for bundled and entry-point workloads
    origin: str = "bundled"  # "bundled", "plugin", "entry point"

    def load(self) -> type[Workload]:
        if self.file is None:
            module = importlib.import_module(self.module)
        else:
            module = sys.modules.get(self.module) or load_plugin_file(Path(self.file), self.module)
        cls: type[Workload] = getattr(module, self.qualname)
        return cls


@dataclass(frozen=True, slots=True)
class BrokenPlugin:
    where: str  # file path or entry-point name
    reason: str  # one line


@dataclass
class Catalog:
    workloads: dict[str, tuple[type[Workload], WorkloadRef]] = field(default_factory=dict)
    broken: list[BrokenPlugin] = field(default_factory=list)

    def add(self, cls: type[Workload], ref: WorkloadRef, where: str) -> None:
        problems = contract_problems(cls)
        if problems:
            self.broken.append(BrokenPlugin(where, f"{cls.__name__}: {'; '.join(problems)}"))
        elif cls.name in self.workloads:
            taken = self.workloads[cls.name][1]
            self.broken.append(
                BrokenPlugin(where, f"name {cls.name!r} already taken by the {taken.origin} one")
            )
        else:
            self.workloads[cls.name] = (cls, ref)


def load_plugin_file(path: Path, module_name: str) -> ModuleType:
    """Execute a plugin file as a module (any exception propagates to the caller)."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _workload_classes(module: ModuleType) -> list[type[Workload]]:
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Workload)
        and value is not Workload
        and value.__module__ == module.__name__
    ]


def _one_line(exc: BaseException) -> str:
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return " ".join(last.split())


def _add_plugin_file(catalog: Catalog, path: Path) -> None:
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]  # same name in the child
    module_name = f"gpuscope_plugin_{digest}_{path.stem}"
    try:
        module = load_plugin_file(path, module_name)
    except BaseException as exc:  # SyntaxError, ImportError, SystemExit, anything at all
        catalog.broken.append(BrokenPlugin(str(path), _one_line(exc)))
        return
    classes = _workload_classes(module)
    if not classes:
        catalog.broken.append(BrokenPlugin(str(path), "defines no Workload subclass"))
    for cls in classes:
        catalog.add(cls, WorkloadRef(cls.__qualname__, module_name, str(path), "plugin"), str(path))


def _add_entry_points(catalog: Catalog) -> None:
    for point in entry_points(group=ENTRY_POINT_GROUP):
        where = f"entry point {point.name} ({point.value})"
        try:
            loaded = point.load()
        except BaseException as exc:
            catalog.broken.append(BrokenPlugin(where, _one_line(exc)))
            continue
        if not (isinstance(loaded, type) and issubclass(loaded, Workload)):
            catalog.broken.append(BrokenPlugin(where, "is not a Workload subclass"))
            continue
        ref = WorkloadRef(loaded.__qualname__, loaded.__module__, None, "entry point")
        catalog.add(loaded, ref, where)


def find_workloads(
    plugin_files: Iterable[Path] = (),
    plugin_dirs: Iterable[Path] | None = None,
    use_entry_points: bool = True,
) -> Catalog:
    """Everything runnable, bundled first (their names win), then plugins, then entry points."""
    catalog = Catalog()
    for module_name in BUNDLED_MODULES:
        module = importlib.import_module(module_name)
        for cls in _workload_classes(module):
            catalog.add(cls, WorkloadRef(cls.__qualname__, module_name), module_name)
    dirs = [PROJECT_PLUGINS, user_plugin_dir()] if plugin_dirs is None else list(plugin_dirs)
    files = [
        path
        for folder in dirs
        if folder.is_dir()
        for path in sorted(folder.glob("*.py"))
        if not path.name.startswith("_")
    ]
    seen: set[Path] = set()
    for path in [*files, *plugin_files]:
        if not path.is_file():
            catalog.broken.append(BrokenPlugin(str(path), "no such file"))
        elif path.resolve() not in seen:  # a file in a plugin folder and named by --plugin
            seen.add(path.resolve())
            _add_plugin_file(catalog, path)
    if use_entry_points:
        _add_entry_points(catalog)
    return catalog
