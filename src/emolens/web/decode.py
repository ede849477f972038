"""Bytes sent by a browser -> a BGR image, refusing what is not an image, too big, too costly or cut short.

The checks are :mod:`emolens.imagecheck`'s, read from the header before anything is decoded, so
a small file that claims a huge image (or a 16-bit one, or a JPEG of thousands of scans) costs
nothing. Images are decoded at the size the analysis needs: at most :data:`ANALYSIS_PIXELS`
(a JPEG is decoded reduced by libjpeg, another format is shrunk right after decoding).

Decodes run under :data:`DECODES`, a semaphore counted in bytes that the REST path
(:func:`emolens.web.images.analyze_image`, which holds it through the analysis too) and the live
frames (:func:`decode_image`) share: each holds the memory it may take, and waits while the total
would pass :data:`DECODE_BUDGET`, so N large images at once cannot take N times the memory.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from emolens.errors import EmolensError
from emolens.imagecheck import (
    ANALYSIS_PIXELS,
    HEAD_BYTES,
    Decoded,
    ImageHeader,
    ImageLimits,
    ImageRefused,
    check_image,
    decode_checked,
    is_image,
    sniff,
)
from emolens.web.sniff import is_sound

ACCEPTED = "JPEG, PNG, WebP or BMP"
VIDEOS = "MP4, MOV, AVI, MKV or WebM"

ANALYSIS_BYTES_PER_PIXEL = 32
"""Memory the Haar detector takes per pixel of the image it scans (measured: about 28)."""

DECODE_BUDGET = 768 * 1024 * 1024
"""Bytes the decodes (and image analyses) running at once may hold together: two of the largest
images the default limits let through (each about 370 MB: 2 x 120 MB decoding, 134 MB analysis)."""

DECODE_WAIT_S = 30.0
"""How long a decode waits for room in the budget before it is answered 503."""


class BadImage(EmolensError):
    """An image that cannot be used, with the HTTP status that says why (413, 415, 422, or 503 busy)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class DecodeGate:
    """A semaphore counted in bytes: each holder states what it may take, and waits (up to
    ``wait_s``, then :class:`BadImage` 503) while the total would pass ``budget``. A holder larger
    than the whole budget runs alone. Thread-safe."""

    def __init__(self, budget: int, wait_s: float = DECODE_WAIT_S) -> None:
        self.budget = budget
        self.wait_s = wait_s
        self._used = 0
        self._holders = 0
        self._cond = threading.Condition()

    @property
    def used(self) -> int:
        """Bytes held now."""
        with self._cond:
            return self._used

    @property
    def holders(self) -> int:
        """Decodes holding a part of the budget now."""
        with self._cond:
            return self._holders

    @contextmanager
    def hold(self, nbytes: int) -> Iterator[None]:
        with self._cond:
            if not self._cond.wait_for(lambda: self._used == 0 or self._used + nbytes <= self.budget, self.wait_s):
                raise BadImage(503, "the server is busy decoding other large images; try again in a moment")
            self._used += nbytes
            self._holders += 1
        try:
            yield
        finally:
            with self._cond:
                self._used -= nbytes
                self._holders -= 1
                self._cond.notify_all()


DECODES = DecodeGate(DECODE_BUDGET)
"""The one gate of this process, shared by every app, the REST path and the live path."""


def check_kind(kind: str | None) -> str:
    """``kind`` when it is an image format the server decodes; else BadImage 415."""
    if not is_image(kind):
        if is_sound(kind):
            raise BadImage(415, f"the file is not a {ACCEPTED} image (its bytes show a {kind} recording)")
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


def check_upload(data: bytes | bytearray, max_pixels: int) -> ImageHeader:
    """The header of an uploaded image once it passes every check (:func:`emolens.imagecheck.check_image`
    with ``max_pixels`` and the decoded bytes and JPEG scans that go with it); else BadImage 415
    (not an image), 413 (too many pixels or decoded bytes) or 422 (empty, cut short, corrupt, too
    many scans)."""
    if not data:
        raise BadImage(422, "the file is empty")
    check_kind(sniff(data[:HEAD_BYTES]))
    try:
        return check_image(data, ImageLimits(max_pixels))
    except ImageRefused as e:
        raise BadImage(e.status, e.detail) from None


def decode_cost(header: ImageHeader, max_pixels_out: int = ANALYSIS_PIXELS) -> int:
    """The bytes the decode of ``header``'s image, then the analysis of it, may take (for :data:`DECODES`)."""
    return 2 * header.decoded_bytes + ANALYSIS_BYTES_PER_PIXEL * min(header.pixels, max_pixels_out)


def decode_checked_upload(
    data: bytes | bytearray, header: ImageHeader, max_pixels: int, max_pixels_out: int = ANALYSIS_PIXELS
) -> Decoded:
    """Decode an upload that :func:`check_upload` passed (its ``header``), at most ``max_pixels_out``
    large; the caller holds :data:`DECODES`. BadImage 422 when it does not decode."""
    try:
        return decode_checked(data, ImageLimits(max_pixels), max_pixels_out=max_pixels_out, checked=header)
    except ImageRefused as e:
        raise BadImage(e.status, e.detail) from None


def decode_image(data: bytes | bytearray, max_pixels: int, max_pixels_out: int = ANALYSIS_PIXELS) -> np.ndarray:
    """The BGR uint8 image in ``data``, at most ``max_pixels_out`` large (a larger image is decoded
    reduced), decoded under :data:`DECODES`; BadImage 415 (not an image), 413 (more than
    ``max_pixels``, or than the decoded bytes of so many pixels of 8-bit color), 422 (empty, cut
    short, corrupt, a JPEG of more than 100 scans) or 503 (busy)."""
    header = check_upload(data, max_pixels)
    with DECODES.hold(decode_cost(header, max_pixels_out)):
        return decode_checked_upload(data, header, max_pixels, max_pixels_out).image
