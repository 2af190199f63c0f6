"""Finds workloads: bundled ones, ``--plugin FILE``, ``*.py`` files in the user's plugin folder
and (only when gpuscope runs from its own source checkout) the checkout's ``plugins/``, and the
``gpuscope.workloads`` entry-point group of installed packages.

Plugins are never imported in gpuscope's process: ``plugin_probe`` reads their declarations in a
child, with a time limit per file, so a plugin that prints, hangs, exits or crashes at import is
listed as broken with a one-line reason and cannot touch gpuscope's output or its UI. The first
of a name wins, in this order: bundled, ``--plugin``, the user's folder, the checkout's folder,
entry points; every workload a name hides is reported as shadowed, naming both.

What a plugin declares enters gpuscope here, and leaves clean: its description, unit and
parameter help are one printable line each (a unit at most ``UNIT_MAX`` characters), and a
broken plugin's reason is one line, so no face (``--list``, the launcher, a report) can be sent
a control sequence.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from gpuscope.safe_text import one_line, printable
from gpuscope.user_dirs import user_config_dir
from gpuscope.workloads.api import UNIT_MAX, Param, Workload, name_problem
from gpuscope.workloads.plugin_probe import ENTRY_POINT_GROUP, load_plugin_file, workload_classes
from gpuscope.workloads.plugin_reader import ProbeItem, read_plugins

BUNDLED_MODULES = (
    "gpuscope.workloads.gemm",
    "gpuscope.workloads.cnn",
    "gpuscope.workloads.rnn",
    "gpuscope.workloads.memory_probe",
)
IMPORT_TIMEOUT_S = 10.0  # per plugin file; a first ``import torch`` takes ~2 s
TOTAL_TIMEOUT_S = 30.0  # all plugins together: a folder of hanging files cannot cost minutes


def checkout_plugins(module_file: Path = Path(__file__)) -> Path | None:
    """The source checkout's ``plugins/`` when gpuscope runs from that checkout, else None.

    An installed gpuscope lives in ``site-packages``, whose parent folder's ``plugins/`` (if any)
    belongs to someone else: it is never read."""
    root = module_file.resolve().parents[2]
    if {"site-packages", "dist-packages"} & set(root.parts):
        return None
    pyproject = root / "pyproject.toml"
    try:
        ours = 'name = "gpuscope"' in pyproject.read_text(errors="replace")
    except OSError:
        return None
    folder = root / "plugins"
    return folder if ours and folder.is_dir() else None


def user_plugin_dir() -> Path:
    """The user's plugin folder, beside ``config.toml`` (``gpuscope.user_dirs``)."""
    return user_config_dir() / "plugins"


@dataclass(frozen=True, slots=True)
class WorkloadRef:
    """Where a workload class lives, in a form a spawned child process can load it from."""

    qualname: str
    module: str  # importable module name, or the name a plugin file is loaded under
    file: str | None = None  # plugin file path; None for bundled and entry-point workloads
    origin: str = "bundled"  # bundled, --plugin, plugin folder, checkout plugins, entry point

    def load(self) -> type[Workload]:
        """Import the class. Only the runner's child process calls this for a plugin."""
        if self.file is None:
            module = importlib.import_module(self.module)
        else:
            module = sys.modules.get(self.module) or load_plugin_file(Path(self.file), self.module)
        cls: type[Workload] = getattr(module, self.qualname)
        return cls


@dataclass(frozen=True, slots=True)
class WorkloadInfo:
    """What a workload declares, without its class: all gpuscope's own process needs."""

    name: str
    description: str
    devices: tuple[str, ...]
    unit: str
    params: tuple[Param, ...]
    ref: WorkloadRef
    where: str  # the file, module or entry point it came from, for messages
    setup_timeout_s: float = 120.0

    @classmethod
    def of(cls, workload: type[Workload], ref: WorkloadRef, where: str) -> WorkloadInfo:
        return cls(
            workload.name,
            workload.description,
            tuple(workload.devices),
            workload.unit,
            tuple(workload.params),
            ref,
            where,
            float(workload.setup_timeout_s),
        )

    @classmethod
    def from_probe(cls, data: dict[str, Any], file: str | None, origin: str) -> WorkloadInfo:
        """A plugin's declaration as read by ``plugin_probe`` (checked there), its texts made
        printable here."""
        params = tuple(
            Param(
                p["name"],
                p["default"],
                one_line(p["help"]),
                None if p["choices"] is None else tuple(p["choices"]),
                p["minimum"],
                p["maximum"],
                p.get("device_defaults") or {},
                bool(p.get("precision")),
            )
            for p in data["params"]
        )
        ref = WorkloadRef(data["qualname"], data["module"], file, origin)
        return cls(
            data["name"], one_line(data["description"]), tuple(data["devices"]),
            one_line(data["unit"], UNIT_MAX), params, ref, one_line(data["where"], 1000),
            data["setup_timeout_s"],
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class BrokenPlugin:
    """A plugin that cannot run, and why in one line (``detail``: a traceback, for --debug)."""

    where: str  # file path or entry-point name
    reason: str  # one line
    name: str | None = None  # the workload name it meant to declare, where known
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Shadowed:
    """A workload hidden by an earlier one of the same name."""

    name: str
    hidden: str  # where the hidden one is
    winner: str  # where the one that runs is
    winner_origin: str

    def describe(self) -> str:
        return (
            f"{self.hidden}: workload {self.name!r} is hidden by {self.winner} "
            f"({self.winner_origin}), which wins"
        )


@dataclass
class Catalog:
    """What can run (by name), what is broken, and what a name clash hid."""

    workloads: dict[str, WorkloadInfo] = field(default_factory=dict)
    broken: list[BrokenPlugin] = field(default_factory=list)
    shadowed: list[Shadowed] = field(default_factory=list)

    def add(self, info: WorkloadInfo) -> None:
        taken = self.workloads.get(info.name)
        if taken is None:
            self.workloads[info.name] = info
        else:
            self.shadowed.append(Shadowed(info.name, info.where, taken.where, taken.ref.origin))

    def broken_for(self, name: str) -> BrokenPlugin | None:
        """The broken plugin that seems to be the workload of this name, if any."""
        return next((b for b in self.broken if b.name == name or Path(b.where).stem == name), None)

    def shadows_of(self, name: str) -> list[Shadowed]:
        return [s for s in self.shadowed if s.name == name]


def plugin_module_name(path: Path) -> str:
    """The module name a plugin file is loaded under, the same in every process."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    return f"gpuscope_plugin_{digest}_{path.stem}"


@dataclass(frozen=True, slots=True)
class _Source:
    """One plugin file or entry point to read, and where its workloads will come from."""

    item: ProbeItem
    file: str | None
    origin: str


def _folder_files(folder: Path | None) -> list[Path]:
    if folder is None or not folder.is_dir():
        return []
    return [p for p in sorted(folder.glob("*.py")) if not p.name.startswith("_")]


def bundled_workloads() -> Catalog:
    """Only the workloads that ship with gpuscope: no plugin is read (their names win anyway)."""
    catalog = Catalog()
    for module_name in BUNDLED_MODULES:
        module = importlib.import_module(module_name)
        for cls in workload_classes(module):
            catalog.add(
                WorkloadInfo.of(cls, WorkloadRef(cls.__qualname__, module_name), module_name)
            )
    return catalog


def _no_file(path: Path) -> str:
    """Why ``path`` is not read as a plugin: only a regular file is imported (a FIFO would
    hang the import, a device would never end)."""
    if path.is_dir():
        return "a folder, not a Python file"
    if path.exists():
        return "not a regular file (a pipe, a device or a socket): not read"
    return "no such file"


def find_workloads(
    plugin_files: Iterable[Path] = (),
    plugin_dirs: Iterable[Path] | None = None,
    use_entry_points: bool = True,
    import_timeout_s: float = IMPORT_TIMEOUT_S,
    total_timeout_s: float = TOTAL_TIMEOUT_S,
    cancel: threading.Event | None = None,
) -> Catalog:
    """Everything runnable. ``plugin_dirs`` defaults to the user's folder, then the checkout's.
    ``cancel`` stops reading plugins at once (what is not read is listed as such)."""
    catalog = bundled_workloads()
    if plugin_dirs is None:
        folders = [(user_plugin_dir(), "plugin folder"), (checkout_plugins(), "checkout plugins")]
    else:
        folders = [(folder, "plugin folder") for folder in plugin_dirs]
    candidates = [(path, "--plugin") for path in plugin_files] + [
        (path, origin) for folder, origin in folders for path in _folder_files(folder)
    ]
    sources: list[_Source] = []
    seen: set[Path] = set()
    for path, origin in candidates:
        if not path.is_file():
            where = one_line(str(path), 1000)
            catalog.broken.append(BrokenPlugin(where, _no_file(path), path.stem))
        elif path.resolve() not in seen:  # named by --plugin and in a folder: one file
            seen.add(path.resolve())
            arg = f"file:{path.resolve()}:{plugin_module_name(path)}"
            sources.append(_Source(ProbeItem(arg, str(path), path.stem), str(path), origin))
    if use_entry_points:
        for point in entry_points(group=ENTRY_POINT_GROUP):
            where = f"entry point {point.name} ({point.value})"
            arg = f"entry-point:{point.name}={point.value}"
            sources.append(_Source(ProbeItem(arg, where, point.name), None, "entry point"))
    results = read_plugins(
        [source.item for source in sources], import_timeout_s, total_timeout_s, cancel
    )
    for source, result in zip(sources, results, strict=True):
        for data in result.workloads:
            wrong = name_problem(data.get("name"))  # checked in the probe; a plugin runs there
            if wrong is None:
                catalog.add(WorkloadInfo.from_probe(data, source.file, source.origin))
            else:
                catalog.broken.append(BrokenPlugin(one_line(source.item.where, 1000), wrong))
        for broken in result.broken:
            catalog.broken.append(
                BrokenPlugin(
                    one_line(str(broken["where"]), 1000),
                    one_line(str(broken["reason"])),
                    broken.get("name"),
                    printable(str(broken.get("detail", ""))),
                )
            )
    return catalog
