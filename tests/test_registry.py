"""Finding workloads: bundled, plugin folders, --plugin files, entry points; broken ones listed."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from gpuscope.workloads import registry
from gpuscope.workloads.api import Param, WorkloadError, contract_problems, resolve_params
from gpuscope.workloads.gemm import Gemm
from gpuscope.workloads.registry import find_workloads
from tests.plugin_files import workload_with_step, write_plugin


def test_bundled_workloads_are_found_without_plugins() -> None:
    catalog = find_workloads(plugin_dirs=[], use_entry_points=False)
    assert "gemm" in catalog.workloads
    info = catalog.workloads["gemm"]
    assert info.ref.origin == "bundled" and info.ref.load() is Gemm
    assert (info.name, info.unit, info.params, info.devices) == (
        Gemm.name,
        Gemm.unit,
        Gemm.params,
        Gemm.devices,
    )


def test_plugin_folder_and_file_are_loaded(tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    workload_with_step(folder, "alpha", "return 1")
    workload_with_step(folder, "_private", "return 1")  # underscore files are helpers, not plugins
    extra = workload_with_step(tmp_path, "beta", "return 2")
    catalog = find_workloads(plugin_files=[extra], plugin_dirs=[folder], use_entry_points=False)
    assert {"alpha", "beta"} <= set(catalog.workloads) and "_private" not in catalog.workloads
    info = catalog.workloads["beta"]
    assert info.ref.origin == "--plugin" and info.ref.file == str(extra)
    assert catalog.workloads["alpha"].ref.origin == "plugin folder"
    assert info.ref.load().name == "beta"  # the runner's child loads it this way
    assert catalog.broken == []


def test_same_file_in_folder_and_on_command_line_loads_once(tmp_path: Path) -> None:
    path = workload_with_step(tmp_path, "once", "return 1")
    catalog = find_workloads(plugin_files=[path], plugin_dirs=[tmp_path], use_entry_points=False)
    assert "once" in catalog.workloads and catalog.broken == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("def broken(:\n", "SyntaxError"),
        (
            "import no_such_module_anywhere\n",
            "ModuleNotFoundError: No module named 'no_such_module_anywhere'",
        ),
        ("raise SystemExit(1)\n", "line 3: exits while being imported (SystemExit 1)"),
        ("1 / 0\n", "line 3: ZeroDivisionError: division by zero"),
        ("x = 1\n", "defines no Workload subclass"),
        ("class Bad(Workload):\n    name = 'bad name!'\n    unit = ''\n", "name must be"),
        (
            "class NoStep(Workload):\n    name = 'nostep'\n    unit = 'x'\n"
            "    def setup(self, d, p): pass\n",
            "missing methods: step",
        ),
        (
            "class Gpu(Workload):\n    name = 'g'\n    unit = 'x'\n    devices = ('tpu',)\n"
            "    def setup(self, d, p): pass\n    def step(self): return 1\n",
            "devices must be",
        ),
    ],
)
def test_broken_plugins_are_listed_and_do_not_stop_others(
    tmp_path: Path, body: str, reason: str
) -> None:
    bad = write_plugin(tmp_path, "bad", body)
    good = workload_with_step(tmp_path, "good", "return 1")
    catalog = find_workloads(plugin_files=[bad, good], plugin_dirs=[], use_entry_points=False)
    assert "good" in catalog.workloads and "gemm" in catalog.workloads
    (broken,) = catalog.broken
    assert broken.where == str(bad) and reason in broken.reason
    assert "\n" not in broken.reason


def test_missing_plugin_file_is_reported(tmp_path: Path) -> None:
    catalog = find_workloads(
        plugin_files=[tmp_path / "nope.py"], plugin_dirs=[], use_entry_points=False
    )
    assert catalog.broken[0].reason == "no such file"


def test_entry_points_are_loaded_and_bad_ones_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    points = [
        EntryPoint("gemm2", "gpuscope.workloads.gemm:Gemm", registry.ENTRY_POINT_GROUP),
        EntryPoint("missing", "no_such_pkg.mod:Thing", registry.ENTRY_POINT_GROUP),
        EntryPoint("notaclass", "gpuscope.workloads.gemm:gemm_flops", registry.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(
        registry,
        "entry_points",
        lambda group: points if group == registry.ENTRY_POINT_GROUP else [],
    )
    catalog = find_workloads(plugin_dirs=[])
    reasons = {b.where.split()[2]: b.reason for b in catalog.broken}
    (shadowed,) = catalog.shadowed
    assert shadowed.hidden.startswith("entry point gemm2") and shadowed.winner_origin == "bundled"
    assert "No module named 'no_such_pkg'" in reasons["missing"]
    assert reasons["notaclass"] == "is not a Workload subclass"


def test_params_resolve_with_defaults_and_checks() -> None:
    assert resolve_params(Gemm, {"size": 64}) == {"dtype": "bf16", "size": 64}
    with pytest.raises(WorkloadError, match="no parameter 'batch'"):
        resolve_params(Gemm, {"batch": 2})
    with pytest.raises(WorkloadError, match="dtype must be one of"):
        resolve_params(Gemm, {"dtype": "int4"})
    assert Param("n", 3).parse("5") == 5
    assert Param("on", False).parse("yes") is True
    with pytest.raises(WorkloadError, match="n must be int"):
        Param("n", 3).parse("five")


def test_bundled_workloads_keep_the_contract() -> None:
    catalog = find_workloads(plugin_dirs=[], use_entry_points=False)
    for info in catalog.workloads.values():
        assert contract_problems(info.ref.load()) == []


def test_a_folder_or_a_pipe_in_the_plugin_folder_is_named_as_what_it_is(tmp_path: Path) -> None:
    """Issue 22 re-trial: a folder, a FIFO or a /dev/zero link named ``*.py`` in the plugin
    folder was said to be "no such file"; none is read (a FIFO would hang the import)."""
    import os

    (tmp_path / "folder.py").mkdir()
    os.mkfifo(tmp_path / "pipe.py")
    (tmp_path / "zero.py").symlink_to("/dev/zero")
    catalog = find_workloads(plugin_dirs=[tmp_path], use_entry_points=False)
    said = {Path(b.where).name: b.reason for b in catalog.broken}
    assert said == {
        "folder.py": "a folder, not a Python file",
        "pipe.py": "not a regular file (a pipe, a device or a socket): not read",
        "zero.py": "not a regular file (a pipe, a device or a socket): not read",
    }
