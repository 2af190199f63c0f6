"""gpuscope as users get it: the wheel built from a clean copy of the checkout, installed into a
throwaway venv outside the source tree, run from a temporary directory (issue 10).

A source-tree run cannot tell whether the wheel carries every file read at run time, whether
``--demo`` needs the checkout, or whether the checkout's plugins leak into an install. No
network: the venv's own site-packages holds only gpuscope; its dependencies come from this
environment through a path (.pth) entry, whose editable gpuscope is not activated there.
"""

from __future__ import annotations

import ast
import email.parser
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import gpuscope

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from terminal import PtyTerminal  # noqa: E402


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # From a clean copy: a build/ or *.egg-info left by an earlier build (or by `pip install -e`)
    # can carry files into the wheel that a fresh clone's build would leave out.
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".whl", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
            "gpu-out",
        ),
    )  # fmt: skip
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-w", str(work), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (found,) = work.glob("gpuscope-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with the wheel installed (offline); returns its bin folder."""
    home = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home)], check=True)
    python = home / "bin" / "python"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         "--no-index", "--disable-pip-version-check", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # dependencies (textual, psutil, torch...) from this environment, read-only
    Path(site, "_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # a plugins/ folder beside the installed package, as another package might leave one: an
    # installed gpuscope once read it as "the checkout's plugins"
    Path(site, "plugins").mkdir()
    Path(site, "plugins", "stray.py").write_text(
        "from gpuscope.workloads.api import Workload\n"
        "class Stray(Workload):\n    name = 'stray'\n    unit = 'x'\n"
        "    def setup(self, device, params): pass\n    def step(self): return 1\n"
    )
    return home / "bin"


@pytest.fixture
def elsewhere(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An environment as a user's shell has it: no PYTHONPATH, an empty plugin folder."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    yield env


def run(
    bin_dir: Path, cwd: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "gpuscope"), *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip


def test_the_wheel_holds_every_file_read_at_run_time(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    stylesheets = {p.relative_to(ROOT).as_posix() for p in (ROOT / "gpuscope").rglob("*.tcss")}
    assert stylesheets and stylesheets <= names  # GpuscopeApp.CSS_PATH reads app.tcss at start
    assert "gpuscope/py.typed" in names
    assert "gpuscope/simulated/demo.py" in names  # --demo ships
    assert not any(name.startswith(("tests/", "plugins/")) for name in names)


def test_the_version_has_one_source(wheel: Path) -> None:
    (metadata,) = [n for n in zipfile.ZipFile(wheel).namelist() if n.endswith("METADATA")]
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert email.parser.Parser().parsestr(text)["Version"] == gpuscope.__version__
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and "\nversion =" not in pyproject.split("[tool")[0]


def test_the_installed_commands_run_outside_the_checkout(
    venv: Path, tmp_path: Path, elsewhere: dict[str, str]
) -> None:
    where = subprocess.run(
        [str(venv / "python"), "-c", "import gpuscope; print(gpuscope.__file__)"],
        cwd=tmp_path, env=elsewhere, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert where.startswith(str(venv.parent)) and str(ROOT) not in where
    version = run(venv, tmp_path, elsewhere, "--version")
    assert version.stdout.strip() == f"gpuscope {gpuscope.__version__}"
    listed = run(venv, tmp_path, elsewhere, "list")
    assert listed.returncode == 0, listed.stderr
    assert "cpu" in listed.stdout
    recorded = run(venv, tmp_path, elsewhere, "record", "-d", "1", "-i", "0.2", "-o", "-")
    assert recorded.returncode == 0, recorded.stderr
    header, *rows = recorded.stdout.splitlines()
    assert header.startswith("timestamp,device,") and rows
    workloads = run(venv, tmp_path, elsewhere, "bench", "--list")
    assert workloads.returncode == 0, workloads.stderr
    assert "gemm" in workloads.stdout and "[bundled]" in workloads.stdout
    assert "axpy" not in workloads.stdout  # the checkout's plugins/ is not the user's
    assert "stray" not in workloads.stdout  # nor is a plugins/ folder in site-packages
    assert "broken" not in workloads.stdout


@pytest.mark.parametrize("demo", [False, True])
def test_the_installed_ui_opens_and_quits(
    venv: Path, tmp_path: Path, elsewhere: dict[str, str], demo: bool
) -> None:
    os.chdir(tmp_path)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(elsewhere)  # PtyTerminal passes os.environ to the program
    try:
        terminal = PtyTerminal([str(venv / "gpuscope"), *(["--demo"] if demo else [])], 120, 40)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        deadline = time.monotonic() + 60
        wanted = "Simulated H100" if demo else "1 Devices"
        while wanted not in terminal.screen():
            assert time.monotonic() < deadline, terminal.screen()
            time.sleep(0.2)
        assert "Traceback" not in terminal.screen()
        terminal.send("q")
        assert terminal.wait(20) == 0, terminal.screen()
    finally:
        terminal.close()
        os.chdir(ROOT)


def test_no_module_of_the_product_imports_the_tests() -> None:
    offenders = []
    for path in (ROOT / "gpuscope").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path}: {n}" for n in names if n.split(".")[0] in ("tests", "plugins")]
        if "sys.path.insert" in path.read_text():
            offenders.append(f"{path}: edits sys.path")
    assert offenders == []
