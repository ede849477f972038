"""One epoch of training and one pass of evaluation, over in-memory uint8 faces."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emolens.data.transforms import AugmentConfig, augment


def to_input(images: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 (B, H, W) or float [0, 1] (B, 1, H, W) -> normalised float, channels_last."""
    x = images.float().div_(255).unsqueeze(1) if images.dtype == torch.uint8 else images
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def soft_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, smoothing: float
) -> torch.Tensor:
    """Cross-entropy against soft targets (rows sum to 1), optional class weights and smoothing."""
    k = logits.shape[1]
    target = target * (1 - smoothing) + smoothing / k
    logp = F.log_softmax(logits.float(), dim=1)
    per = -(target * logp)
    if weight is not None:
        per = per * weight
    return per.sum(dim=1).mean()


def train_epoch(
    model: nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor,
    order: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    *,
    batch_size: int,
    aug: AugmentConfig | None,
    gen: torch.Generator,
    mean: float,
    std: float,
    class_weight: torch.Tensor | None,
    smoothing: float,
    bf16: bool,
    progress: Callable[[int], None] | None = None,
    frozen: Sequence[nn.Module] = (),
) -> tuple[float, float]:
    """Train over ``images[order]`` once; returns (mean loss, accuracy against the argmax target).

    ``frozen`` modules (batch norms of frozen layers) stay in eval mode."""
    model.train()
    for m in frozen:
        m.eval()
    total_loss, correct, seen = 0.0, 0, 0
    for start in range(0, len(order) - batch_size + 1, batch_size):  # drop the last partial batch
        idx = order[start : start + batch_size]
        x = images[idx].float().div_(255).unsqueeze(1)
        if aug is not None:
            x = augment(x, aug, gen)
        x = to_input(x, mean, std)
        y = targets[idx]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss = soft_cross_entropy(logits, y, class_weight, smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += float(loss.detach()) * len(idx)
        correct += int((logits.argmax(1) == y.argmax(1)).sum())
        seen += len(idx)
        if progress is not None:
            progress(len(idx))
    return total_loss / max(seen, 1), correct / max(seen, 1)


@torch.no_grad()
def predict(
    model: nn.Module,
    images: torch.Tensor,
    *,
    mean: float,
    std: float,
    batch_size: int = 512,
    bf16: bool = True,
    hflip: bool = False,
) -> np.ndarray:
    """Softmax probabilities (N, K) for uint8 faces (N, H, W); ``hflip`` averages with the mirror."""
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        x = to_input(images[start : start + batch_size], mean, std)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            p = F.softmax(model(x).float(), dim=1)
            if hflip:
                p = (p + F.softmax(model(torch.flip(x, dims=[3])).float(), dim=1)) / 2
        out.append(p.float())
    return torch.cat(out).numpy()
