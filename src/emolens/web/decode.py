"""Bytes sent by a browser -> a BGR image, refusing what is not an image, too big, or cut short.

The size is read from the header before anything is decoded, so a small file that claims a
huge image costs nothing.
"""

from __future__ import annotations

import cv2
import numpy as np

from emolens.errors import EmolensError
from emolens.web.sniff import HEAD_BYTES, image_size, is_image, jpeg_complete, sniff

ACCEPTED = "JPEG, PNG, WebP or BMP"
VIDEOS = "MP4, MOV, AVI, MKV or WebM"


class BadImage(EmolensError):
    """An image that cannot be used, with the HTTP status that says why (413, 415 or 422)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def check_kind(kind: str | None) -> str:
    """``kind`` when it is an image format the server decodes; else BadImage 415."""
    if not is_image(kind):
        if kind:
            raise BadImage(415, f"the file is not a {ACCEPTED} image (its bytes show a {kind} video)")
        raise BadImage(
            415,
            f"the file is not a {ACCEPTED} image, nor a video ({VIDEOS}), which the server takes too: "
            "its bytes match no format the server knows",
        )
    assert kind is not None
    return kind


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise BadImage(
            413,
            f"the image is {width}x{height} = {width * height:,} pixels, more than the limit of {max_pixels:,}",
        )


def decode_image(data: bytes | bytearray, max_pixels: int) -> np.ndarray:
    """The BGR uint8 image in ``data``; BadImage 415 (not an image), 413 (more than
    ``max_pixels``) or 422 (empty, cut short, corrupt)."""
    if not data:
        raise BadImage(422, "the file is empty")
    kind = check_kind(sniff(data[:HEAD_BYTES]))
    size = image_size(data, kind)
    if size is None:
        raise BadImage(422, f"the {kind.upper()} header is cut short or corrupt")
    check_pixels(*size, max_pixels)
    if kind == "jpeg" and not jpeg_complete(data):
        raise BadImage(422, "the JPEG is cut short (truncated)")
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise BadImage(422, f"the {kind.upper()} image cannot be decoded: it is corrupt or truncated")
    return img
