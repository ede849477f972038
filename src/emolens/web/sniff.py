"""What a file is, from its first bytes (never its name), and an image's size from its header.

The functions live in :mod:`emolens.imagecheck`, which the command line shares; this module keeps
the names the web app has always imported from here. :func:`sniff` names the format,
:func:`image_size` reads the width and height an image declares without decoding it, so that a
small file claiming a huge image is refused before any memory is spent on its pixels.
"""

from __future__ import annotations

from emolens.filekind import sound_format
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
    "is_sound",
    "sniff_upload",
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


SOUND_KINDS = ("wav", "flac", "ogg", "mp3", "aiff", "m4a")
"""The recordings :func:`sniff_upload` names (see :func:`emolens.filekind.sound_format`)."""


def sniff_upload(head: Buffer) -> str | None:
    """:func:`sniff`, or else the sound format of a recording (``wav``, ``flac``...; :data:`SOUND_KINDS`)."""
    return sniff(head) or sound_format(bytes(head))


def is_sound(kind: str | None) -> bool:
    return kind in SOUND_KINDS
