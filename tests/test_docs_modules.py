"""docs/architecture.md names every module under gpuscope/, and names none that is gone.

Module paths there are written relative to ``gpuscope/`` (``telemetry/nvidia.py``); paths of
other folders carry their folder (``tests/test_layers.py``, ``scripts/gpu_check.py``).

``__init__.py`` files are left out of the list: they hold only their package's docstring (and
``__version__`` at the root), which the page's package headings say in more words. The last test
keeps that true, so code added to one is a module the page must name.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gpuscope"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
OTHER_FOLDERS = ("tests/", "scripts/", "benchmarks/", "plugins/", "docs/")


def _named_paths(text: str) -> set[str]:
    """Every ``x/y.py`` (or ``.tcss``) written in backticks, as a path from the repository root."""
    paths = set()
    for name in re.findall(r"`([\w./-]+\.(?:py|tcss))`", text):
        name = name.removeprefix("gpuscope/")
        paths.add(name if name.startswith(OTHER_FOLDERS) else f"gpuscope/{name}")
    return paths


def _modules() -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py"
    }


def test_every_module_is_named_in_the_architecture_page() -> None:
    missing = sorted(_modules() - _named_paths(ARCHITECTURE.read_text()))
    assert missing == [], f"docs/architecture.md: add a line for {missing}"


def test_every_path_the_architecture_page_names_exists() -> None:
    gone = sorted(p for p in _named_paths(ARCHITECTURE.read_text()) if not (ROOT / p).exists())
    assert gone == [], f"docs/architecture.md names files that are not in the tree: {gone}"


def test_the_check_reads_both_spellings_and_sees_what_is_missing() -> None:
    text = "`telemetry/model.py`, `gpuscope/sampler.py`, `tests/test_layers.py`, `amd.py`"
    assert _named_paths(text) == {
        "gpuscope/telemetry/model.py",
        "gpuscope/sampler.py",
        "tests/test_layers.py",
        "gpuscope/amd.py",  # a bare name is not a module of the tree: the second test says so
    }
    assert "gpuscope/telemetry/nvidia.py" in _modules() - _named_paths(text)


def test_package_init_files_hold_no_code() -> None:
    """What justifies leaving them out of the page: a docstring, ``__version__``, nothing else."""
    with_code = []
    for path in PACKAGE.rglob("__init__.py"):
        for node in ast.parse(path.read_text()).body:
            docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            version = isinstance(node, ast.Assign) and [
                t.id for t in node.targets if isinstance(t, ast.Name)
            ] == ["__version__"]
            if not (docstring or version):
                with_code.append(path.relative_to(ROOT).as_posix())
    assert with_code == [], f"name these in docs/architecture.md, or move the code: {with_code}"
