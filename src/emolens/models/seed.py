"""The two CNNs of the seed paper, reproduced as described there.

* ``seed_classic``: 2 convolutions, 2 poolings, 4 fully connected layers (paper: 52%).
* ``seed_regularized``: 8 convolutions, 4 poolings, 4 fully connected layers with batch
  normalisation and dropout (paper: 64%).
"""

from __future__ import annotations

import torch
from torch import nn

from emolens.models.layers import conv_bn_relu, init_weights
from emolens.models.registry import register_model


class SeedClassic(nn.Module):
    def __init__(self, num_classes: int = 7) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 24
            nn.Conv2d(32, 64, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 12
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * 12 * 12, 512),
            nn.ReLU(inplace=True),
            nn.Linear(512, 256),
            nn.ReLU(inplace=True),
            nn.Linear(256, 128),
            nn.ReLU(inplace=True),
            nn.Linear(128, num_classes),
        )
        init_weights(self, linear="kaiming")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class SeedRegularized(nn.Module):
    def __init__(self, num_classes: int = 7, dropout: float = 0.4) -> None:
        super().__init__()
        chans = (32, 64, 128, 256)
        layers: list[nn.Module] = []
        cin = 1
        for c in chans:  # 4 stages x 2 convs, each followed by a pooling: 48 -> 3
            layers += [conv_bn_relu(cin, c), conv_bn_relu(c, c), nn.MaxPool2d(2), nn.Dropout(0.1)]
            cin = c
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(256 * 3 * 3, 512),
            nn.BatchNorm1d(512),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(512, 256),
            nn.BatchNorm1d(256),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(256, 128),
            nn.BatchNorm1d(128),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(128, num_classes),
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@register_model("seed_classic")
def seed_classic(num_classes: int = 7) -> nn.Module:
    """Seed paper's classic CNN: 2 conv + 2 pool + 4 fully connected."""
    return SeedClassic(num_classes)


@register_model("seed_regularized")
def seed_regularized(num_classes: int = 7) -> nn.Module:
    """Seed paper's regularised CNN: 8 conv + 4 pool + 4 FC, batch norm and dropout."""
    return SeedRegularized(num_classes)
