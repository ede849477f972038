"""``analyze_images``: all or nothing, one image in memory at a time."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from emolens.analysis import Analyzer
from emolens.analyze import analyze_images
from emolens.detect import create_detector
from emolens.errors import ImageError
from emolens.runtime.recognizer import Recognizer
from emolens.types import Box, Face


class CountingAnalyzer(Analyzer):
    """An analyzer that counts the images it was asked about."""

    calls = 0

    def image(self, image: np.ndarray, boxes: Sequence[Box] | None = None) -> list[Face]:
        self.calls += 1
        return super().image(image, boxes)


@pytest.fixture(scope="module")
def analyzer() -> CountingAnalyzer:
    return CountingAnalyzer(Recognizer(threads=1), create_detector("haar"))


def test_copies_and_json_of_several_images(media: Path, tmp_path: Path, analyzer: CountingAnalyzer) -> None:
    paths = [media / "fer_justin.jpg", media / "pyfeat_single_face.jpg"]
    out = tmp_path / "new" / "out"
    results = analyze_images(paths, analyzer, out, tmp_path / "faces.json", detector_name="haar")
    assert [r["image"] for r in results] == [str(p) for p in paths]
    assert sorted(p.name for p in out.iterdir()) == ["fer_justin_emolens.jpg", "pyfeat_single_face_emolens.jpg"]
    assert all(r["faces"] for r in results) and (tmp_path / "faces.json").exists()


def test_a_bad_image_late_in_the_list_leaves_nothing(media: Path, tmp_path: Path, analyzer: CountingAnalyzer) -> None:
    cut = tmp_path / "cut.jpg"
    cut.write_bytes((media / "fer_justin.jpg").read_bytes()[:400])  # passes the first bytes' check, fails to decode
    out, js = tmp_path / "made" / "out", tmp_path / "faces.json"
    before = analyzer.calls
    with pytest.raises(ImageError, match="cut.jpg"):
        analyze_images([media / "fer_justin.jpg", media / "pyfeat_single_face.jpg", cut], analyzer, out, js)
    assert analyzer.calls == before + 2  # the two good ones were judged, then the third failed
    assert not (tmp_path / "made").exists() and not js.exists()  # no copy, no temporary file, no folder made
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "mine.txt").write_text("the user's")
    with pytest.raises(ImageError):
        analyze_images([media / "fer_justin.jpg", cut], analyzer, kept)
    assert [p.name for p in kept.iterdir()] == ["mine.txt"]  # a folder that was there stays, as it was


def test_a_file_of_another_kind_stops_the_run_before_any_work(
    media: Path, tmp_path: Path, analyzer: CountingAnalyzer
) -> None:
    video = shutil.copy(media / "fer_test.mp4", tmp_path / "clip.jpg")  # its name says image, its bytes video
    before = analyzer.calls
    with pytest.raises(ImageError, match=r"clip.jpg is a video \(mp4\), not an image"):
        analyze_images([media / "fer_justin.jpg", video, tmp_path], analyzer, tmp_path / "out")
    assert analyzer.calls == before and not (tmp_path / "out").exists()
