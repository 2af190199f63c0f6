"""The bundled GEMM on the CPU with tiny sizes; FLOPs checked against 2·n³."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from gpuscope.workloads.api import WorkloadError, resolve_params  # noqa: E402
from gpuscope.workloads.gemm import Gemm, gemm_flops  # noqa: E402


@pytest.mark.parametrize("dtype", ["fp32", "bf16", "fp16"])
def test_gemm_steps_on_cpu_and_counts_flops(dtype: str) -> None:
    gemm = Gemm()
    gemm.setup("cpu", resolve_params(Gemm, {"dtype": dtype, "size": 32}))
    work = gemm.step()
    assert work.units == work.flops == 2 * 32**3 == gemm_flops(32)
    expected = gemm._a.float() @ gemm._b.float()
    assert torch.allclose(gemm._c.float(), expected, rtol=0.05, atol=0.5)
    gemm.teardown()
    assert not hasattr(gemm, "_a")


@pytest.mark.parametrize(
    ("dtype", "message"), [("tf32", "tf32 needs a CUDA device"), ("fp8", "fp8 needs a CUDA device")]
)
def test_gemm_refuses_what_the_cpu_cannot_do(dtype: str, message: str) -> None:
    with pytest.raises(WorkloadError, match=message):
        Gemm().setup("cpu", resolve_params(Gemm, {"dtype": dtype, "size": 32}))
