"""What a file is, from its first bytes (never its name), and an image's size from its header.

The functions live in :mod:`emolens.imagecheck`, which the command line shares; this module keeps
the names the web app has always imported from here. :func:`sniff` names the format,
:func:`image_size` reads the width and height an image declares without decoding it, so that a
small file claiming a huge image is refused before any memory is spent on its pixels.
"""

from __future__ import annotations

from emolens.imagecheck import (
    HEAD_BYTES,
    IMAGE_KINDS,
    MEDIA_TYPES,
    SUFFIXES,
    VIDEO_KINDS,
    Buffer,
    image_size,
    is_image,
    is_video,
    jpeg_complete,
    sniff,
)

__all__ = [
    "HEAD_BYTES",
    "IMAGE_KINDS",
    "MEDIA_TYPES",
    "SUFFIXES",
    "VIDEO_KINDS",
    "Buffer",
    "image_size",
    "is_image",
    "is_video",
    "jpeg_complete",
    "sniff",
]
