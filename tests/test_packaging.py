"""The built wheel carries every file gpuscope reads at run time (a source-tree run cannot tell).

Issue 10 extends this to installing the wheel outside the checkout and starting the binary."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_the_uis_stylesheet(tmp_path: Path) -> None:
    # From a clean copy: a build/ or *.egg-info left by an earlier build (or by `pip install -e`)
    # can carry files into the wheel that a fresh clone's build would leave out.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".whl", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
        ),
    )
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
         "--disable-pip-version-check", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("gpuscope-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    stylesheets = {p.relative_to(ROOT).as_posix() for p in (ROOT / "gpuscope").rglob("*.tcss")}
    assert stylesheets and stylesheets <= names  # GpuscopeApp.CSS_PATH reads app.tcss at start
