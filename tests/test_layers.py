"""The layering docs/architecture.md draws, enforced: which package of gpuscope may import which,
and where Textual and torch may be imported at all (issue 11)."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gpuscope"

# package -> the gpuscope packages it may import (the root ``gpuscope`` is its __init__)
ALLOWED = {
    "telemetry": set(),
    "energy": {"telemetry"},
    "sampler": {"energy", "telemetry"},
    "workloads": set(),  # knows nothing of telemetry: a run is told, not measured
    "measurement": {"workloads", "sampler", "energy", "telemetry"},
    "sinks": {"measurement", "sampler", "telemetry"},
    "report": {"measurement"},  # reads result files: datasheet peaks, never a device
    "simulated": {"measurement", "workloads", "telemetry"},
    "results_files": {"measurement", "report", "sinks"},  # a session's results saved as files
    "session_setup": {"measurement", "telemetry", "workloads"},  # what a session monitors
    "session": {
        "measurement", "results_files", "sampler", "session_setup", "sinks", "telemetry",
        "workloads",
    },
    "tui": {
        "session", "session_setup", "measurement", "sampler", "sinks", "telemetry", "workloads",
    },
    "commands": {
        "config", "errors", "measurement", "report", "sampler", "session", "simulated", "sinks",
        "telemetry", "tui", "workloads",
    },
    "config": {"errors", "telemetry"},  # the user's settings file, read by the commands
    "cli": {"commands", "errors"},
    "__main__": {"cli"},
    "errors": set(),
}  # fmt: skip


# leaves every layer may use: SI prefixes and seconds; the user's folder; outside text made safe;
# files from outside opened bounded
LEAVES = ("units", "user_dirs", "safe_text", "bounded_read", "intervals")


def _package(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "gpuscope":
        return None
    return parts[1] if len(parts) > 1 else "gpuscope"


def _imports(path: Path, package_dir: Path = PACKAGE) -> list[tuple[str, bool]]:
    """(module, run at import time) for every import in ``path`` (a module of the package in
    ``package_dir``): relative ones resolved, ``from gpuscope import x`` read as ``gpuscope.x``,
    and "import time" meaning anywhere but inside a function (a module-level ``try`` or ``if``
    counts)."""
    package = ["gpuscope", *path.relative_to(package_dir).with_suffix("").parts]
    if package[-1] == "__init__":
        package = package[:-1]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, at_import: bool) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            at_import = False
        if isinstance(node, ast.Import):
            found.extend((alias.name, at_import) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + (path.name == "__init__.py")]
                base = ".".join([*anchor, *([base] if base else [])])
            found.append((base, at_import))
            if base == "gpuscope":  # modules of the root; __version__ and the like are not
                found.extend(
                    (f"gpuscope.{alias.name}", at_import)
                    for alias in node.names
                    if not alias.name.startswith("__")
                )
        for child in ast.iter_child_nodes(node):
            visit(child, at_import)

    visit(ast.parse(path.read_text(), str(path)), True)
    return found


def test_each_package_imports_only_the_layers_below_it() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        source = parts[0]
        for module, _ in _imports(path):
            target = _package(module)
            if target is not None and target != source and target != "gpuscope":
                graph[source].add(target)
    for targets in graph.values():
        targets.difference_update(LEAVES)
    for leaf in LEAVES:
        graph.pop(leaf, None)
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


def test_the_layer_check_sees_every_way_of_importing(tmp_path: Path) -> None:
    """Relative imports, ``from gpuscope import x`` and torch in a module-level ``try``; the
    probe lies in a copy of the package's shape under ``tmp_path``, never in the checkout."""
    package_dir = tmp_path / "gpuscope"
    module = package_dir / "workloads" / "probe.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "from .. import sampler\nfrom gpuscope import telemetry\ntry:\n    import torch\n"
        "except ImportError:\n    pass\n"
    )
    found = _imports(module, package_dir)
    assert ("gpuscope.sampler", True) in found and ("gpuscope.telemetry", True) in found
    assert ("torch", True) in found


def test_the_command_line_starts_without_the_sampler_or_any_device_library() -> None:
    """``gpuscope --help`` and a usage error cost only the parser: a command's modules load
    when it runs (the interval's default and range come from the ``intervals`` leaf)."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, gpuscope.cli; print(' '.join(sys.modules))"],
        capture_output=True, text=True, check=True, cwd=PACKAGE.parent,
    ).stdout.split()  # fmt: skip
    heavy = [m for m in loaded if m.startswith(("gpuscope.sampler", "gpuscope.telemetry"))]
    heavy += [m for m in loaded if m in ("pynvml", "amdsmi", "psutil", "textual", "torch")]
    assert heavy == []


def test_no_module_imports_another_modules_private_names() -> None:
    """What a module shares is public: a command that needs another's ``_helper`` gets it
    from a shared module instead (suite once imported bench's drive and check functions)."""
    private = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gpuscope"):
                private += [
                    f"{path.relative_to(PACKAGE)}: {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                ]
    assert private == []


COMMANDS = ("bench", "suite", "record", "serve", "listing", "ui", "report")  # one per command


def test_a_command_takes_from_another_command_only_its_entry_point() -> None:
    """``suite`` may run ``report`` as the user would (``run_report``, ``ReportOptions``), but
    what two commands share (driving runs, targets, output) lives in a shared module: suite
    once imported bench's Outcome, bench_targets, check_runnable and drive_one."""
    taken = []
    for path in (PACKAGE / "commands").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom) or node.module is None:
                continue
            source = node.module.rpartition(".")[2]
            if node.module.startswith("gpuscope.commands.") and source in COMMANDS:
                taken += [
                    f"{path.stem} <- {source}.{alias.name}"
                    for alias in node.names
                    if source != path.stem
                    and not (alias.name.startswith("run_") or alias.name.endswith("Options"))
                ]
    assert taken == []
