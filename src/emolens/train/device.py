"""Where a training runs (``--device``) and in what precision (``--precision``).

Training runs on the CPU unless a CUDA GPU is visible to torch: ``auto`` takes the GPU when there is
one. Augmentation, features and the random draws stay on the CPU, so a run's sequence of random
numbers does not depend on the device; only the network's arithmetic moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from emolens.errors import EmolensError
from emolens.train.config import DEVICES, PRECISIONS


@dataclass(frozen=True)
class Compute:
    """The device a run trains on, its precision (``bf16`` autocast or ``fp32``) and why, in words."""

    device: torch.device
    precision: str
    reason: str

    @property
    def bf16(self) -> bool:
        return self.precision == "bf16"

    @property
    def name(self) -> str:
        """``cpu``, or the GPU with its name: ``cuda:0 (NVIDIA H200)``."""
        if self.device.type == "cuda":
            return f"{self.device} ({torch.cuda.get_device_name(self.device)})"
        return str(self.device)

    def autocast(self) -> torch.autocast:
        """bf16 autocast on this device when the precision is bf16, else a no-op context."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)


def resolve_device(requested: str) -> torch.device:
    """``cpu``, ``cuda`` (refused with a clear reason when torch sees no CUDA GPU) or ``auto``: the GPU
    when torch sees one, else the CPU."""
    if requested not in DEVICES:
        raise EmolensError(f"unknown --device {requested!r}; choose one of: {', '.join(DEVICES)}")
    if requested == "cpu":
        return torch.device("cpu")
    available = torch.cuda.is_available()
    if requested == "cuda" and not available:
        built = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise EmolensError(f"--device cuda: torch {torch.__version__} ({built}) sees no CUDA GPU; use --device cpu")
    return torch.device("cuda", torch.cuda.current_device()) if available else torch.device("cpu")


def resolve_precision(requested: str, device: torch.device | None = None) -> str:
    """``auto`` -> ``bf16`` where the device computes bf16 natively, else ``fp32``.

    On a CPU that means AVX512-BF16 or AMX: elsewhere PyTorch emulates bf16 autocast, many times
    slower than float32 (on an AVX2-only AMD EPYC a ``vgg`` batch of 128 took 14.8 s in bf16 against
    1.2 s in fp32). On a CUDA GPU, torch's test of native bf16 (Ampere and later), emulation not counted."""
    if requested not in PRECISIONS:
        raise EmolensError(f"unknown --precision {requested!r}; choose one of: {', '.join(PRECISIONS)}")
    if requested != "auto":
        return requested
    if device is not None and device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp32"
    from emolens.hardware import train_precision

    return train_precision()


def resolve_compute(device: str, precision: str) -> Compute:
    """The :class:`Compute` for ``--device`` and ``--precision``; its reason is what the log says."""
    dev = resolve_device(device)
    used = resolve_precision(precision, dev)
    reason = ""
    if precision == "auto":
        where = "GPU" if dev.type == "cuda" else "CPU"
        lacks = "no native bf16" + (" (AVX512-BF16 or AMX)" if dev.type == "cpu" else "")
        reason = f"auto: this {where} has {'native bf16' if used == 'bf16' else lacks}"
    return Compute(dev, used, reason)
