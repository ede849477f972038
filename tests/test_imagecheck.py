"""Untrusted image bytes (emolens.imagecheck): headers, limits, scan counting, reduced decoding, read_image."""

import contextlib
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from bombs import png16_rgba, progressive_scan_bomb, with_segment, zero_png
from emolens.errors import EmolensError, ImageError, ImageTooLarge
from emolens.imagecheck import (
    MAX_PIXELS,
    MAX_SCANS,
    ImageHeader,
    ImageLimits,
    ImageRefused,
    check_image,
    decode_checked,
    jpeg_scans,
    read_header,
    shrink_to,
)
from emolens.imageio import read_image


def encode(ext: str, image: np.ndarray, *params: int) -> bytes:
    ok, enc = cv2.imencode(ext, image, list(params))
    assert ok
    return enc.tobytes()


def test_headers_give_channels_and_bit_depth() -> None:
    rgb = np.full((30, 40, 3), 90, np.uint8)
    assert read_header(png16_rgba(40, 30)) == ImageHeader("png", 40, 30, 4, 16)
    assert read_header(encode(".png", rgb[:, :, 0])) == ImageHeader("png", 40, 30, 1, 8)
    assert read_header(encode(".png", rgb)) == ImageHeader("png", 40, 30, 3, 8)
    assert read_header(encode(".jpg", rgb)) == ImageHeader("jpeg", 40, 30, 3, 8)
    assert read_header(encode(".jpg", rgb[:, :, 0])) == ImageHeader("jpeg", 40, 30, 1, 8)
    assert read_header(encode(".jpg", rgb, cv2.IMWRITE_JPEG_PROGRESSIVE, 1)) == ImageHeader(
        "jpeg", 40, 30, 3, 8, progressive=True
    )
    bgra = np.dstack([rgb, np.full((30, 40), 128, np.uint8)])
    assert read_header(encode(".webp", bgra, cv2.IMWRITE_WEBP_QUALITY, 101)).channels == 4  # lossless, with alpha
    assert read_header(encode(".webp", rgb)).channels == 3
    assert read_header(encode(".bmp", bgra)) == ImageHeader("bmp", 40, 30, 4, 8)
    assert read_header(encode(".bmp", rgb)) == ImageHeader("bmp", 40, 30, 3, 8)
    h = ImageHeader("png", 6000, 6000, 4, 16)
    assert h.pixels == 36_000_000 and h.decoded_bytes == 288_000_000
    assert h.describe() == "6000x6000 with 4 channels of 16 bits"


def test_the_16_bit_png_bomb_is_within_the_pixels_but_not_the_bytes() -> None:
    bomb = png16_rgba(6000, 6000)  # issue 11: 280 kB, 36 M pixels, under the 40 M pixel limit
    assert len(bomb) < 400_000
    limits = ImageLimits()
    assert limits.max_pixels == MAX_PIXELS == 40_000_000 and limits.bytes_limit == 120_000_000
    with pytest.raises(ImageRefused) as refused:
        check_image(bomb, limits)
    assert refused.value.status == 413
    assert str(refused.value) == (
        "the image is 6000x6000 with 4 channels of 16 bits: 288,000,000 bytes once decoded, "
        "more than the limit of 120,000,000 (40,000,000 pixels of 8-bit color)"
    )
    # the same pixels in 8-bit color pass (3 bytes a pixel), as do 16-bit ones under the byte limit
    assert check_image(zero_png(6000, 6000, 8, 2), limits).decoded_bytes == 108_000_000
    assert check_image(zero_png(3000, 3000, 16, 6), limits).decoded_bytes == 72_000_000
    with pytest.raises(ImageRefused, match="72,000,000 bytes once decoded, more than the limit of 50,000,000$"):
        check_image(zero_png(3000, 3000, 16, 6), ImageLimits(max_bytes=50_000_000))


def test_scans_are_counted_as_the_decoder_sees_them() -> None:
    flat = np.zeros((64, 64, 3), np.uint8)
    assert jpeg_scans(encode(".jpg", flat)) == 1
    progressive = encode(".jpg", flat, cv2.IMWRITE_JPEG_PROGRESSIVE, 1)
    normal = jpeg_scans(progressive)
    assert 2 < normal <= 12  # libjpeg's progressive script
    assert jpeg_scans(progressive_scan_bomb(64, 64, 500)) == normal + 500
    assert jpeg_scans(progressive_scan_bomb(64, 64, 500), stop_after=100) == 101
    # bytes that look like a start of scan inside a comment or an EXIF thumbnail are not scans
    commented = with_segment(progressive, 0xFE, b"\xff\xda\x00\x08" * 50)
    assert jpeg_scans(commented) == normal and cv2.imdecode(np.frombuffer(commented, np.uint8), 1) is not None
    assert jpeg_scans(b"") == 0 and jpeg_scans(b"\xff\xd8\xff\xd9") == 0
    assert jpeg_scans(progressive[: len(progressive) // 2]) >= 1  # cut short: counts what is there


def test_the_scan_bomb_is_refused_before_decoding() -> None:
    bomb = progressive_scan_bomb(6000, 6000, 5000)  # issue 11: 507 kB, 33.8 s to decode
    assert len(bomb) < 600_000 and jpeg_scans(bomb) > 5000
    t = time.perf_counter()
    with pytest.raises(ImageRefused) as refused:
        decode_checked(bomb, ImageLimits())
    assert refused.value.status == 422
    assert f"more than {MAX_SCANS} scans" in str(refused.value) and "would take too long" in str(refused.value)
    assert time.perf_counter() - t < 30  # far less in fact: nothing is decoded (the benchmark measures it)
    # the limit is the caller's
    small = progressive_scan_bomb(64, 64, 50)
    assert decode_checked(small, ImageLimits()).image.shape == (64, 64, 3)
    with pytest.raises(ImageRefused, match="more than 20 scans"):
        check_image(small, ImageLimits(max_scans=20))


def test_reduced_decoding_keeps_the_full_size() -> None:
    image = cv2.resize(np.arange(256, dtype=np.uint8).reshape(16, 16), (1600, 1200), interpolation=cv2.INTER_NEAREST)
    image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    jpg, png = encode(".jpg", image), encode(".png", image)
    for data in (jpg, png):
        full = decode_checked(data, ImageLimits())
        assert full.image.shape == (1200, 1600, 3) and (full.width, full.height) == (1600, 1200)
        assert full.scale == (1.0, 1.0)
        small = decode_checked(data, ImageLimits(), max_pixels_out=300_000)
        h, w = small.image.shape[:2]
        assert w * h <= 300_000 and w * h > 250_000 and abs(w / h - 4 / 3) < 0.01
        assert (small.width, small.height) == (1600, 1200) and small.scale == pytest.approx((1600 / w, 1200 / h))
        assert np.abs(cv2.resize(small.image, (1600, 1200)).astype(int) - image).mean() < 8
    # a JPEG 1/8 of the target or less is decoded by libjpeg at 1/8 of its size
    assert decode_checked(jpg, ImageLimits(), max_pixels_out=30_000).image.shape == (150, 200, 3)
    assert shrink_to(image, 10**9) is image


def test_limits_are_checked() -> None:
    for bad in ({"max_pixels": 0}, {"max_bytes": 0}, {"max_scans": 0}):
        with pytest.raises(EmolensError):
            ImageLimits(**bad)  # type: ignore[arg-type]


def test_random_bytes_never_raise_anything_but_image_refused() -> None:
    rng = np.random.default_rng(1)
    jpeg = encode(".jpg", np.zeros((8, 8, 3), np.uint8), cv2.IMWRITE_JPEG_PROGRESSIVE, 1)
    for _ in range(300):
        data = rng.integers(0, 256, int(rng.integers(0, 120)), dtype=np.uint8).tobytes()
        for prefix in (b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WEBP", b"BM", jpeg[:200]):
            blob = prefix + data
            read_header(blob)
            jpeg_scans(blob, stop_after=5)
            with contextlib.suppress(ImageRefused):
                decode_checked(blob, ImageLimits(max_pixels=10_000), other_formats=True)


# ---------------------------------------------------------------------- the command line's reader


def test_read_image_applies_the_same_checks(tmp_path: Path) -> None:
    huge = tmp_path / "huge.png"
    huge.write_bytes(zero_png(30000, 30000))  # issue 11: a real 30000x30000 PNG, 0.9 MB
    with pytest.raises(
        ImageError, match=r"huge.png: the image is 30000x30000 = 900,000,000 pixels, more than the limit of 40,000,000$"
    ):
        read_image(huge)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png16_rgba(6000, 6000))
    with pytest.raises(ImageError, match="288,000,000 bytes once decoded"):
        read_image(bomb)
    scans = tmp_path / "scans.jpg"
    scans.write_bytes(progressive_scan_bomb(2000, 2000, 1000))
    with pytest.raises(
        ImageError, match="not an image, or a corrupt or truncated one .the JPEG has more than 100 scans"
    ):
        read_image(scans)
    small = tmp_path / "small.png"
    small.write_bytes(zero_png(40, 30, 8, 2))
    assert read_image(small).shape == (30, 40, 3)
    with pytest.raises(ImageTooLarge, match="1,200 pixels, more than the limit of 1,000"):
        read_image(small, ImageLimits(max_pixels=1000))
    # formats without a header read here (TIFF) are decoded, then their size is checked
    tiff = tmp_path / "x.tif"
    cv2.imwrite(str(tiff), np.zeros((30, 40, 3), np.uint8))
    assert read_image(tiff).shape == (30, 40, 3)
    with pytest.raises(ImageError, match="40x30 = 1,200 pixels, more than the limit of 1,000"):
        read_image(tiff, ImageLimits(max_pixels=1000))


def test_read_image_turns_read_errors_into_image_errors(tmp_path: Path) -> None:
    mem = Path("/proc/self/mem")  # a file that exists and cannot be read from its start: EIO
    if not mem.is_file():
        pytest.skip("needs Linux's /proc/self/mem")
    with pytest.raises(ImageError, match="cannot read /proc/self/mem: Input/output error"):
        read_image(mem)
