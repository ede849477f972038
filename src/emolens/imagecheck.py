"""Untrusted image bytes: what they are, what decoding them would cost, and the decode itself.

Everything here reads the bytes of a file, never its name, and decides before any pixel is
decoded whether the image is worth decoding. The web app's uploads and live frames
(:mod:`emolens.web.decode`) and the command line's images (:func:`emolens.imageio.read_image`)
go through the same checks:

* :func:`sniff` names the format from the first bytes; :func:`read_header` reads the size, the
  channels and the bit depth an image declares (JPEG, PNG, WebP, BMP);
* :class:`ImageLimits` says how big an image may be: ``max_pixels`` (width x height) and the
  bytes its samples take once decoded (``max_bytes``, by default those of a ``max_pixels`` image
  of 8-bit color: a 16-bit RGBA PNG takes 8 bytes a pixel, not 3), and how many scans a JPEG may
  have (``max_scans``: every scan of a progressive JPEG is a pass over the whole image, so a small
  file with thousands of them costs minutes of CPU; libjpeg's own progressive files have about 10);
* :func:`check_image` applies them, raising :class:`ImageRefused` (an
  :class:`~emolens.errors.ImageError` carrying the HTTP status that fits: 413, 415 or 422);
* :func:`decode_checked` checks, then decodes, at a reduced size when asked: JPEGs are decoded
  by libjpeg at 1/2, 1/4 or 1/8 of their size (``IMREAD_REDUCED_COLOR_*``), other formats are
  shrunk right after decoding, so the full-size pixels are freed at once.

Only the decoding imports NumPy and OpenCV: the checks are light.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from emolens.errors import EmolensError, ImageError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "ANALYSIS_PIXELS",
    "HEAD_BYTES",
    "IMAGE_KINDS",
    "MAX_PIXELS",
    "MAX_SCANS",
    "MEDIA_TYPES",
    "SUFFIXES",
    "VIDEO_KINDS",
    "Decoded",
    "ImageHeader",
    "ImageLimits",
    "ImageRefused",
    "check_image",
    "decode_checked",
    "image_size",
    "is_image",
    "is_video",
    "jpeg_complete",
    "jpeg_scans",
    "read_header",
    "shrink_to",
    "sniff",
]

Buffer = bytes | bytearray

IMAGE_KINDS = ("jpeg", "png", "webp", "bmp")
VIDEO_KINDS = ("mp4", "mov", "avi", "mkv")
ACCEPTED = "JPEG, PNG, WebP or BMP"

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

ANALYSIS_PIXELS = 2048 * 2048
"""Images are analysed at most this large (4.2 M pixels, a little more than 2560x1440), by the web
server and ``emolens image`` alike: larger ones are decoded reduced, and face boxes are given back
in the full image's pixels."""

MAX_PIXELS = 40_000_000
"""The default largest image, width x height (the web server's default too)."""

MAX_SCANS = 100
"""The default most scans of a JPEG (a progressive JPEG from libjpeg has about 10; a baseline one 1)."""

BYTES_PER_PIXEL = 3
"""Decoded bytes allowed per pixel of ``max_pixels`` when ``max_bytes`` is not given: 8-bit color."""

_PNG = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic): they carry the size
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_PROGRESSIVE = {0xC2, 0xC6, 0xCA, 0xCE}
_STILL_BRANDS = {b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"}
# markers without a length field
_STANDALONE = {0x01, *range(0xD0, 0xD9)}
# a marker inside entropy-coded data: 0xFF followed by neither a stuffed 0x00, nor a restart
# marker (RST0-7), nor another fill byte 0xFF
_ENTROPY_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
# PNG colour type -> channels once decoded (a palette expands to RGB)
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}


# ---------------------------------------------------------------------- what the bytes are


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


@dataclass(frozen=True)
class ImageHeader:
    """What an image's header declares: its size, and the samples decoding it produces.

    ``channels``: samples per pixel once decoded (gray 1, gray+alpha 2, color 3, with alpha or
    CMYK 4; a palette counts as color). ``bits``: bits per sample (8, or 12 and 16 for deep
    images). ``progressive``: a progressive JPEG (its decoder keeps every DCT coefficient).
    """

    kind: str
    width: int
    height: int
    channels: int = 3
    bits: int = 8
    progressive: bool = False

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def decoded_bytes(self) -> int:
        """The bytes of the decoded samples: pixels x channels x bytes per sample."""
        return self.pixels * self.channels * ((self.bits + 7) // 8)

    def describe(self) -> str:
        """E.g. ``6000x6000 with 4 channels of 16 bits``."""
        return (
            f"{self.width}x{self.height} with {self.channels} channel{'s' * (self.channels != 1)} of {self.bits} bits"
        )


def image_size(data: Buffer, kind: str | None = None) -> tuple[int, int] | None:
    """``(width, height)`` declared by the header of an image of :data:`IMAGE_KINDS`, or None when
    the header is missing, cut short or malformed (the file will not decode either)."""
    header = read_header(data, kind)
    return None if header is None else (header.width, header.height)


def read_header(data: Buffer, kind: str | None = None) -> ImageHeader | None:
    """The :class:`ImageHeader` of an image of :data:`IMAGE_KINDS`, or None when the header is
    missing, cut short or malformed (the file will not decode either), or the kind is another."""
    kind = kind or sniff(data[:HEAD_BYTES])
    try:
        if kind == "png":
            return _png_header(data)
        if kind == "jpeg":
            return _jpeg_header(data)
        if kind == "webp":
            return _webp_header(data)
        if kind == "bmp":
            return _bmp_header(data)
    except (struct.error, IndexError):  # the header ends early
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


def jpeg_scans(data: Buffer, stop_after: int | None = None) -> int:
    """The number of scans (start-of-scan markers) of a JPEG, as its decoder will see them.

    Segments are skipped by their length (a thumbnail or a comment holding ``FF DA`` bytes does
    not count), and so are the segments between the scans of a progressive JPEG. ``stop_after``:
    stop counting once the count passes it (the answer is then ``stop_after + 1``), so a file of
    thousands of scans costs no more than one of the limit.
    """
    at = -1
    for marker, offset in _jpeg_markers(data):
        if marker == 0xD9:
            return 0
        if marker == 0xDA:
            at = offset
            break
    if at < 0:
        return 0
    n = len(data)
    count = 0
    while True:  # ``at``: the offset of the length field of a start-of-scan segment
        count += 1
        if (stop_after is not None and count > stop_after) or at + 2 > n:
            return count
        (length,) = struct.unpack_from(">H", data, at)
        if length < 2:
            return count
        pos = at + length
        while True:  # through the entropy-coded data and any segments up to the next scan
            found = _ENTROPY_MARKER.search(data, pos)
            if found is None:
                return count
            marker = data[found.start() + 1]
            at = found.start() + 2
            if marker == 0xDA:
                break
            if marker == 0xD9:
                return count
            if marker in _STANDALONE:
                pos = at
                continue
            if at + 2 > n:
                return count
            (length,) = struct.unpack_from(">H", data, at)
            if length < 2:
                return count
            pos = at + length


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


def _png_header(data: Buffer) -> ImageHeader | None:
    if data[12:16] != b"IHDR":
        return None
    w, h, depth, colour = struct.unpack_from(">IIBB", data, 16)
    channels = _PNG_CHANNELS.get(colour)
    if channels is None or depth not in (1, 2, 4, 8, 16):
        return None
    return ImageHeader("png", w, h, channels, 16 if depth == 16 else 8)


def _jpeg_header(data: Buffer) -> ImageHeader | None:
    for marker, at in _jpeg_markers(data):
        if marker in (0xD9, 0xDA):  # end of image, or start of scan before any frame header
            return None
        if marker in _SOF:
            precision, h, w, components = struct.unpack_from(">BHHB", data, at + 2)
            return ImageHeader("jpeg", w, h, components, precision, marker in _PROGRESSIVE)
    return None


def _webp_header(data: Buffer) -> ImageHeader | None:
    chunk = data[12:16]
    if chunk == b"VP8X":  # extended: flags (alpha 0x10), then 24-bit canvas width-1 and height-1
        b = data[24:30]
        if len(b) < 6:
            return None
        alpha = bool(data[20] & 0x10)
        w, h = 1 + int.from_bytes(b[0:3], "little"), 1 + int.from_bytes(b[3:6], "little")
        return ImageHeader("webp", w, h, 4 if alpha else 3)
    if chunk == b"VP8 ":  # lossy: a key frame's start code, then 14-bit width and height
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        w, h = struct.unpack_from("<HH", data, 26)
        return ImageHeader("webp", w & 0x3FFF, h & 0x3FFF)
    if chunk == b"VP8L":  # lossless: signature byte, then 14-bit width-1 and height-1, alpha bit
        if data[20:21] != b"\x2f":
            return None
        (bits,) = struct.unpack_from("<I", data, 21)
        alpha = bool((bits >> 28) & 1)
        return ImageHeader("webp", 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF), 4 if alpha else 3)
    return None


def _bmp_header(data: Buffer) -> ImageHeader | None:
    (header,) = struct.unpack_from("<I", data, 14)
    if header == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes, then planes and bits per pixel
        w, h = struct.unpack_from("<HH", data, 18)
        at = 24
    else:
        w, h = struct.unpack_from("<ii", data, 18)
        w, h, at = abs(w), abs(h), 28  # a negative height means top-down rows
    bpp = struct.unpack_from("<H", data, at)[0] if len(data) >= at + 2 else 24
    return ImageHeader("bmp", w, h, 4 if bpp == 32 else 3)  # palettes and 16 bits decode to 8-bit color


# ---------------------------------------------------------------------- limits


class ImageRefused(ImageError):
    """An image that is not decoded, and why. ``status`` is the HTTP status that fits: 413 (over a
    limit), 415 (not an image of a known format) or 422 (empty, cut short, corrupt, too costly)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class ImageLimits:
    """How big an untrusted image may be. ``max_pixels``: width x height. ``max_bytes``: bytes of its
    decoded samples (None: ``max_pixels`` x 3, a ``max_pixels`` image of 8-bit color).
    ``max_scans``: scans of a JPEG."""

    max_pixels: int = MAX_PIXELS
    max_bytes: int | None = None
    max_scans: int = MAX_SCANS

    def __post_init__(self) -> None:
        if self.max_pixels < 1:
            raise EmolensError(f"the pixel limit must be 1 or more, got {self.max_pixels}")
        if self.max_bytes is not None and self.max_bytes < 1:
            raise EmolensError(f"the decoded-bytes limit must be 1 or more, got {self.max_bytes}")
        if self.max_scans < 1:
            raise EmolensError(f"the JPEG scan limit must be 1 or more, got {self.max_scans}")

    @property
    def bytes_limit(self) -> int:
        return self.max_bytes if self.max_bytes is not None else self.max_pixels * BYTES_PER_PIXEL

    def check_size(self, header: ImageHeader) -> None:
        """ImageRefused 413 when ``header`` declares more pixels, or more decoded bytes, than allowed."""
        if header.pixels > self.max_pixels:
            raise ImageRefused(
                413,
                f"the image is {header.width}x{header.height} = {header.pixels:,} pixels, "
                f"more than the limit of {self.max_pixels:,}",
            )
        if header.decoded_bytes > self.bytes_limit:
            basis = f" ({self.max_pixels:,} pixels of 8-bit color)" if self.max_bytes is None else ""
            raise ImageRefused(
                413,
                f"the image is {header.describe()}: {header.decoded_bytes:,} bytes once decoded, "
                f"more than the limit of {self.bytes_limit:,}{basis}",
            )


def check_image(data: Buffer, limits: ImageLimits) -> ImageHeader:
    """The header of the image in ``data`` once it passes every check; else :class:`ImageRefused`:
    415 (not a JPEG, PNG, WebP or BMP), 422 (empty, header cut short or corrupt, a JPEG cut short
    or with more than ``max_scans`` scans), 413 (more pixels or decoded bytes than allowed)."""
    if not data:
        raise ImageRefused(422, "the file is empty")
    kind = sniff(data[:HEAD_BYTES])
    if kind is None or not is_image(kind):
        shown = f" (its bytes show a {kind} video)" if kind else ""
        raise ImageRefused(415, f"the file is not a {ACCEPTED} image{shown}")
    header = read_header(data, kind)
    if header is None:
        raise ImageRefused(422, f"the {kind.upper()} header is cut short or corrupt")
    limits.check_size(header)
    if kind == "jpeg":
        if not jpeg_complete(data):
            raise ImageRefused(422, "the JPEG is cut short (truncated)")
        scans = jpeg_scans(data, stop_after=limits.max_scans)
        if scans > limits.max_scans:
            raise ImageRefused(
                422,
                f"the JPEG has more than {limits.max_scans} scans (a progressive JPEG has about 10): "
                "each scan is a pass over the whole image, so decoding it would take too long",
            )
    return header


# ---------------------------------------------------------------------- decoding


@dataclass(frozen=True)
class Decoded:
    """A decoded BGR uint8 ``image``, and the ``width`` and ``height`` of the full-size image (larger
    than the image's own when it was decoded reduced). ``header``: None for formats without one."""

    image: np.ndarray
    width: int
    height: int
    header: ImageHeader | None

    @property
    def scale(self) -> tuple[float, float]:
        """Factors from the image's pixels to the full-size image's (1, 1 when not reduced)."""
        return self.width / self.image.shape[1], self.height / self.image.shape[0]


def shrink_to(image: np.ndarray, max_pixels: int) -> np.ndarray:
    """``image`` shrunk (INTER_AREA, aspect kept) to at most ``max_pixels``; itself when it is not larger."""
    import cv2

    h, w = image.shape[:2]
    if w * h <= max_pixels:
        return image
    k = math.sqrt(max_pixels / (w * h))
    size = (max(1, int(w * k)), max(1, int(h * k)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _read_flag(header: ImageHeader | None, max_pixels_out: int | None) -> int:
    """The imdecode flag: a JPEG larger than ``max_pixels_out`` is decoded by libjpeg at the
    smallest of 1/8, 1/4, 1/2 of its size that still has ``max_pixels_out`` pixels."""
    import cv2

    if header is None or header.kind != "jpeg" or max_pixels_out is None or header.pixels <= max_pixels_out:
        return cv2.IMREAD_COLOR
    reduced = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))
    for k, flag in reduced:
        if math.ceil(header.width / k) * math.ceil(header.height / k) >= max_pixels_out:
            return flag
    return cv2.IMREAD_COLOR


def decode_checked(
    data: Buffer,
    limits: ImageLimits,
    *,
    max_pixels_out: int | None = None,
    other_formats: bool = False,
    checked: ImageHeader | None = None,
) -> Decoded:
    """Check ``data`` with :func:`check_image`, then decode it to BGR uint8.

    ``max_pixels_out``: return the image shrunk to at most this many pixels (decoded reduced by
    libjpeg for a JPEG, shrunk right after decoding otherwise); the :class:`Decoded` keeps the
    full size. ``other_formats``: also decode what OpenCV reads beyond JPEG, PNG, WebP and BMP
    (TIFF, PNM...): they have no header read here, so their pixel limit is checked after decoding.
    ``checked``: the header :func:`check_image` already gave for these bytes (the checks are not
    run again). Raises :class:`ImageRefused`.
    """
    import cv2
    import numpy as np

    header: ImageHeader | None
    kind = sniff(data[:HEAD_BYTES]) if data else None
    if checked is not None:
        header = checked
    elif other_formats and data and kind is None:
        header = None
    else:
        header = check_image(data, limits)
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        image = cv2.imdecode(buf, _read_flag(header, max_pixels_out))
    except cv2.error:  # OpenCV refuses some malformed headers with an exception rather than None
        image = None
    if image is None or image.size == 0:
        what = f"the {header.kind.upper()} image" if header is not None else "the file"
        raise ImageRefused(422, f"{what} cannot be decoded: it is corrupt or truncated")
    if header is None:  # a format without a header read here: check what came out
        full = ImageHeader("image", image.shape[1], image.shape[0])
        try:
            limits.check_size(full)
        except ImageRefused:
            del image
            raise
        width, height = full.width, full.height
    else:
        width, height = header.width, header.height
        if (image.shape[1] >= image.shape[0]) != (width >= height):  # turned by its EXIF orientation
            width, height = height, width
    if max_pixels_out is not None:
        image = shrink_to(image, max_pixels_out)
    if header is None or image.shape[1] * image.shape[0] >= width * height:
        width, height = image.shape[1], image.shape[0]  # not reduced: its own size (exact)
    return Decoded(image, width, height, header)
