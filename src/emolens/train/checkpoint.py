"""Save and restore the whole training state, so a run resumes where it stopped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from emolens.io import AtomicFile

LAST = "last.pt"
BEST = "best.pt"


def save_atomic(obj: dict[str, Any], path: Path) -> None:
    """Write ``obj`` with ``torch.save`` to a temporary file, then move it into place."""
    with AtomicFile(path, mkdir=True) as tmp:
        torch.save(obj, tmp.path)


def load(path: Path) -> dict[str, Any]:
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    return state
