"""The real binary in a real terminal (tmux): every screen reachable by its key, and q quits."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "tmux_smoke.py"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")
@pytest.mark.parametrize("options", [["--size", "80x24"], ["--demo", "--size", "160x48"]])
def test_tui_in_tmux(tmp_path: Path, options: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path), *options],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    overview = (tmp_path / "overview.txt").read_text()
    assert "cpu" in overview and "MEM" in overview
    if "--demo" in options:
        assert "SIMULATED" in overview
    assert "gpuscope keys" in (tmp_path / "help.txt").read_text()
