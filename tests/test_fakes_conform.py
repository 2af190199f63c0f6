"""The fakes must mirror the real libraries, or a green test says nothing about a real GPU."""

from __future__ import annotations

import ast
import ctypes
import importlib.machinery
import json
import re
import subprocess
import sys
from enum import IntEnum
from pathlib import Path

import pytest

from tests.fakes import fake_amdsmi, fake_gpm
from tests.fakes.fake_amdsmi import FakeAmdSmi
from tests.fakes.fake_pynvml import FakeNvml


def _real_pynvml_names() -> dict[str, object]:
    """Public names and constant values of the installed nvidia-ml-py (imports without a driver)."""
    code = (
        "import json, pynvml\n"
        "print(json.dumps({n: (getattr(pynvml, n) if isinstance(getattr(pynvml, n), int) else None)"
        " for n in dir(pynvml) if not n.startswith('_')}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def test_fake_pynvml_names_and_constants_exist_in_real_pynvml() -> None:
    real = _real_pynvml_names()
    fake = FakeNvml([]).module()
    public = [n for n in dir(fake) if n.startswith(("nvml", "NVML"))]
    assert len(public) > 30
    missing = [n for n in public if n not in real]
    assert missing == []
    for name in public:
        value = getattr(fake, name)
        if isinstance(value, int):
            assert real[name] == value, name


def test_fake_gpm_mirrors_real_names_constants_and_struct_fields() -> None:
    """GPM: the functions, metric ids and versions gpuscope uses, and every ctypes structure's
    field names in order (``metrics[i].metricId`` / ``.nvmlReturn`` / ``.value``)."""
    code = (
        "import json, pynvml\n"
        f"names = {list(fake_gpm.STRUCTS)!r}\n"
        "import ctypes\n"
        "def fields(cls):\n"
        "    return [[f[0] for f in getattr(cls, '_fields_', [])], ctypes.sizeof(cls)]\n"
        "print(json.dumps({n: fields(getattr(pynvml, n)) for n in names"
        " if isinstance(getattr(pynvml, n), type)}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    real_fields = json.loads(out.stdout)
    fake = FakeNvml([]).module()
    for name in fake_gpm.STRUCTS:
        cls = getattr(fake, name)
        names, size = real_fields[name]
        assert [f[0] for f in getattr(cls, "_fields_", [])] == names, name
        assert ctypes.sizeof(cls) == size, name  # same types, same layout
    real = _real_pynvml_names()
    gpm = [n for n in dir(fake) if n.startswith(("nvmlGpm", "NVML_GPM_"))]
    gpm += ["nvmlDeviceGetMigMode", "nvmlDeviceGetVirtualizationMode", "NVML_ERROR_IN_USE"]
    assert len(gpm) >= 25
    for name in gpm:
        value = getattr(fake, name)
        assert name in real, name
        assert not isinstance(value, int) or real[name] == value, name
    metric = fake.c_nvmlGpmMetric_t
    assert [f[0] for f in metric._fields_] == ["metricId", "nvmlReturn", "value", "metricInfo"]


def test_fake_nvml_errors_behave_like_real_ones() -> None:
    fake = FakeNvml([]).module()
    err = fake.NVMLError(fake.NVML_ERROR_NOT_SUPPORTED)
    assert type(err) is fake.NVMLError_NotSupported
    assert err.value == 3 and str(err) == "Not Supported"
    assert type(fake.NVMLError(fake.NVML_ERROR_IN_USE)) is fake.NVMLError_InUse
    assert isinstance(fake.NVMLError_GpuIsLost(), fake.NVMLError)
    assert fake.NVMLError_GpuIsLost().value == 15


def _amdsmi_source_dir() -> Path:
    spec = importlib.machinery.PathFinder.find_spec(
        "amdsmi"
    )  # not sys.modules: the fixture hides it
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("real amdsmi package not installed (it is in the dev extra)")
    return Path(next(iter(spec.submodule_search_locations)))


def test_fake_amdsmi_names_exist_in_real_amdsmi() -> None:
    # `import amdsmi` fails without ROCm, so read the real package's source instead.
    source = _amdsmi_source_dir()
    tree = ast.parse((source / "__init__.py").read_text())
    exported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    fake = FakeAmdSmi([]).module()
    public = [n for n in dir(fake) if n.startswith(("amdsmi_", "AmdSmi"))]
    assert len(public) > 20
    assert [n for n in public if n not in exported] == []


def test_fake_amdsmi_enum_values_match_real_wrapper() -> None:
    source = _amdsmi_source_dir()
    wrapper = (source / "amdsmi_wrapper.py").read_text()
    constants = {
        m[1]: int(m[2]) for m in re.finditer(r"^(AMDSMI_[A-Z0-9_]+) = (\d+)$", wrapper, re.M)
    }
    interface = (source / "amdsmi_interface.py").read_text()
    checked = 0
    for enum_cls in (
        fake_amdsmi.AmdSmiInitFlags,
        fake_amdsmi.AmdSmiMemoryType,
        fake_amdsmi.AmdSmiTemperatureType,
        fake_amdsmi.AmdSmiTemperatureMetric,
        fake_amdsmi.AmdSmiClkType,
    ):
        assert issubclass(enum_cls, IntEnum)
        for member_name in enum_cls.__members__:
            class_body = rf"class {enum_cls.__name__}\(IntEnum\):(?:\n    .*)*?"
            member = rf"\n    {member_name} = amdsmi_wrapper\.(\w+)"
            match = re.search(class_body + member, interface)
            assert match, f"{enum_cls.__name__}.{member_name} not in the real amdsmi"
            assert constants[match[1]] == enum_cls.__members__[member_name].value, member_name
            checked += 1
    assert checked >= 10
    assert constants["AMDSMI_STATUS_NOT_SUPPORTED"] == fake_amdsmi.AMDSMI_STATUS_NOT_SUPPORTED
