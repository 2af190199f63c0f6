"""What torch can run on, asked of a short child process so gpuscope's own process never
imports torch (a CUDA context in the parent would break every spawned run).

``gpuscope bench`` asks once, before any run starts, so "no CUDA here" or "no such GPU" is a
usage error at once, not a failure after a child started or after the CPU half of a compare.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass

from gpuscope.workloads.api import WorkloadError, device_kind

_ASK = (
    "import json, torch; print(json.dumps({'version': torch.__version__, "
    "'gpus': torch.cuda.device_count() if torch.cuda.is_available() else 0, "
    "'hip': bool(getattr(torch.version, 'hip', None))}))"
)
NOT_INSTALLED = "torch is not installed here: pip install 'gpuscope[workloads]'"


@dataclass(frozen=True, slots=True)
class TorchFacts:
    version: str
    gpus: int  # devices torch sees (CUDA_VISIBLE_DEVICES applied)
    hip: bool  # a ROCm build: its "cuda" devices are AMD GPUs


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
    return TorchFacts(str(data["version"]), int(data["gpus"]), bool(data["hip"]))


def check_device(device: str, facts: TorchFacts) -> None:
    """WorkloadError, naming ``device`` as the user wrote it, when torch cannot run on it."""
    kind = device_kind(device)
    if kind == "cpu":
        return
    index = int(device.partition(":")[2] or 0)
    build = f"torch {facts.version}"
    if kind == "rocm" and not facts.hip:
        raise WorkloadError(f"{device}: this torch is not a ROCm build ({build})")
    if facts.gpus == 0:
        raise WorkloadError(f"{device}: this torch sees no GPU ({build})")
    if index >= facts.gpus:
        seen = ", ".join(f"{kind}:{i}" for i in range(facts.gpus))
        raise WorkloadError(f"{device}: no such GPU; this torch sees {seen}")
