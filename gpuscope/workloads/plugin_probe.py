"""Reads plugin declarations in a process of its own, started by ``plugin_reader``.

Importing a plugin runs its module's top level, which may print, sleep, exit, crash or import
torch. Here none of that can reach gpuscope: the plugin's stdout and stderr go nowhere, and the
declarations travel back as JSON lines on a copy of the original stdout. Each item is announced
before it is imported, so the parent knows which one hung or took the process down
(``plugin_reader`` kills and restarts the probe for the rest).

Items on the command line: ``file:PATH:MODULE`` or ``entry-point:NAME=VALUE``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback
from importlib.metadata import EntryPoint
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from gpuscope.workloads.api import Workload, contract_problems
from gpuscope.workloads.process_group import end_with_parent

ENTRY_POINT_GROUP = "gpuscope.workloads"


class NotAWorkload(Exception):
    """An entry point that names something other than a Workload subclass."""


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


def workload_classes(module: ModuleType) -> list[type[Workload]]:
    """The Workload subclasses a module defines (not those it imports)."""
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Workload)
        and value is not Workload
        and value.__module__ == module.__name__
    ]


def one_line(exc: BaseException, path: str | None = None) -> str:
    """``line 3: ZeroDivisionError: division by zero``: the line in ``path`` where it happened."""
    text = " ".join(traceback.format_exception_only(type(exc), exc)[-1].split())
    line = None
    if isinstance(exc, SyntaxError) and exc.lineno is not None:
        line = exc.lineno
    elif path is not None:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
        line = frames[-1].lineno if frames else None
    if isinstance(exc, SystemExit):
        text = f"exits while being imported (SystemExit {exc.code!r})"
    return f"line {line}: {text}" if line is not None else text


def describe(cls: type[Workload], module: str, where: str) -> dict[str, Any]:
    """A checked workload's declaration as JSON values (``registry.WorkloadInfo.from_probe``)."""
    return {
        "name": cls.name,
        "description": cls.description,
        "devices": list(cls.devices),
        "unit": cls.unit,
        "setup_timeout_s": float(cls.setup_timeout_s),
        "params": [
            {
                "name": p.name,
                "default": p.default,
                "help": p.help,
                "choices": None if p.choices is None else list(p.choices),
                "minimum": p.minimum,
                "maximum": p.maximum,
                "device_defaults": dict(p.device_defaults),
                "precision": p.precision,
            }
            for p in cls.params
        ],
        "qualname": cls.__qualname__,
        "module": module,
        "where": where,
    }


def _classes_of(item: str) -> tuple[list[type[Workload]], str]:
    """Import one item: its workload classes and the module they live in."""
    kind, _, rest = item.partition(":")
    if kind == "file":
        path, _, module_name = rest.rpartition(":")
        return workload_classes(load_plugin_file(Path(path), module_name)), module_name
    name, _, value = rest.partition("=")
    loaded = EntryPoint(name, value, ENTRY_POINT_GROUP).load()
    if not (isinstance(loaded, type) and issubclass(loaded, Workload)):
        raise NotAWorkload
    return [loaded], loaded.__module__


def probe(item: str, where: str) -> dict[str, Any]:
    """What one item declares: its workloads, and what is broken with a one-line reason (and,
    for an import that failed, its traceback for ``--debug``)."""
    workloads: list[dict[str, Any]] = []
    broken: list[dict[str, Any]] = []
    file = item.split(":", 1)[1].rpartition(":")[0] if item.startswith("file:") else None
    try:
        classes, module = _classes_of(item)
    except NotAWorkload:
        broken.append({"where": where, "reason": "is not a Workload subclass"})
        return {"workloads": [], "broken": broken}
    except BaseException as exc:  # SyntaxError, ImportError, SystemExit, anything at all
        detail = "".join(traceback.format_exception(exc))[-4000:]
        broken.append({"where": where, "reason": one_line(exc, file), "detail": detail})
        return {"workloads": [], "broken": broken}
    if not classes:
        broken.append({"where": where, "reason": "defines no Workload subclass"})
    for cls in classes:
        declared = getattr(cls, "name", None)
        try:
            problems = contract_problems(cls)
            if not problems:
                described = describe(cls, module, where)
                json.dumps(described, allow_nan=False)
                workloads.append(described)
                continue
        except Exception as exc:  # a declaration odd enough to break the checks themselves
            problems = [f"its declaration cannot be read: {one_line(exc)}"]
        broken.append(
            {
                "where": where,
                "reason": f"{cls.__name__}: {'; '.join(problems)}",
                "name": declared if isinstance(declared, str) else None,
            }
        )
    return {"workloads": workloads, "broken": broken}


def _silence() -> TextIO:
    """Point fds 0-2 at /dev/null; return a stream on the original stdout for the results."""
    sys.stdout.flush()
    results = os.fdopen(os.dup(1), "w", buffering=1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    return results


def main(argv: list[str]) -> None:
    """Items and their ``where`` alternate in ``argv``; one ``begin`` and one result line each,
    stamped with this process's pid (a copy a plugin forks has another)."""
    end_with_parent()
    results = _silence()
    pid = os.getpid()
    for index in range(0, len(argv), 2):
        item, where = argv[index], argv[index + 1]
        results.write(json.dumps({"pid": pid, "begin": item}) + "\n")
        results.write(json.dumps({"pid": pid, "item": item, **probe(item, where)}) + "\n")
    results.flush()
    os._exit(0)  # a plugin's atexit handler or stuck thread must not keep the probe alive
