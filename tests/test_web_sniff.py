"""File kinds by their bytes, and image sizes from headers (pure functions of emolens.web.sniff)."""

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from emolens.web.sniff import image_size, is_image, is_video, jpeg_complete, sniff


def png_header(width: int, height: int) -> bytes:
    """A PNG signature and a valid IHDR chunk claiming width x height, and nothing else."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def jpeg_header(width: int, height: int) -> bytes:
    """SOI, an APP0 segment and a baseline SOF0 claiming width x height (at most 65535 each)."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof + b"\x00" * 16  # enough bytes to be sniffed


def test_images_and_videos_of_the_shared_media_are_told_by_their_bytes(media: Path) -> None:
    for name in ("fer_justin.jpg", "facerec_two_people.jpg", "pyfeat_multi_face.jpg"):
        data = (media / name).read_bytes()
        img = cv2.imread(str(media / name))
        assert sniff(data[:32]) == "jpeg" and is_image("jpeg")
        assert image_size(data) == (img.shape[1], img.shape[0]), name
        assert jpeg_complete(data)
        assert not jpeg_complete(data[: len(data) // 2]) and not jpeg_complete(data[:-2])
    for name in ("pyfeat_single_face.mp4", "fer_test.mp4"):
        assert sniff((media / name).read_bytes()[:32]) == "mp4" and is_video("mp4")


@pytest.mark.parametrize(("ext", "kind"), [(".png", "png"), (".webp", "webp"), (".bmp", "bmp"), (".jpg", "jpeg")])
def test_encoded_images_give_their_size(media: Path, ext: str, kind: str) -> None:
    img = cv2.imread(str(media / "fer_justin.jpg"))[:123, :77]
    for params in ([], [cv2.IMWRITE_WEBP_QUALITY, 101]) if ext == ".webp" else ([],):  # lossy VP8 and lossless VP8L
        ok, enc = cv2.imencode(ext, img, params)
        assert ok
        data = enc.tobytes()
        assert sniff(data[:32]) == kind
        assert image_size(data) == (77, 123)


def test_extended_webp_and_os2_bmp_headers() -> None:
    vp8x = b"RIFF\x00\x00\x00\x00WEBPVP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (99).to_bytes(3, "little")
    vp8x += (49).to_bytes(3, "little")
    assert sniff(vp8x) == "webp" and image_size(vp8x) == (100, 50)
    core = b"BM" + b"\x00" * 12 + struct.pack("<IHH", 12, 640, 480)
    assert sniff(core) == "bmp" and image_size(core) == (640, 480)
    top_down = b"BM" + b"\x00" * 12 + struct.pack("<Iii", 40, 320, -200) + b"\x00" * 8
    assert image_size(top_down) == (320, 200)


def test_crafted_headers_claim_huge_images_in_a_few_bytes() -> None:
    png = png_header(100_000, 100_000)
    assert len(png) < 40 and sniff(png) == "png" and image_size(png) == (100_000, 100_000)
    jpg = jpeg_header(65_000, 65_000)
    assert len(jpg) < 64 and sniff(jpg) == "jpeg" and image_size(jpg) == (65_000, 65_000)
    assert not jpeg_complete(jpg)


def test_video_containers() -> None:
    assert sniff(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00") == "mp4"
    assert sniff(b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00") == "mov"
    assert sniff(b"RIFF\x00\x10\x00\x00AVI LIST") == "avi"
    assert sniff(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01") == "mkv"
    assert sniff(b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00") is None  # a HEIF still image, not a video


def test_unknown_short_and_cut_short_input() -> None:
    assert sniff(b"") is None
    assert sniff(b"hello, this is a text file named video.mp4\n") is None
    assert sniff(b"BMW cars are German\n and more text") is None  # "BM" alone does not make a bitmap
    assert image_size(b"") is None
    assert image_size(png_header(10, 10)[:20]) is None
    assert image_size(b"\xff\xd8\xff\xe0\x00") is None
    assert image_size(b"\xff\xd8\xff\xda\x00\x08") is None  # a scan before any frame header
    assert image_size(b"RIFF\x00\x00\x00\x00WEBPVP8 \x00\x00") is None
    assert image_size(b"not an image at all", "jpeg") is None


def test_random_bytes_never_raise() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        data = rng.integers(0, 256, int(rng.integers(0, 80)), dtype=np.uint8).tobytes()
        for prefix in (b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WEBP", b"BM"):
            blob = prefix + data
            kind = sniff(blob[:32])
            image_size(blob, kind)
            jpeg_complete(blob)
