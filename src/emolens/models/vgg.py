"""VGG-style networks: stages of 3x3 conv-BN-ReLU blocks separated by max pooling.

Four poolings take a 48x48 face to a 3x3 map, which the classifier reads whole.
"""

from __future__ import annotations

import torch
from torch import nn

from emolens.models.layers import conv_bn_relu, init_weights
from emolens.models.registry import register_model


class VGG(nn.Module):
    def __init__(
        self,
        num_classes: int = 7,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        depths: tuple[int, ...] = (2, 2, 2, 2),
        hidden: int = 256,
        dropout: float = 0.4,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        for w, d in zip(widths, depths, strict=True):
            for i in range(d):
                layers.append(conv_bn_relu(cin if i == 0 else w, w))
            layers.append(nn.MaxPool2d(2))
            cin = w
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(cin * 9, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@register_model("vgg")
def vgg(num_classes: int = 7) -> nn.Module:
    """VGG-style net, 4 stages of 2 convs (32-64-128-256), the default model's family."""
    return VGG(num_classes)


@register_model("vgg_wide")
def vgg_wide(num_classes: int = 7) -> nn.Module:
    """Wider VGG-style net (48-96-192-384) for more accuracy at about twice the cost."""
    return VGG(num_classes, widths=(48, 96, 192, 384), hidden=384)


@register_model("vgg_large")
def vgg_large(num_classes: int = 7) -> nn.Module:
    """Larger VGG-style net (64-128-256-384), for GPU training and ensembles of ``accurate``."""
    return VGG(num_classes, widths=(64, 128, 256, 384), hidden=256, dropout=0.5)
