"""ResNet-50 training or inference on synthetic 224x224 images: the unit of work is one image."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpuscope.workloads.api import Param, Work, Workload, WorkloadError
from gpuscope.workloads.resnet import build_resnet50, resnet50_counts
from gpuscope.workloads.training import MODES, PRECISIONS, ModelStep


class ResNet50(Workload):
    name = "cnn"
    description = "ResNet-50 (25.6 M parameters) on synthetic images, channels_last"
    devices = ("cpu", "cuda", "rocm")
    unit = "images"
    params = (
        Param("mode", "train", "train (forward+backward+SGD) or infer", choices=MODES),
        Param("precision", "bf16", "autocast dtype, or fp32", choices=PRECISIONS, precision=True),
        # a training step of 2 images takes 0.6 s in fp32 on 2 AVX2 cores
        Param("batch", 256, "images per step", minimum=1, device_defaults={"cpu": 2}),
        Param("image_size", 224, "square input side in pixels", minimum=32),
        Param("channels_last", True, "NHWC memory layout (faster on tensor cores)"),
    )

    def setup(self, device: str, params: Mapping[str, Any]) -> None:
        import torch

        self._batch = int(params["batch"])
        if self._batch < 1:
            raise WorkloadError(f"batch must be at least 1, got {self._batch}")
        size = int(params["image_size"])
        if size < 32:
            raise WorkloadError(f"image_size must be at least 32, got {size}")
        if device != "cpu":
            torch.backends.cudnn.benchmark = True
        layout = torch.channels_last if params["channels_last"] else torch.contiguous_format
        model = build_resnet50().to(device=device, memory_format=layout)
        self._images = torch.randn(self._batch, 3, size, size, device=device).to(
            memory_format=layout
        )
        self._labels = torch.randint(0, 1000, (self._batch,), device=device)
        self._step = ModelStep(
            model,
            torch.nn.functional.cross_entropy,
            device,
            str(params["precision"]),
            str(params["mode"]),
        )
        self._parameters, macs = resnet50_counts(size)
        passes = 3 if params["mode"] == "train" else 1
        self._flops_per_step = 2.0 * macs * passes * self._batch
        self._forward_gflops = 2.0 * macs / 1e9

    def step(self) -> Work:
        self._step(self._images, self._labels)
        return Work(units=self._batch, flops=self._flops_per_step)

    def facts(self) -> dict[str, Any]:
        return {
            "batch": self._batch,
            "parameters": self._parameters,
            "forward_gflops_per_image": round(self._forward_gflops, 3),
        }

    def teardown(self) -> None:
        for name in ("_step", "_images", "_labels"):
            self.__dict__.pop(name, None)
