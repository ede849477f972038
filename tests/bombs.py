"""Decode attacks of issue 11, made with OpenCV, PyAV and zlib: small files that are costly to decode.

Shared by the regression tests and ``benchmarks/attacks.py``.
"""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np


def png16_rgba(width: int, height: int) -> bytes:
    """A PNG of 16-bit RGBA samples (8 bytes a pixel once decoded), all black: tiny on disk."""
    return zero_png(width, height, depth=16, colour=6)


def _jpeg_parts(data: bytes) -> list[tuple[int, int, int]]:
    """(start, end, marker) of each segment of a JPEG after its SOI; a scan's part runs to the end
    of its entropy-coded data."""
    parts, i = [], 2
    while i < len(data):
        assert data[i] == 0xFF, i
        marker = data[i + 1]
        if marker == 0xD9:
            parts.append((i, i + 2, marker))
            break
        (length,) = struct.unpack_from(">H", data, i + 2)
        end = i + 2 + length
        if marker == 0xDA:
            while True:
                end = data.index(b"\xff", end)
                if data[end + 1] == 0 or 0xD0 <= data[end + 1] <= 0xD7:
                    end += 2
                    continue
                break
        parts.append((i, end, marker))
        i = end
    return parts


def progressive_scan_bomb(width: int, height: int, repeats: int) -> bytes:
    """A progressive JPEG (OpenCV's encoder) whose last scan is repeated ``repeats`` more times.

    Each repeated scan is a few bytes (a flat image refines to nothing) but makes libjpeg pass
    over every block of the image once more: the decode time grows with the file.
    """
    ok, enc = cv2.imencode(".jpg", np.zeros((height, width, 3), np.uint8), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok
    data = enc.tobytes()
    start, end = [(s, e) for s, e, m in _jpeg_parts(data) if m == 0xDA][-1]
    return data[:end] + data[start:end] * repeats + data[end:]


def with_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    """``jpeg`` with one more segment (e.g. a COM, 0xFE) right after its SOI."""
    return jpeg[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def gray_png(width: int, height: int) -> bytes:
    """A real, valid 8-bit gray PNG of ``width`` x ``height`` black pixels (see :func:`zero_png`)."""
    return zero_png(width, height, depth=8, colour=0)


def zero_png(width: int, height: int, depth: int = 8, colour: int = 0) -> bytes:
    """A real, valid PNG of ``width`` x ``height`` black pixels (``colour`` 0: gray, 2: RGB, 6: RGBA;
    ``depth`` 8 or 16 bits a sample), made in a moment whatever its size.

    Its pixel data (a filter byte and zeros, a row) is deflated once for a block of rows, ended by
    a full flush (byte-aligned, nothing refers back past it), and that piece is repeated: a
    30000x30000 image is about 1 MB, never the 900 MB of its pixels.
    """

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    channels = {0: 1, 2: 3, 6: 4}[colour]
    row = 1 + width * channels * depth // 8
    rows = max(d for d in range(1, min(height, max(1, 4_000_000 // row)) + 1) if height % d == 0)
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = z.compress(bytes(row * rows)) + z.flush(zlib.Z_FULL_FLUSH)
    adler = (((row * height) % 65521) << 16) | 1  # the Adler-32 of that many zero bytes
    idat = b"\x78\xda" + piece * (height // rows) + b"\x03\x00" + struct.pack(">I", adler)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def small_header_video(
    path: Path, header: int, big: int, small_frames: int = 3, big_frames: int = 3, gray: bool = False
) -> Path:
    """A video whose container announces ``header`` x ``header`` frames, then carries frames of
    ``big`` x ``big``: an MJPEG stream (``.avi``, ``.mkv``; each frame is a JPEG of its own size,
    gray ones with ``gray``, which take a third of the memory to make) or two H.264 streams joined
    (``.mp4``: the second one's size comes in its own SPS)."""
    import av

    mjpeg = path.suffix != ".mp4"
    codec = "mjpeg" if mjpeg else "libx264"
    pix_fmt = "yuvj420p" if mjpeg else "yuv420p"
    packets: list[av.Packet] = []
    for side, count in ((header, small_frames), (big, big_frames)):
        if mjpeg:
            for i in range(count):
                image = np.full((side, side) if gray else (side, side, 3), 40 * i % 255, np.uint8)
                packets.append(av.Packet(cv2.imencode(".jpg", image)[1].tobytes()))
                del image
            continue
        enc = av.CodecContext.create(codec, "w")
        enc.width = enc.height = side
        enc.pix_fmt = pix_fmt
        enc.time_base = Fraction(1, 10)
        enc.options = {"preset": "ultrafast", "tune": "zerolatency"}
        for i in range(count):
            frame = av.VideoFrame.from_ndarray(np.full((side, side, 3), 40 * i % 255, np.uint8), format="bgr24")
            frame = frame.reformat(format=pix_fmt)
            frame.pts = i
            packets.extend(enc.encode(frame))
        packets.extend(enc.encode(None))
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=10)
        stream.width = stream.height = header
        stream.pix_fmt = pix_fmt
        out.start_encoding()
        for i, packet in enumerate(packets):
            packet.stream = stream
            packet.pts = packet.dts = i
            packet.time_base = Fraction(1, 10)
            out.mux(packet)
    return path
