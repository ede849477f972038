"""Reading and writing image files: clear errors, never a half-written file (see :mod:`emolens.io`)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from emolens.errors import EmolensError, ImageError, ImageTooLarge
from emolens.imagecheck import ImageLimits, ImageRefused, decode_checked
from emolens.io import write_bytes_atomic


def read_image(path: str | Path, limits: ImageLimits | None = None) -> np.ndarray:
    """A BGR uint8 image from a file, or an :class:`ImageError` saying why not.

    The file is checked before it is decoded (:func:`emolens.imagecheck.check_image`): at most
    ``limits.max_pixels`` pixels (default 40 M, as the web server), as many decoded bytes as that
    many pixels of 8-bit color, and at most ``limits.max_scans`` scans for a JPEG. JPEG, PNG, WebP
    and BMP are checked from their header; other formats OpenCV reads (TIFF, PNM...) after decoding.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"image not found: {path}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ImageError(f"cannot read {path}: {e.strerror or e}") from None
    if not data:
        raise ImageError(f"cannot read {path}: the file is empty")
    try:
        return decode_checked(data, limits or ImageLimits(), other_formats=True).image
    except ImageRefused as e:
        if e.status == 413:
            raise ImageTooLarge(f"cannot read {path}: {e.detail}") from None
        raise ImageError(f"cannot read {path}: not an image, or a corrupt or truncated one ({e.detail})") from None


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Encode by the file's suffix (.jpg, .png, ...) and write atomically."""
    path = Path(path)
    ok, enc = cv2.imencode(path.suffix or ".png", image)
    if not ok:
        raise EmolensError(f"cannot encode an image as {path.suffix!r}; use .jpg or .png")
    write_bytes_atomic(path, enc.tobytes())
