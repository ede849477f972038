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


def iou(a: list[int], b: list[int]) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_a_large_photo_is_analysed_reduced_as_the_web_server_does(
    media: Path, tmp_path: Path, analyzer: CountingAnalyzer
) -> None:
    import cv2

    from emolens.imagecheck import ANALYSIS_PIXELS
    from emolens.web.images import DetectorPool, analyze_image

    big = cv2.resize(cv2.imread(str(media / "pyfeat_multi_face.jpg")), (4000, 3000), interpolation=cv2.INTER_CUBIC)
    path = tmp_path / "big.jpg"
    assert cv2.imwrite(str(path), big)
    out = tmp_path / "out"
    reduced = analyze_images([path], analyzer, out)[0]
    assert (reduced["width"], reduced["height"]) == (4000, 3000) and len(reduced["faces"]) >= 4
    assert cv2.imread(str(out / "big_emolens.jpg")).shape == (3000, 4000, 3)  # drawn on the full image
    web = analyze_image(path.read_bytes(), analyzer.recognizer, DetectorPool("haar"), 40_000_000)
    assert [f["box"] for f in web["faces"]] == [f["box"] for f in reduced["faces"]]  # the same faces as the server's
    assert [f["label"] for f in web["faces"]] == [f["label"] for f in reduced["faces"]]
    assert ANALYSIS_PIXELS < 4000 * 3000
    full = analyze_images([path], analyzer, analysis_pixels=None)[0]  # at full size: each face found there too
    for face in reduced["faces"]:
        assert max(iou(face["box"], f["box"]) for f in full["faces"]) > 0.7, face["box"]
