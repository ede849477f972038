"""Batched training augmentation on torch tensors (no per-image Python loop).

All functions take and return float tensors of shape (B, C, H, W) and draw their
randomness from an explicit ``torch.Generator`` so runs are reproducible.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from emolens.train.config import AugmentConfig


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


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur each image of (B, 1, H, W) with its own Gaussian (``sigma`` (B,), 0 = unchanged)."""
    b = x.shape[0]
    radius = max(1, int(math.ceil(3 * float(sigma.max()))))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    s = sigma.clamp(min=1e-3).view(b, 1)
    k = torch.exp(-(t.view(1, -1) ** 2) / (2 * s**2))
    k = k / k.sum(dim=1, keepdim=True)
    rows = F.conv2d(F.pad(x.transpose(0, 1), (radius, radius, 0, 0), mode="replicate"), k.view(b, 1, 1, -1), groups=b)
    out = F.conv2d(F.pad(rows, (0, 0, radius, radius), mode="replicate"), k.view(b, 1, -1, 1), groups=b)
    return torch.where((sigma > 0.05).view(b, 1, 1, 1), out.transpose(0, 1), x)


def random_photometric(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Random brightness, contrast, blur and sensor noise: what real cameras do to a face."""
    if cfg.photometric_p <= 0:
        return x
    b = x.shape[0]

    def hit() -> torch.Tensor:
        return (torch.rand(b, generator=gen) < cfg.photometric_p).float().view(b, 1, 1, 1)

    def u(lo: float, hi: float) -> torch.Tensor:
        return (torch.rand(b, generator=gen) * (hi - lo) + lo).view(b, 1, 1, 1)

    x = x + hit() * u(-cfg.brightness, cfg.brightness)
    mean = x.mean(dim=(2, 3), keepdim=True)
    x = mean + (x - mean) * (1 + hit() * (u(*cfg.contrast) - 1))
    x = gaussian_blur(x.clamp(0, 1), (hit() * u(0, cfg.blur_sigma)).view(b))
    x = x + hit() * u(0, cfg.noise_std) * torch.randn(x.shape, generator=gen)
    return x.clamp(0, 1)


def augment(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Apply the geometric augmentation, the photometric one (if on), then random erasing, to images
    scaled to [0, 1]."""
    return random_erase(random_photometric(random_affine(x, cfg, gen), cfg, gen), cfg, gen)
