"""Reading and writing image files: clear errors, never a half-written file (see :mod:`emolens.io`)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from emolens.errors import EmolensError, ImageError
from emolens.io import write_bytes_atomic


def read_image(path: str | Path) -> np.ndarray:
    """A BGR uint8 image from a file, or an :class:`ImageError` saying why not."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"image not found: {path}")
    buf = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if img is None:
        raise ImageError(f"cannot read {path}: not an image, or a corrupt or truncated one")
    return img


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Encode by the file's suffix (.jpg, .png, ...) and write atomically."""
    path = Path(path)
    ok, enc = cv2.imencode(path.suffix or ".png", image)
    if not ok:
        raise EmolensError(f"cannot encode an image as {path.suffix!r}; use .jpg or .png")
    write_bytes_atomic(path, enc.tobytes())
