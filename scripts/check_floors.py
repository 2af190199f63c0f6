"""Installs every runtime dependency at its declared floor and runs the whole suite against it.

    python3.11 scripts/check_floors.py [--venv /tmp/gpuscope-floors]   (needs 3.11+: tomllib)

Needs the package index (so it is not part of CI): for each ``name>=X`` in pyproject.toml's
``dependencies`` it installs the lowest release at or above X, next to the dev extras, in a fresh
venv, then runs ``pytest`` there. A floor that fails here is a false promise in pyproject.toml.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text))


def lowest_release(pip: Path, name: str, floor: str) -> str:
    listed = subprocess.run(
        [str(pip), "index", "versions", name], capture_output=True, text=True, check=True
    ).stdout
    versions = re.search(r"Available versions: (.*)", listed)
    if versions is None:
        raise SystemExit(f"check_floors: no versions listed for {name}")
    candidates = [
        v.strip()
        for v in versions.group(1).split(",")
        if re.fullmatch(r"[\d.]+", v.strip()) and _version_key(v) >= _version_key(floor)
    ]
    return min(candidates, key=_version_key)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path, default=Path("/tmp/gpuscope-floors"))
    args = parser.parse_args()
    requirements = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(args.venv)], check=True)
    pip = args.venv / "bin" / "pip"
    subprocess.run([str(pip), "install", "-q", "-e", f"{ROOT}[dev]"], check=True)
    pins = []
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([\d.]+)", requirement.replace(" ", ""))
        if match is None:
            raise SystemExit(f"check_floors: cannot read the floor of {requirement!r}")
        pins.append(f"{match[1]}=={lowest_release(pip, match[1], match[2])}")
    print("floors:", " ".join(pins), flush=True)
    if subprocess.run([str(pip), "install", "-q", *pins]).returncode != 0:
        print("check_floors: these floors cannot be installed together (pip says why above)")
        return 1
    return subprocess.run(
        [str(args.venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
    ).returncode


if __name__ == "__main__":
    sys.exit(main())
