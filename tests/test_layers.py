"""The layering docs/architecture.md draws, enforced: which package of gpuscope may import which,
and where Textual and torch may be imported at all (issue 11)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gpuscope"

# package -> the gpuscope packages it may import (the root ``gpuscope`` is its __init__)
ALLOWED = {
    "telemetry": set(),
    "energy": {"telemetry"},
    "sampler": {"energy", "telemetry"},
    "workloads": {"gpuscope"},  # knows nothing of telemetry: a run is told, not measured
    "measurement": {"workloads", "sampler", "telemetry"},
    "sinks": {"measurement", "sampler", "telemetry"},
    "simulated": {"measurement", "workloads", "telemetry"},
    "session": {"measurement", "sampler", "sinks", "telemetry", "workloads"},
    "tui": {"session", "measurement", "sampler", "sinks", "telemetry", "workloads"},
    "commands": {
        "errors", "measurement", "sampler", "session", "simulated", "sinks", "telemetry", "tui",
        "workloads",
    },
    "cli": {"commands", "errors", "gpuscope"},
    "__main__": {"cli"},
    "errors": set(),
}  # fmt: skip


def _package(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "gpuscope":
        return None
    return parts[1] if len(parts) > 1 else "gpuscope"


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module, at module level) for every absolute import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top))
    return found


def test_each_package_imports_only_the_layers_below_it() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        source = parts[0]
        for module, _ in _imports(path):
            target = _package(module)
            if target is not None and target != source:
                graph[source].add(target)
    for targets in graph.values():
        targets.discard("units")  # a leaf every layer may use: SI prefixes, seconds
    graph.pop("units", None)
    unknown = set(graph) - set(ALLOWED)
    assert not unknown, f"new packages need a place in ALLOWED: {unknown}"
    wrong = {source: targets - ALLOWED[source] for source, targets in graph.items()}
    assert {s: t for s, t in wrong.items() if t} == {}


def test_textual_only_in_the_ui_and_torch_never_at_module_level() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        in_ui = path.relative_to(PACKAGE).parts[0] == "tui"
        for module, top_level in _imports(path):
            root = module.split(".")[0]
            if root in ("textual", "textual_plotext", "plotext") and not in_ui:
                offenders.append(f"{path}: {module}")
            if root == "torch" and top_level:  # torch belongs inside a workload's setup
                offenders.append(f"{path}: torch at module level")
    assert offenders == []
