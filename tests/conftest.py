"""Shared fixtures: a controllable clock and fake vendor libraries injected through sys.modules."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from tests.fakes.fake_amdsmi import FakeAmdGpu, FakeAmdSmi
from tests.fakes.fake_pynvml import FakeGpu, FakeNvml


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def no_real_gpu_libraries(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """No vendor library unless a test installs a fake; GPU-marked tests see the real ones."""
    if request.node.get_closest_marker("gpu") is None:
        monkeypatch.setitem(sys.modules, "pynvml", None)
        monkeypatch.setitem(sys.modules, "amdsmi", None)


@pytest.fixture(autouse=True)
def no_user_config(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The developer's own ~/.config/gpuscope (a cpu_tdp_w, plugins) never reaches a test or the
    commands it starts; a test that wants a config folder sets XDG_CONFIG_HOME itself."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.getbasetemp() / "no-user-config"))


@pytest.fixture
def install_nvml(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeNvml]:
    def install(gpus: list[FakeGpu], **kwargs: object) -> FakeNvml:
        fake = FakeNvml(gpus, **kwargs)  # type: ignore[arg-type]
        monkeypatch.setitem(sys.modules, "pynvml", fake.module())
        return fake

    return install


@pytest.fixture
def install_amdsmi(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeAmdSmi]:
    def install(gpus: list[FakeAmdGpu], **kwargs: object) -> FakeAmdSmi:
        fake = FakeAmdSmi(gpus, **kwargs)  # type: ignore[arg-type]
        monkeypatch.setitem(sys.modules, "amdsmi", fake.module())
        return fake

    return install
