"""A stand-in ``pynvml``: the real nvidia-ml-py, answered by the test fake's GPUs, not a driver.

Put this folder first on ``PYTHONPATH`` and any monitor that imports ``pynvml`` (gpuscope, nvitop)
sees the same two H100-like GPUs under load, with a process on each, so their costs can be
compared on a machine without a GPU (``benchmarks/tui_cpu.py --standin``). What a monitor gets:

- the real module's constants, structs and exception classes (nvitop reads its internals);
- the functions ``tests/fakes/fake_pynvml.py`` implements, answered by that fake (its errors
  raised again as the real classes, keyword arguments bound by the real signatures);
- every other function answered as a driver answers a query the device does not support: the
  real module finds the symbol in the stand-in library, which returns ``NVML_ERROR_NOT_SUPPORTED``,
  and raises ``NVMLError_NotSupported``. nvitop reads memory and its process lists through such
  symbols itself, so it shows those n/a: it does a little less here than on a GPU, which errs
  against gpuscope in a comparison.

gpuscope imports a binding only where its library loads, or where it is imported already
(``telemetry/native_library.worth_asking``): start it with this module imported first, as
``python -c "import pynvml, runpy; runpy.run_module('gpuscope', run_name='__main__')"`` does.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import inspect
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
FAKE_FILE = HERE.parent / "fake_pynvml.py"


def _load(name: str, spec: importlib.machinery.ModuleSpec | None) -> ModuleType:
    if spec is None or spec.loader is None:
        raise ImportError(f"{name}: not found")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it runs
    spec.loader.exec_module(module)
    return module


def _real_pynvml() -> ModuleType:
    """nvidia-ml-py's own ``pynvml``, found on the path after this folder."""
    rest = [p for p in sys.path if Path(p or ".").resolve() != HERE]
    return _load("pynvml", importlib.machinery.PathFinder.find_spec("pynvml", rest))


class _NotSupportedLibrary:
    """The loaded "library": every symbol is there and answers NVML_ERROR_NOT_SUPPORTED."""

    def __init__(self, not_supported: int) -> None:
        self._not_supported = not_supported

    def __getattr__(self, symbol: str) -> Callable[..., int]:
        def answer(*args: Any) -> int:
            return self._not_supported

        answer.__name__ = symbol
        return answer


def _wave(mean: float, amplitude: float, period_s: float, t: float) -> float:
    return mean + amplitude * math.sin(2 * math.pi * t / period_s)


def _gpus(fake: ModuleType) -> list[Any]:
    """Two H100s: one busy (power and utilisation moving), one lightly loaded."""

    class Wave:
        """Power moving as a sine: its integral is exact, so the energy counter agrees."""

        def __init__(self, mean_w: float, amplitude_w: float, period_s: float) -> None:
            self.mean_w, self.amplitude_w, self.period_s = mean_w, amplitude_w, period_s

        def power_w(self, t: float) -> float:
            return _wave(self.mean_w, self.amplitude_w, self.period_s, t)

        def energy_j(self, t0: float, t1: float) -> float:
            k = 2 * math.pi / self.period_s
            swing = self.amplitude_w / k * (math.cos(k * t0) - math.cos(k * t1))
            return self.mean_w * (t1 - t0) + swing

    class MovingGpu(fake.FakeGpu):  # type: ignore[misc,name-defined]
        """Utilisation and temperature follow the power's wave."""

        @property  # type: ignore[override]
        def util_gpu(self) -> int:
            return round(_wave(self.util_mean, 15, self.power.period_s, time.monotonic()))

        @util_gpu.setter
        def util_gpu(self, value: int) -> None:
            self.util_mean = value

    return [
        MovingGpu(
            power=Wave(420.0, 150.0, 37.0),
            util_gpu=80,
            util_mem=45,
            mem_used=52 << 30,
            temperature=61,
            sm_clock=1980,
            processes=[(1, 52 << 30)],
        ),
        MovingGpu(
            uuid="GPU-00000000-0000-4000-8000-000000000001",
            bus_id="00000000:00:07.0",
            power=Wave(150.0, 40.0, 23.0),
            util_gpu=20,
            util_mem=5,
            mem_used=9 << 30,
            temperature=44,
            processes=[(1, 9 << 30)],
        ),
    ]


def _answered_by(real: ModuleType, fake: ModuleType, name: str) -> Callable[..., Any]:
    fake_fn = getattr(fake, name if name != "nvmlInitWithFlags" else "nvmlInit")
    signature = inspect.signature(getattr(real, name))

    def call(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs).args
        if name == "nvmlInitWithFlags":
            bound = ()  # the fake's nvmlInit takes no flags
        try:
            return fake_fn(*bound)
        except fake.NVMLError as exc:
            raise real.NVMLError(exc.value) from None

    call.__name__ = call.__qualname__ = name
    return call


def _stand_in() -> ModuleType:
    real = _real_pynvml()
    fake_module = _load("gpuscope_fake_pynvml", importlib.util.spec_from_file_location(
        "gpuscope_fake_pynvml", FAKE_FILE
    ))  # fmt: skip
    fake = fake_module.FakeNvml(_gpus(fake_module)).module()
    answered = [n for n in dir(fake) if n.startswith("nvml") and callable(getattr(fake, n))]
    for name in [*answered, "nvmlInitWithFlags"]:
        setattr(real, name, _answered_by(real, fake, name))
    # "loaded": nothing looks for libnvidia-ml.so.1
    real.nvmlLib = _NotSupportedLibrary(real.NVML_ERROR_NOT_SUPPORTED)
    return real


sys.modules[__name__] = _stand_in()
