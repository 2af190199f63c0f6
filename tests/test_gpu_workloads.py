"""CUDA paths of the bundled workloads and of gpuscope bench. Skipped without a CUDA GPU.

Run with ``pytest -m gpu`` on a GPU machine.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here"),
]

from gpuscope.workloads.api import resolve_params  # noqa: E402
from gpuscope.workloads.cnn import ResNet50  # noqa: E402
from gpuscope.workloads.gemm import Gemm  # noqa: E402
from gpuscope.workloads.memory_probe import MemoryProbe  # noqa: E402


@pytest.mark.parametrize("dtype", ["fp32", "tf32", "fp16", "bf16", "fp8"])
def test_gemm_dtypes_on_cuda(dtype: str) -> None:
    if dtype == "fp8" and torch.cuda.get_device_capability(0) < (8, 9):
        pytest.skip("fp8 needs compute capability 8.9+")
    gemm = Gemm()
    gemm.setup("cuda:0", resolve_params(Gemm, {"dtype": dtype, "size": 256}))
    work = gemm.step()
    torch.cuda.synchronize()
    assert work.flops == 2 * 256**3
    assert torch.backends.cuda.matmul.allow_tf32 is (dtype == "tf32")
    gemm.teardown()


def test_cnn_trains_on_cuda_in_bf16() -> None:
    cnn = ResNet50()
    cnn.setup("cuda:0", resolve_params(ResNet50, {"batch": 8, "image_size": 64}))
    assert cnn.step().units == 8
    torch.cuda.synchronize()
    cnn.teardown()


def test_memory_probe_finds_a_batch_on_cuda() -> None:
    probe = MemoryProbe()
    probe.setup("cuda:0", resolve_params(MemoryProbe, {"model": "rnn", "limit": 64}))
    facts = probe.facts()
    assert 1 <= facts["largest_batch"] <= 64 and facts["tries"] >= 1
    probe.teardown()


def test_bench_compare_cpu_and_gpu_has_gpu_energy_from_the_counter() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gpuscope",
            "bench",
            "gemm",
            "--size",
            "2048",
            "--dtype",
            "fp32",
            "--compare",
            "cpu,cuda:0",
            "--duration",
            "3",
            "--warmup",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    cpu, gpu = payload["reports"]
    assert cpu["device"] == "cpu" and cpu["throughput"] > 0
    assert gpu["telemetry_device"].startswith("nvidia:") and gpu["energy_source"] == "counter"
    assert gpu["avg_power_w"] > 0 and gpu["work_per_joule"] > 0
    assert payload["comparisons"][0]["speedup"] > 1
