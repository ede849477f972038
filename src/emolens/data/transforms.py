"""Batched training augmentation on torch tensors (no per-image Python loop).

All functions take and return float tensors of shape (B, C, H, W) and draw their
randomness from an explicit ``torch.Generator`` so runs are reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each augmentation; zero switches one off."""

    rotate_deg: float = 15.0
    scale: float = 0.15
    shift: float = 0.12
    hflip: bool = True
    erase_p: float = 0.5
    erase_area: tuple[float, float] = (0.02, 0.2)


def random_affine(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Random rotation, scale, shift and horizontal flip of a batch, borders replicated."""
    b = x.shape[0]

    def u(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(b, generator=gen) * (hi - lo) + lo

    angle = u(-cfg.rotate_deg, cfg.rotate_deg) * math.pi / 180
    scale = u(1 - cfg.scale, 1 + cfg.scale)
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0) if cfg.hflip else torch.ones(b)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = cos * flip
    theta[:, 0, 1] = -sin
    theta[:, 1, 0] = sin * flip
    theta[:, 1, 1] = cos
    theta[:, 0, 2] = u(-cfg.shift, cfg.shift) * 2
    theta[:, 1, 2] = u(-cfg.shift, cfg.shift) * 2
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_erase(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Random erasing (Zhong et al. 2020): one rectangle per chosen image filled with noise."""
    if cfg.erase_p <= 0:
        return x
    b, _, h, w = x.shape
    area = (torch.rand(b, generator=gen) * (cfg.erase_area[1] - cfg.erase_area[0]) + cfg.erase_area[0]) * h * w
    log_ratio = torch.rand(b, generator=gen) * (math.log(10 / 3) - math.log(3 / 10)) + math.log(3 / 10)
    ratio = torch.exp(log_ratio)
    eh = torch.sqrt(area * ratio).clamp(1, h - 1)
    ew = torch.sqrt(area / ratio).clamp(1, w - 1)
    top = torch.rand(b, generator=gen) * (h - eh)
    left = torch.rand(b, generator=gen) * (w - ew)
    ys = torch.arange(h).view(1, h, 1)
    xs = torch.arange(w).view(1, 1, w)
    inside = (
        (ys >= top.view(b, 1, 1))
        & (ys < (top + eh).view(b, 1, 1))
        & (xs >= left.view(b, 1, 1))
        & (xs < (left + ew).view(b, 1, 1))
    )
    chosen = (torch.rand(b, generator=gen) < cfg.erase_p).view(b, 1, 1)
    mask = (inside & chosen).unsqueeze(1)
    noise = torch.rand(x.shape, generator=gen)
    return torch.where(mask, noise, x)


def augment(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Apply the geometric augmentation, then random erasing, to images scaled to [0, 1]."""
    return random_erase(random_affine(x, cfg, gen), cfg, gen)
