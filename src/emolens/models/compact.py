"""A compact depthwise-separable network for edge boards (Raspberry Pi class CPUs)."""

from __future__ import annotations

import torch
from torch import nn

from emolens.models.layers import conv_bn_relu, init_weights
from emolens.models.registry import register_model


def separable(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """Depthwise 3x3 then pointwise 1x1, each with BatchNorm and ReLU."""
    return nn.Sequential(conv_bn_relu(cin, cin, stride=stride, groups=cin), conv_bn_relu(cin, cout, k=1))


class Compact(nn.Module):
    def __init__(self, num_classes: int = 7, dropout: float = 0.2) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_relu(1, 16),  # 48
            separable(16, 32, stride=2),  # 24
            separable(32, 32),
            separable(32, 64, stride=2),  # 12
            separable(64, 64),
            separable(64, 128, stride=2),  # 6
            separable(128, 128),
            separable(128, 256, stride=2),  # 3
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(256, num_classes)
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_model("compact")
def compact(num_classes: int = 7) -> nn.Module:
    """Compact depthwise-separable net (~0.1M parameters) for edge boards."""
    return Compact(num_classes)
