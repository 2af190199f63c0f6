"""Plugin discovery that no plugin can break (issue 10): files are read in a child process with a
time limit, so what a plugin does at import never reaches gpuscope's output, and name clashes are
resolved in a stated order and reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpuscope.workloads.registry import IMPORT_TIMEOUT_S, checkout_plugins, find_workloads
from tests.plugin_files import workload_with_step, write_plugin

GPUSCOPE = [sys.executable, "-m", "gpuscope"]
ROOT = Path(__file__).resolve().parents[1]


def gpuscope(*args: str, config: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The CLI with ``config`` as XDG_CONFIG_HOME (so ``config/gpuscope/plugins`` is the user's
    plugin folder)."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(config)}
    return subprocess.run(
        [*GPUSCOPE, *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def user_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "config" / "gpuscope" / "plugins"
    folder.mkdir(parents=True)
    return folder


def top_level(folder: Path, stem: str, code: str) -> Path:
    """A working plugin named ``stem`` whose module runs ``code`` at import."""
    path = workload_with_step(folder, stem, "return 1")
    path.write_text(code + "\n" + path.read_text())
    return path


def bench_json(tmp_path: Path) -> dict[str, object]:
    """``bench fine --plugin fine.py --json`` with ``tmp_path/config`` as the user's config: the
    user's plugin folder is read too (a bundled name would skip reading plugins)."""
    fine = workload_with_step(tmp_path, "fine", "return 1")
    result = gpuscope(
        "bench", "fine", "--plugin", str(fine), "--duration", "0.2", "--warmup", "0", "--json",
        config=tmp_path / "config",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "hello" not in result.stderr
    payload: dict[str, object] = json.loads(result.stdout)  # nothing else on stdout
    return payload


def test_a_plugin_printing_at_import_cannot_corrupt_json(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    top_level(user_folder(tmp_path), "chatty", "print('hello from the plugin'); import sys; "
              "print('hello on stderr', file=sys.stderr)")  # fmt: skip
    assert bench_json(tmp_path)["reports"][0]["workload"] == "fine"  # type: ignore[index]
    listed = gpuscope("bench", "--list", config=tmp_path / "config")
    assert "chatty" in listed.stdout and "hello" not in listed.stdout + listed.stderr


def test_a_plugin_exiting_at_import_is_listed_broken_and_json_still_comes(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    top_level(user_folder(tmp_path), "quitter", "import os; os._exit(0)")
    assert bench_json(tmp_path)["reports"][0]["workload"] == "fine"  # type: ignore[index]
    listed = gpuscope("bench", "--list", config=tmp_path / "config")
    assert "quitter.py: ends the process when imported (exit code 0)" in listed.stdout


def test_a_hanging_plugin_costs_its_time_limit_and_the_rest_still_load(tmp_path: Path) -> None:
    sleeper = top_level(tmp_path, "a_sleeper", "import time; time.sleep(1000)")
    after = workload_with_step(tmp_path, "b_after", "return 1")
    start = time.monotonic()
    catalog = find_workloads(plugin_dirs=[tmp_path], use_entry_points=False, import_timeout_s=1.0)
    assert time.monotonic() - start < 15
    assert "b_after" in catalog.workloads and catalog.workloads["b_after"].ref.file == str(after)
    (broken,) = catalog.broken
    assert broken.where == str(sleeper) and broken.reason == "import did not finish in 1 s"


def test_a_plugin_crashing_at_import_is_listed_and_others_load(tmp_path: Path) -> None:
    top_level(tmp_path, "a_segv", "import ctypes; ctypes.string_at(0)")
    workload_with_step(tmp_path, "b_fine", "return 1")
    catalog = find_workloads(plugin_dirs=[tmp_path], use_entry_points=False)
    assert "b_fine" in catalog.workloads
    (broken,) = catalog.broken
    assert "killed by SIGSEGV" in broken.reason


def test_a_plugin_importing_torch_does_not_bring_torch_into_gpuscope(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    path = top_level(tmp_path, "heavy", "import torch")
    code = (
        "import sys; from pathlib import Path; from gpuscope.workloads.registry import "
        f"find_workloads; c = find_workloads([Path({str(path)!r})], plugin_dirs=[], "
        "use_entry_points=False); print('heavy' in c.workloads, 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["True", "False"], done.stderr


def test_a_syntax_error_is_listed_with_its_line(tmp_path: Path) -> None:
    bad = write_plugin(tmp_path, "typo", "x = 1\ndef broken(:\n    pass\n")
    catalog = find_workloads([bad], plugin_dirs=[], use_entry_points=False)
    (broken,) = catalog.broken
    assert broken.reason.startswith("line 4: SyntaxError")


def test_running_a_broken_plugin_by_name_says_why(tmp_path: Path) -> None:
    bad = write_plugin(tmp_path, "typo", "def broken(:\n")
    result = gpuscope("bench", "typo", "--plugin", str(bad), config=tmp_path / "config")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"gpuscope bench: workload 'typo' cannot run: {bad} is broken: line 3: SyntaxError: "
        "invalid syntax"
    )


def test_plugin_option_wins_over_folders_and_every_shadowing_is_named(tmp_path: Path) -> None:
    folder = user_folder(tmp_path)
    in_folder = workload_with_step(folder, "axpy", "return 1")
    mine = workload_with_step(tmp_path, "axpy", "return 2")
    second = workload_with_step(folder, "zzz", "return 3")
    second.write_text(second.read_text().replace('name = "zzz"', 'name = "axpy"'))
    catalog = find_workloads([mine], plugin_dirs=[folder], use_entry_points=False)
    assert catalog.workloads["axpy"].ref.file == str(mine)
    assert catalog.workloads["axpy"].ref.origin == "--plugin"
    hidden = {s.hidden: s.winner for s in catalog.shadowed}
    assert hidden == {str(in_folder): str(mine), str(second): str(mine)}
    assert f"{in_folder}: workload 'axpy' is hidden by {mine} (--plugin)" in (
        catalog.shadowed[0].describe()
    )


def test_bench_notes_a_shadowed_name_on_stderr(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    folder = user_folder(tmp_path)
    hidden = workload_with_step(folder, "twice", "return 1")
    mine = workload_with_step(tmp_path, "twice", "return 2")
    result = gpuscope(
        "bench", "twice", "--plugin", str(mine), "--duration", "0.2", "--warmup", "0", "--json",
        config=tmp_path / "config",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"note: {hidden}: workload 'twice' is hidden by {mine} (--plugin)" in result.stderr
    assert (
        json.loads(result.stdout)["reports"][0]["units"]
        == 2 * json.loads(result.stdout)["reports"][0]["steps"]
    )


def test_the_checkout_plugins_folder_is_read_only_from_the_checkout(tmp_path: Path) -> None:
    assert checkout_plugins() == ROOT / "plugins"  # these tests run from the checkout
    installed = tmp_path / "lib" / "site-packages" / "gpuscope" / "workloads" / "registry.py"
    (tmp_path / "lib" / "site-packages" / "plugins").mkdir(parents=True)
    (tmp_path / "lib" / "site-packages" / "pyproject.toml").write_text('name = "gpuscope"\n')
    assert checkout_plugins(installed) is None
    other = tmp_path / "other" / "gpuscope" / "workloads" / "registry.py"
    (tmp_path / "other" / "plugins").mkdir(parents=True)
    (tmp_path / "other" / "pyproject.toml").write_text('name = "someone-else"\n')
    assert checkout_plugins(other) is None


async def test_the_ui_survives_a_plugin_that_exits_at_import(tmp_path: Path) -> None:
    from tests.tui_support import make_app, ready

    quitter = top_level(tmp_path, "quitter", "import os; os._exit(0)")
    app = make_app(plugin_files=[quitter])
    async with app.run_test() as pilot:
        await ready(pilot)
        assert app.is_running
        assert [b.where for b in app.catalog.broken] == [str(quitter)]  # type: ignore[union-attr]


def test_a_plugin_that_forks_at_import_cannot_mislabel_the_others(tmp_path: Path) -> None:
    top_level(tmp_path, "a_forker", "import os; os.fork()")
    one = workload_with_step(tmp_path, "b_one", "return 1")
    two = workload_with_step(tmp_path, "c_two", "return 2")
    for _ in range(3):  # the race the fork sets up does not always show
        catalog = find_workloads(plugin_dirs=[tmp_path], use_entry_points=False)
        assert catalog.workloads["b_one"].ref.file == str(one)
        assert catalog.workloads["c_two"].ref.file == str(two)
        assert catalog.shadowed == []


def test_bytes_a_plugin_writes_to_the_readers_pipe_are_ignored(tmp_path: Path) -> None:
    top_level(
        tmp_path,
        "a_scribbler",
        "import os\nfor fd in range(3, 12):\n    try:\n        os.write(fd, b'{oops\\n')\n"
        "    except OSError:\n        pass",
    )
    after = workload_with_step(tmp_path, "b_after", "return 1")
    catalog = find_workloads(plugin_dirs=[tmp_path], use_entry_points=False)
    assert {"a_scribbler", "b_after"} <= set(catalog.workloads) and catalog.broken == []
    assert catalog.workloads["b_after"].ref.file == str(after)


def test_a_module_in_the_working_directory_cannot_replace_the_readers(tmp_path: Path) -> None:
    (tmp_path / "json.py").write_text("raise SystemExit('the wrong json')\n")
    (tmp_path / "elsewhere").mkdir()
    plugin = workload_with_step(tmp_path / "elsewhere", "fine", "return 1")
    script = Path(sys.executable).parent / "gpuscope"  # as users run it: not `python -m`,
    # which itself puts the working directory first on gpuscope's own path
    result = subprocess.run(
        [str(script), "bench", "--list", "--plugin", str(plugin)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "none")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "fine" in result.stdout and "broken" not in result.stdout


def test_a_declaration_that_breaks_the_checks_is_a_reason_not_a_crash(tmp_path: Path) -> None:
    bad = write_plugin(
        tmp_path,
        "odd",
        """
class Odd(Workload):
    name = "odd"
    unit = "x"
    devices = (["cpu"],)

    def setup(self, device, params):
        pass

    def step(self):
        return 1
""",
    )
    (broken,) = find_workloads([bad], plugin_dirs=[], use_entry_points=False).broken
    assert broken.reason.startswith("Odd: its declaration cannot be read: TypeError")


def test_debug_shows_why_a_plugin_failed_to_import(tmp_path: Path) -> None:
    bad = write_plugin(tmp_path, "keyerr", "{}['missing']\n")
    plain = gpuscope("bench", "keyerr", "--plugin", str(bad), config=tmp_path / "config")
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert "line 3: KeyError: 'missing'" in plain.stderr
    debug = gpuscope("--debug", "bench", "keyerr", "--plugin", str(bad), config=tmp_path / "c")
    assert "Traceback (most recent call last)" in debug.stderr and debug.returncode == 2


async def test_quitting_the_ui_does_not_wait_for_a_hanging_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The UI's own catalog (``find_catalog=None``) reads the user's plugin folder; it once got
    the sleeper only in a setting it does not read, so the probe never hung."""
    from tests.tui_support import make_app, wait_until

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    stuck = tmp_path / "stuck"
    code = f"open({str(stuck)!r}, 'w').close(); import time; time.sleep(1000)"
    top_level(user_folder(tmp_path), "sleeper", code)
    app = make_app(find_catalog=None)
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: app.sampler is not None)
        await wait_until(pilot, stuck.exists)  # the probe is now stuck in the sleeper's import
        quitting = time.monotonic()
    assert time.monotonic() - quitting < IMPORT_TIMEOUT_S / 2  # not the import's limit
