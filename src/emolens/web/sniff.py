"""What a file is, from its first bytes (never its name), and an image's size from its header.

Pure functions on ``bytes``: :func:`sniff` names the format, :func:`image_size` reads the width
and height an image declares without decoding it, so that a small file claiming a huge image
is refused before any memory is spent on its pixels.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

Buffer = bytes | bytearray

IMAGE_KINDS = ("jpeg", "png", "webp", "bmp")
VIDEO_KINDS = ("mp4", "mov", "avi", "mkv")

HEAD_BYTES = 32
"""How many leading bytes :func:`sniff` needs to tell every kind apart."""

MEDIA_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "avi": "video/x-msvideo",
    "mkv": "video/x-matroska",
}

SUFFIXES = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "bmp": ".bmp"} | {k: f".{k}" for k in VIDEO_KINDS}

_PNG = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic): they carry the size
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STILL_BRANDS = {b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"}
# markers without a length field
_STANDALONE = {0x01, *range(0xD0, 0xD9)}


def sniff(head: Buffer) -> str | None:
    """The kind of file that starts with ``head`` (give at least :data:`HEAD_BYTES` bytes), or None.

    Images: ``jpeg``, ``png``, ``webp``, ``bmp``; videos: ``mp4`` (ISO base media: also 3gp, m4v),
    ``mov`` (QuickTime), ``avi``, ``mkv`` (Matroska, also WebM).
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(_PNG):
        return "png"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    if (
        head.startswith(b"BM")
        and len(head) >= 18
        and struct.unpack_from("<I", head, 14)[0] in (12, 40, 52, 56, 108, 124)
    ):
        return "bmp"
    if head[4:8] == b"ftyp":
        if head[8:12] in _STILL_BRANDS:
            return None  # HEIF/AVIF still images share the MP4 container
        return "mov" if head[8:12] == b"qt  " else "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "mkv"
    return None


def is_image(kind: str | None) -> bool:
    return kind in IMAGE_KINDS


def is_video(kind: str | None) -> bool:
    return kind in VIDEO_KINDS


def image_size(data: Buffer, kind: str | None = None) -> tuple[int, int] | None:
    """``(width, height)`` declared by the header of an image of :data:`IMAGE_KINDS`, or None when
    the header is missing, cut short or malformed (the file will not decode either)."""
    kind = kind or sniff(data[:HEAD_BYTES])
    try:
        if kind == "png":
            return _png_size(data)
        if kind == "jpeg":
            return _jpeg_size(data)
        if kind == "webp":
            return _webp_size(data)
        if kind == "bmp":
            return _bmp_size(data)
    except struct.error:  # the header ends early
        return None
    return None


def jpeg_complete(data: Buffer) -> bool:
    """True when a JPEG has its end-of-image marker after its first scan (False: cut short).

    In the entropy-coded data every 0xFF byte is stuffed or a restart marker, so an ``FF D9``
    after the start of scan can only be the end of the image.
    """
    for marker, at in _jpeg_markers(data):
        if marker == 0xD9:
            return False
        if marker == 0xDA:
            return data.find(b"\xff\xd9", at) != -1
    return False


def _jpeg_markers(data: Buffer) -> Iterator[tuple[int, int]]:
    """The markers of a JPEG after its start-of-image, each with the offset of its segment's
    length field; stops at a malformed byte, at the end of the data, or at the start of scan
    (after which come entropy-coded data, not segments)."""
    i, n = 2, len(data)
    while i < n:
        if data[i] != 0xFF:
            return  # not at a marker: a malformed file
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            return
        marker = data[i]
        i += 1
        yield marker, i
        if marker in _STANDALONE:
            continue
        if marker in (0xD9, 0xDA) or i + 2 > n:
            return
        (length,) = struct.unpack_from(">H", data, i)
        if length < 2:
            return
        i += length


def _png_size(data: Buffer) -> tuple[int, int] | None:
    if data[12:16] != b"IHDR":
        return None
    w, h = struct.unpack_from(">II", data, 16)
    return w, h


def _jpeg_size(data: Buffer) -> tuple[int, int] | None:
    for marker, at in _jpeg_markers(data):
        if marker in (0xD9, 0xDA):  # end of image, or start of scan before any frame header
            return None
        if marker in _SOF:
            h, w = struct.unpack_from(">HH", data, at + 3)
            return w, h
    return None


def _webp_size(data: Buffer) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":  # extended: 24-bit canvas width-1 and height-1
        b = data[24:30]
        if len(b) < 6:
            return None
        return 1 + int.from_bytes(b[0:3], "little"), 1 + int.from_bytes(b[3:6], "little")
    if chunk == b"VP8 ":  # lossy: a key frame's start code, then 14-bit width and height
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        w, h = struct.unpack_from("<HH", data, 26)
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L":  # lossless: signature byte, then 14-bit width-1 and height-1
        if data[20:21] != b"\x2f":
            return None
        (bits,) = struct.unpack_from("<I", data, 21)
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


def _bmp_size(data: Buffer) -> tuple[int, int] | None:
    (header,) = struct.unpack_from("<I", data, 14)
    if header == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        w, h = struct.unpack_from("<HH", data, 18)
        return w, h
    w, h = struct.unpack_from("<ii", data, 18)
    return abs(w), abs(h)  # a negative height means top-down rows
