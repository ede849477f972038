"""Reading and writing image files: what a file that is not an image is told it is."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from audio_support import tone, write_audio
from conftest import MEDIA, need
from emolens.errors import ImageError
from emolens.imageio import read_image, write_image


def test_an_image_written_is_read_back(tmp_path: Path) -> None:
    image = np.zeros((20, 30, 3), np.uint8)
    image[5:10, 5:25] = (0, 128, 255)
    write_image(tmp_path / "a.png", image)
    assert np.array_equal(read_image(tmp_path / "a.png"), image)


def test_what_is_not_an_image_is_named(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="image not found"):
        read_image(tmp_path / "none.jpg")
    with pytest.raises(ImageError, match="is a folder, not an image"):
        read_image(tmp_path)
    for suffix, kind in ((".wav", "wav"), (".flac", "flac")):
        sound = write_audio(tmp_path / f"tone{suffix}", tone(0.5))
        with pytest.raises(ImageError, match=rf"tone\{suffix} is a sound file \({kind}\), not an image"):
            read_image(sound)
    text = tmp_path / "faces.jpg"
    text.write_text("a list of faces, not a picture of them\n")
    with pytest.raises(ImageError, match="faces.jpg is a text file, not an image"):
        read_image(text)
    junk = tmp_path / "junk.png"
    junk.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ImageError, match=r"junk.png: not an image, or a corrupt or truncated one$"):
        read_image(junk)
    ok, png = cv2.imencode(".png", np.zeros((40, 40, 3), np.uint8))
    assert ok
    cut = tmp_path / "cut.png"
    cut.write_bytes(png.tobytes()[:60])
    with pytest.raises(ImageError, match=r"cut.png: not an image, or a corrupt or truncated one \(the PNG image"):
        read_image(cut)


def test_a_video_is_named_as_one() -> None:
    with pytest.raises(ImageError, match=r"fer_test.mp4 is a video \(mp4\), not an image"):
        read_image(need(MEDIA / "fer_test.mp4"))
