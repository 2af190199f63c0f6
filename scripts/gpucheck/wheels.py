"""The pure-Python wheels a GPU machine without network needs for the check.

The GPU machine brings the driver, nvidia-smi, Python, torch, psutil, pandas and pytest; it lacks
the UI stack and the peers. Versions are those installed here (the tested set); peers that are
not installed here are fetched at their newest. Never torch: the machine's own CUDA build is the
one to measure.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

WHEELS = (
    # the UI and its dependencies
    "textual", "rich", "markdown-it-py", "mdit-py-plugins", "linkify-it-py", "uc-micro-py",
    "platformdirs", "typing-extensions", "pygments", "plotext", "textual-plotext",
    # telemetry and the exporter
    "nvidia-ml-py", "prometheus-client",
    # the peers and a terminal for machines without tmux
    "nvitop", "gpustat", "blessed", "jinxed", "wcwidth", "pyte",
)  # fmt: skip


def requirement(name: str) -> str:
    try:
        return f"{name}=={version(name)}"
    except PackageNotFoundError:
        return name


def fetch_wheels(folder: Path) -> int:
    """``pip wheel`` each package alone (no dependencies) into ``folder``; sdists such as
    gpustat's are built here into pure wheels. Returns an exit status."""
    folder.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in WHEELS:
        wanted = requirement(name)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check",
             "-w", str(folder), wanted],
            capture_output=True,
            text=True,
        )  # fmt: skip
        print(f"{wanted:<32} {'ok' if done.returncode == 0 else 'FAILED'}")
        if done.returncode != 0:
            failed.append(name)
    impure = [w.name for w in folder.glob("*.whl") if not w.name.endswith("-none-any.whl")]
    if impure:
        print(f"platform-specific (x86-64 Linux only): {', '.join(impure)}")
    if failed:
        print(f"gpu_check: could not fetch {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
