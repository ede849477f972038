"""One epoch of training and one pass of evaluation, over in-memory uint8 faces."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emolens.data.transforms import augment
from emolens.train.config import AugmentConfig


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


def mix_batch(
    x: torch.Tensor, y: torch.Tensor, mixup: float, cutmix: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup (Zhang et al. 2018) or CutMix (Yun et al. 2019) of a batch with a shuffled copy of
    itself; the targets mix in the same proportion. With both on, each batch uses one of the two."""
    if mixup <= 0 and cutmix <= 0:
        return x, y
    rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
    use_cut = cutmix > 0 and (mixup <= 0 or rng.random() < 0.5)
    lam = float(rng.beta(cutmix, cutmix) if use_cut else rng.beta(mixup, mixup))
    perm = torch.randperm(x.shape[0], generator=gen)
    if not use_cut:
        return lam * x + (1 - lam) * x[perm], lam * y + (1 - lam) * y[perm]
    h, w = x.shape[-2:]
    ch, cw = int(h * np.sqrt(1 - lam)), int(w * np.sqrt(1 - lam))
    cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
    out = x.clone()
    out[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
    lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    return out, lam * y + (1 - lam) * y[perm]


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
    mixup: float = 0.0,
    cutmix: float = 0.0,
    after_step: Callable[[], None] | None = None,
    device: torch.device | None = None,
) -> tuple[float, float]:
    """Train over ``images[order]`` once; returns (mean loss, accuracy against the argmax target).

    ``frozen`` modules (batch norms of frozen layers) stay in eval mode. ``mixup`` / ``cutmix``:
    Beta parameters (0 = off). ``after_step`` runs after every optimiser step (weight averaging).
    ``device``: where ``model`` and ``class_weight`` are (None: the CPU); batches are augmented on
    the CPU and moved there."""
    device = device or torch.device("cpu")
    model.train()
    for m in frozen:
        m.eval()
    total_loss, correct, seen = 0.0, 0, 0
    for start in range(0, len(order) - batch_size + 1, batch_size):  # drop the last partial batch
        idx = order[start : start + batch_size]
        x = images[idx].float().div_(255).unsqueeze(1)
        if aug is not None:
            x = augment(x, aug, gen)
        y = targets[idx]
        x, y = mix_batch(x, y, mixup, cutmix, gen)
        x, y = to_input(x, mean, std).to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss = soft_cross_entropy(logits, y, class_weight, smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if after_step is not None:
            after_step()
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
    device: torch.device | None = None,
) -> np.ndarray:
    """Softmax probabilities (N, K) for uint8 faces (N, H, W); ``hflip`` averages with the mirror.
    ``device``: where ``model`` is (None: the CPU)."""
    device = device or torch.device("cpu")
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        x = to_input(images[start : start + batch_size], mean, std).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            p = F.softmax(model(x).float(), dim=1)
            if hflip:
                p = (p + F.softmax(model(torch.flip(x, dims=[3])).float(), dim=1)) / 2
        out.append(p.float().cpu())
    return torch.cat(out).numpy()
