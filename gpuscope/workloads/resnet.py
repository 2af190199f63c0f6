"""ResNet-50 (He et al. 2016, the torchvision layout: stride on the 3x3 conv) built from torch.nn,
plus its parameter and multiply-accumulate counts worked out from the architecture alone.

The widely quoted "4.1 GFLOPs" per 224x224 image is really 4.1 G multiply-accumulates (MACs);
FLOPs are twice that. Conventions used here: FLOPs = 2 x MACs; a training step costs 3x the
forward pass (forward, plus backward for activations and for weights).
"""

from __future__ import annotations

from typing import Any

STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))  # (width, blocks, stride)
EXPANSION = 4
NUM_CLASSES = 1000


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def resnet50_counts(image_size: int = 224, num_classes: int = NUM_CLASSES) -> tuple[int, int]:
    """(parameters, forward MACs per image), from the layer shapes, without building the model."""
    params = 0
    macs = 0

    def conv(c_in: int, c_out: int, kernel: int, size_out: int) -> None:
        nonlocal params, macs
        params += kernel * kernel * c_in * c_out + 2 * c_out  # conv weight (no bias) + BatchNorm
        macs += kernel * kernel * c_in * c_out * size_out * size_out

    size = _conv_out(image_size, 7, 2, 3)
    conv(3, 64, 7, size)
    size = _conv_out(size, 3, 2, 1)  # max pool
    channels = 64
    for width, blocks, stride in STAGES:
        for block in range(blocks):
            s = stride if block == 0 else 1
            out = _conv_out(size, 3, s, 1)
            conv(channels, width, 1, size)
            conv(width, width, 3, out)
            conv(width, width * EXPANSION, 1, out)
            if block == 0:
                conv(channels, width * EXPANSION, 1, out)  # projection shortcut
            channels = width * EXPANSION
            size = out
    params += channels * num_classes + num_classes
    macs += channels * num_classes
    return params, macs


def build_resnet50(num_classes: int = NUM_CLASSES) -> Any:
    """A torch.nn.Module; imports torch only when called."""
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, c_in: int, width: int, stride: int) -> None:
            super().__init__()
            c_out = width * EXPANSION
            self.body = nn.Sequential(
                nn.Conv2d(c_in, width, 1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.Conv2d(width, c_out, 1, bias=False),
                nn.BatchNorm2d(c_out),
            )
            self.shortcut = (
                nn.Sequential(
                    nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
                )
                if stride != 1 or c_in != c_out
                else nn.Identity()
            )
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x: Any) -> Any:
            return self.relu(self.body(x) + self.shortcut(x))

    layers: list[nn.Module] = [
        nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, stride=2, padding=1),
    ]
    channels = 64
    for width, blocks, stride in STAGES:
        for block in range(blocks):
            layers.append(Bottleneck(channels, width, stride if block == 0 else 1))
            channels = width * EXPANSION
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
    return nn.Sequential(*layers)
