"""What torch can run on, known without importing torch in gpuscope's own process (a CUDA
context in the parent would break every spawned run).

``gpuscope bench`` checks once, before any run starts, so "no CUDA here" or "no such GPU" is a
usage error at once, not a failure after a child started or after the CPU half of a compare.
The quick way reads torch's ``version.py`` (CPU, CUDA or ROCm build) and takes the GPU count from
telemetry; where that cannot answer (a visible-devices variable is set, the vendor library is
absent, the file is unreadable), a short child imports torch and asks (4-5 s on a cold host).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gpuscope.workloads.api import WorkloadError, device_kind, not_rocm_build

_ASK = (  # the working directory off the path: a stray json.py there must not answer
    "import sys; del sys.path[0]; import json, torch; "
    "print(json.dumps({'version': torch.__version__, "
    "'gpus': torch.cuda.device_count() if torch.cuda.is_available() else 0, "
    "'hip': bool(getattr(torch.version, 'hip', None)), "
    "'gpu_build': bool(torch.version.cuda or getattr(torch.version, 'hip', None))}))"
)
NOT_INSTALLED = "torch is not installed here: pip install 'gpuscope[workloads]'"


VISIBLE_DEVICES = ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES")


@dataclass(frozen=True, slots=True)
class TorchFacts:
    version: str
    gpus: int  # devices torch sees (CUDA_VISIBLE_DEVICES applied)
    hip: bool  # a ROCm build: its "cuda" devices are AMD GPUs
    gpu_build: bool = True  # False: a CPU-only build, which sees no GPU whatever the machine has


def read_build() -> tuple[str, bool, bool] | None:
    """(version, has CUDA or ROCm, is ROCm) from torch's version.py, without importing torch."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    values: dict[str, object] = {}
    try:
        path = Path(next(iter(spec.submodule_search_locations))) / "version.py"
        for node in ast.parse(path.read_text()).body:
            target = (
                node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
            )
            value = getattr(node, "value", None)
            if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
                values[target.id] = value.value
    except (OSError, SyntaxError, ValueError):
        return None
    if not isinstance(values.get("__version__"), str):
        return None
    return (
        str(values["__version__"]),
        bool(values.get("cuda") or values.get("hip")),
        bool(values.get("hip")),
    )


def known_torch_facts(gpus_seen: Callable[[bool], int | None]) -> TorchFacts:
    """``gpus_seen(hip)``: how many GPUs of that vendor telemetry found, None if it cannot tell.
    Falls back to asking torch in a child when the quick way cannot answer."""
    if not torch_installed():
        raise WorkloadError(NOT_INSTALLED)
    build = read_build()
    if build is not None:
        version, gpu_build, hip = build
        if not gpu_build:
            return TorchFacts(version, 0, False, gpu_build=False)
        count = None if any(v in os.environ for v in VISIBLE_DEVICES) else gpus_seen(hip)
        if count is not None:
            return TorchFacts(version, count, hip)
    return ask_torch()


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None  # looked up, not imported


def ask_torch(timeout_s: float = 120.0) -> TorchFacts:
    """WorkloadError when torch is missing or cannot even be imported."""
    if not torch_installed():
        raise WorkloadError(NOT_INSTALLED)
    try:
        done = subprocess.run(
            [sys.executable, "-c", _ASK], capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        raise WorkloadError(f"importing torch took more than {timeout_s:g} s") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        why = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise WorkloadError(f"torch cannot be imported here: {why}")
    data = json.loads(lines[-1])
    return TorchFacts(
        str(data["version"]), int(data["gpus"]), bool(data["hip"]), bool(data["gpu_build"])
    )


def check_device(device: str, facts: TorchFacts) -> None:
    """WorkloadError, naming ``device`` as the user wrote it, when torch cannot run on it."""
    kind = device_kind(device)
    if kind == "cpu":
        return
    index = int(device.partition(":")[2] or 0)
    build = f"torch {facts.version}"
    not_rocm = not_rocm_build(device, facts.hip, facts.version)
    if not_rocm is not None:
        raise WorkloadError(f"{device}: {not_rocm}")
    if not facts.gpu_build:
        raise WorkloadError(f"{device}: this torch is a CPU-only build ({build})")
    if facts.gpus == 0:
        raise WorkloadError(f"{device}: this torch sees no GPU ({build})")
    if index >= facts.gpus:
        seen = ", ".join(f"{kind}:{i}" for i in range(facts.gpus))
        raise WorkloadError(f"{device}: no such GPU; this torch sees {seen}")
