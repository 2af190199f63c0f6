"""docs/ must stay true to the code it describes."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from gpuscope.sinks.columns import COLUMN_NAMES

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_recorded_column_is_in_the_metrics_reference() -> None:
    documented = set(re.findall(r"^\| `(\w+)` \|", (DOCS / "metrics.md").read_text(), re.M))
    assert set(COLUMN_NAMES) == documented


def test_ci_runs_the_readme_test_command() -> None:
    root = DOCS.parent
    printed = subprocess.run(
        ["bash", str(root / ".ci" / "run"), "--print"], capture_output=True, text=True
    )
    assert printed.returncode == 0, printed.stderr
    command = printed.stdout.strip()
    assert "pytest" in command and "pip install -e '.[dev]'" in command
    assert f"\n{command}\n" in (root / "README.md").read_text()
