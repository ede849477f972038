"""ResNet-style network with basic residual blocks, sized for 48x48 faces."""

from __future__ import annotations

import torch
from torch import nn

from emolens.models.layers import conv_bn_relu, init_weights
from emolens.models.registry import register_model


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv_bn_relu(cin, cout, stride=stride)
        self.conv2 = nn.Sequential(nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(
        self, num_classes: int = 7, widths: tuple[int, ...] = (64, 128, 256), blocks: int = 2, dropout: float = 0.3
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn_relu(1, 32)]
        cin = 32
        for w in widths:
            for i in range(blocks):
                layers.append(BasicBlock(cin, w, stride=2 if i == 0 else 1))
                cin = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, num_classes)
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_model("resnet")
def resnet(num_classes: int = 7) -> nn.Module:
    """ResNet-style net: 32-channel stem, 3 stages of 2 basic blocks (64-128-256)."""
    return ResNet(num_classes)
