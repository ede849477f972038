"""Reading and writing image files: clear errors, never a half-written file (see :mod:`emolens.io`)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from emolens.errors import EmolensError, ImageError, ImageTooLarge
from emolens.filekind import is_text_file, sound_format
from emolens.imagecheck import HEAD_BYTES, VIDEO_KINDS, Decoded, ImageLimits, ImageRefused, decode_checked, sniff
from emolens.io import write_bytes_atomic


def check_image_file(path: str | Path) -> None:
    """The checks :func:`read_image` makes before it reads the whole file, from its first bytes only:
    an :class:`ImageError` for a missing file, a folder, an empty file, a video or a sound file. A
    run over many images calls this on each first, so that such an input stops it before any work."""
    path = Path(path)
    if path.is_dir():
        raise ImageError(f"{path} is a folder, not an image")
    if not path.is_file():
        raise ImageError(f"image not found: {path}")
    try:
        with path.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError as e:
        raise ImageError(f"cannot read {path}: {e.strerror or e}") from None
    if not head:
        raise ImageError(f"cannot read {path}: the file is empty")
    other = _other_kind(head)
    if other is not None:
        raise ImageError(f"{path} is {other}, not an image")


def read_image(path: str | Path, limits: ImageLimits | None = None) -> np.ndarray:
    """A BGR uint8 image from a file, or an :class:`ImageError` saying why not.

    The file is checked before it is decoded (:func:`check_image_file`, then
    :func:`emolens.imagecheck.check_image`): at most ``limits.max_pixels`` pixels (default 40 M, as
    the web server), as many decoded bytes as that many pixels of 8-bit color, and at most
    ``limits.max_scans`` scans for a JPEG. JPEG, PNG, WebP and BMP are checked from their header;
    other formats OpenCV reads (TIFF, PNM...) after decoding.
    """
    return decode_image_file(path, limits).image


def decode_image_file(
    path: str | Path, limits: ImageLimits | None = None, max_pixels_out: int | None = None
) -> Decoded:
    """:func:`read_image`, decoded at most ``max_pixels_out`` large (a JPEG reduced by libjpeg as it is
    decoded, other formats shrunk right after; None: full size), with the full image's size."""
    path = Path(path)
    check_image_file(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ImageError(f"cannot read {path}: {e.strerror or e}") from None
    if not data:  # emptied since it was checked
        raise ImageError(f"cannot read {path}: the file is empty")
    try:
        return decode_checked(data, limits or ImageLimits(), max_pixels_out=max_pixels_out, other_formats=True)
    except ImageRefused as e:
        if e.status == 413:
            raise ImageTooLarge(f"cannot read {path}: {e.detail}") from None
        raise ImageError(_not_an_image(path, data, e.detail)) from None


def _other_kind(head: bytes) -> str | None:
    """What a file starting with ``head`` is when it is a video or a sound file ("a video (mp4)"), else None."""
    kind = sniff(head)
    if kind in VIDEO_KINDS:
        return f"a video ({kind})"
    sound = sound_format(head)
    return None if sound is None else f"a sound file ({sound})"


def _not_an_image(path: Path, data: bytes, detail: str) -> str:
    """Why ``data`` did not decode as an image (videos and sound were told by :func:`check_image_file`):
    text, or a damaged file."""
    if is_text_file(path):
        return f"{path} is a text file, not an image"
    if sniff(data[:HEAD_BYTES]) is None:  # no format known here: OpenCV could not read it either
        return f"cannot read {path}: not an image, or a corrupt or truncated one"
    return f"cannot read {path}: not an image, or a corrupt or truncated one ({detail})"


def encode_image(image: np.ndarray, suffix: str) -> bytes:
    """``image`` encoded as a file of type ``suffix`` (.jpg, .png, ...; empty: PNG)."""
    ok, enc = cv2.imencode(suffix or ".png", image)
    if not ok:
        raise EmolensError(f"cannot encode an image as {suffix!r}; use .jpg or .png")
    return bytes(enc.tobytes())


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Encode by the file's suffix (.jpg, .png, ...) and write atomically."""
    path = Path(path)
    write_bytes_atomic(path, encode_image(image, path.suffix))
