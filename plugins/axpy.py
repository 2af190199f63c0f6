"""Example plugin: y = a*x + y over long vectors, a memory-bandwidth workload.

Its unit of work is the byte moved (read x, read y, write y), so `gpuscope bench axpy` reports
bytes/s and bytes per joule. Walked through in docs/plugins.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpuscope.workloads.api import Param, Work, Workload, WorkloadError

BYTES_PER_ELEMENT = {"fp32": 4, "bf16": 2, "fp16": 2}


class Axpy(Workload):
    name = "axpy"
    description = "y = a*x + y on long vectors (memory bandwidth)"
    devices = ("cpu", "cuda", "rocm")
    unit = "bytes"
    params = (
        Param("size", 64 * 2**20, "elements per vector", minimum=1),
        Param("dtype", "fp32", "element type", choices=tuple(BYTES_PER_ELEMENT)),
    )

    def setup(self, device: str, params: Mapping[str, Any]) -> None:
        import torch  # inside setup: listing plugins stays fast and torch-free

        n = int(params["size"])
        if n < 1:
            raise WorkloadError(f"size must be at least 1, got {n}")
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[
            params["dtype"]
        ]
        self._x = torch.randn(n, device=device, dtype=dtype)
        self._y = torch.randn(n, device=device, dtype=dtype)
        self._bytes = 3 * n * BYTES_PER_ELEMENT[str(params["dtype"])]
        self._flops = 2.0 * n  # one multiply and one add per element

    def step(self) -> Work:
        self._y.add_(self._x, alpha=0.5)  # in place: no allocation inside the timed loop
        return Work(units=self._bytes, flops=self._flops)

    def facts(self) -> dict[str, Any]:
        return {"bytes_per_step": self._bytes}

    def teardown(self) -> None:
        del self._x, self._y
