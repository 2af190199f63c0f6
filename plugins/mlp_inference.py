"""Example plugin: inference of a small multilayer perceptron, counted in samples.

Shows a model built in setup, inference mode, a parameter checked with WorkloadError, and FLOPs
worked out from the layer sizes. Walked through in docs/plugins.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpuscope.workloads.api import Param, Work, Workload, WorkloadError


class MlpInference(Workload):
    name = "mlp-inference"
    description = "inference of a 4-layer MLP (width x width) on random inputs"
    devices = ("cpu", "cuda", "rocm")
    unit = "samples"
    params = (
        Param("batch", 512, "samples per step", minimum=1),
        Param("width", 2048, "hidden width", minimum=1),
        Param("dtype", "bf16", "weights and activations", choices=("fp32", "bf16", "fp16")),
    )

    def setup(self, device: str, params: Mapping[str, Any]) -> None:
        import torch
        from torch import nn

        batch, width = int(params["batch"]), int(params["width"])
        if batch < 1 or width < 1:
            raise WorkloadError("batch and width must be at least 1")
        if params["dtype"] == "fp16" and device == "cpu":
            raise WorkloadError("fp16 matmuls are slow or missing on CPUs; use bf16 or fp32")
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[
            params["dtype"]
        ]
        layers: list[nn.Module] = []
        for _ in range(4):
            layers += [nn.Linear(width, width), nn.GELU()]
        self._model = nn.Sequential(*layers).to(device=device, dtype=dtype).eval()
        self._inputs = torch.randn(batch, width, device=device, dtype=dtype)
        self._batch = batch
        self._flops = 4 * 2.0 * width * width * batch  # four width x width matmuls per sample
        self._inference = torch.inference_mode

    def step(self) -> Work:
        with self._inference():
            self._model(self._inputs)
        return Work(units=self._batch, flops=self._flops)

    def teardown(self) -> None:
        del self._model, self._inputs
