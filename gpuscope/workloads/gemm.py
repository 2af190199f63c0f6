"""Square matrix multiply: the workload that shows a device's raw arithmetic rate.

FLOPs per product are 2·n³ (n multiply-adds per output element, n² outputs). fp8 uses
``torch._scaled_mm`` (e4m3 inputs, bf16 output), which needs a CUDA device of compute capability
8.9 or newer. tf32 is fp32 storage with TensorFloat-32 matmuls, which exist on CUDA only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpuscope.workloads.api import Param, Work, Workload, WorkloadError

DTYPES = ("fp32", "tf32", "fp16", "bf16", "fp8")


def gemm_flops(n: int) -> float:
    return 2.0 * n * n * n


class Gemm(Workload):
    name = "gemm"
    description = "square matrix multiply C = A·B; FLOPs = 2·n³ per product"
    devices = ("cpu", "cuda", "rocm")
    unit = "FLOP"
    params = (
        Param("dtype", "bf16", "element type", choices=DTYPES, precision=True),
        # a CPU step of n=8192 is 1.1 TFLOP: 9 s in fp32 on 2 AVX2 cores, an hour in bf16
        Param("size", 8192, "n: the matrices are n-by-n", minimum=1, device_defaults={"cpu": 2048}),
    )

    def setup(self, device: str, params: Mapping[str, Any]) -> None:
        import torch

        n = int(params["size"])
        if n < 1:
            raise WorkloadError(f"size must be at least 1, got {n}")
        dtype_name = str(params["dtype"])
        on_cuda = device.startswith("cuda")
        if dtype_name == "tf32" and not on_cuda:
            raise WorkloadError("tf32 needs a CUDA device (CPUs have no TensorFloat-32 matmul)")
        if on_cuda:
            # fp32 means true fp32; only the tf32 choice may use TensorFloat-32.
            torch.backends.cuda.matmul.allow_tf32 = dtype_name == "tf32"
        self._flops = gemm_flops(n)
        if dtype_name == "fp8":
            self._setup_fp8(torch, device, n)
            return
        dtype = {
            "fp32": torch.float32,
            "tf32": torch.float32,
            "fp16": torch.float16,
            "bf16": torch.bfloat16,
        }[dtype_name]
        self._a = torch.randn(n, n, device=device, dtype=dtype)
        self._b = torch.randn(n, n, device=device, dtype=dtype)
        self._c = torch.empty(n, n, device=device, dtype=dtype)
        self._matmul = torch.matmul

    def _setup_fp8(self, torch: Any, device: str, n: int) -> None:
        if not device.startswith("cuda") or not hasattr(torch, "_scaled_mm"):
            raise WorkloadError("fp8 needs a CUDA device and a torch with _scaled_mm")
        if torch.cuda.get_device_capability(device) < (8, 9):
            raise WorkloadError("fp8 needs compute capability 8.9 or newer (Ada, Hopper)")
        if n % 16:
            raise WorkloadError("fp8 needs size divisible by 16")
        fp8 = torch.float8_e4m3fn
        self._a = torch.randn(n, n, device=device).to(fp8)
        self._b = torch.randn(n, n, device=device).to(fp8).t().contiguous().t()  # column-major
        self._scale = torch.ones((), device=device)
        self._out_dtype = torch.bfloat16
        self._scaled_mm = torch._scaled_mm

    def step(self) -> Work:
        if hasattr(self, "_scaled_mm"):
            self._scaled_mm(
                self._a,
                self._b,
                scale_a=self._scale,
                scale_b=self._scale,
                out_dtype=self._out_dtype,
            )
        else:
            self._matmul(self._a, self._b, out=self._c)
        return Work(units=self._flops, flops=self._flops)

    def teardown(self) -> None:
        for name in ("_a", "_b", "_c", "_scale"):
            self.__dict__.pop(name, None)
