"""Reading images and writing outputs safely: clear errors, never a half-written file."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from emolens.errors import EmolensError, ImageError


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


def check_writable(path: str | Path) -> None:
    """Raise an :class:`EmolensError` now if ``path`` could not be written later."""
    path = Path(path)
    if not path.parent.is_dir():
        raise EmolensError(f"cannot write {path}: folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise EmolensError(f"cannot write {path}: folder {path.parent} is not writable")


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and move it into place."""
    path = Path(path)
    check_writable(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    # os.open with 0o666 lets the umask decide the permissions, as for any new file
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Encode by the file's suffix (.jpg, .png, ...) and write atomically."""
    path = Path(path)
    ok, enc = cv2.imencode(path.suffix or ".png", image)
    if not ok:
        raise EmolensError(f"cannot encode an image as {path.suffix!r}; use .jpg or .png")
    write_bytes_atomic(path, enc.tobytes())


def write_json(path: str | Path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2) + "\n").encode())
