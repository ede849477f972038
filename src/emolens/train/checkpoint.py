"""Save and restore the whole training state, so a run resumes where it stopped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from emolens.errors import ModelError
from emolens.io import AtomicFile

LAST = "last.pt"
BEST = "best.pt"


def save_atomic(obj: dict[str, Any], path: Path) -> None:
    """Write ``obj`` with ``torch.save`` to a temporary file, then move it into place."""
    with AtomicFile(path, mkdir=True) as tmp:
        torch.save(obj, tmp.path)


def load(path: Path) -> dict[str, Any]:
    """The state saved by :func:`save_atomic`; a file that is not one is a :class:`ModelError`.

    Loaded with ``weights_only=True``: tensors, arrays and plain values only, so a checkpoint from
    elsewhere cannot run code when it is read.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises what the unpickler or the zip reader raised: EOFError, UnpicklingError, ...
        why = type(e).__name__ + (f": {str(e).strip().splitlines()[0]}" if str(e).strip() else "")
        raise ModelError(f"cannot read {path}: not an emolens checkpoint ({why[:200]})") from None
    if not isinstance(state, dict):
        raise ModelError(f"{path} is not an emolens checkpoint (it holds a {type(state).__name__}, not a dict)")
    return state
