import io
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import SHARED, need
from emolens.detect import create_detector
from emolens.detect.yunet import (
    YUNET_FILE,
    YUNET_SHA256,
    YuNetDetector,
    cache_dir,
    fetch_yunet,
    resolve_yunet,
    sha256_of,
    verify_yunet,
)
from emolens.errors import EmolensError, ModelError
from emolens.imageio import read_image
from emolens.preprocess import align_by_eyes, eye_angle

SHARED_YUNET = SHARED / "models" / YUNET_FILE


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder, with $EMOLENS_YUNET unset."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("EMOLENS_YUNET", raising=False)
    return tmp_path / "xdg" / "emolens"


@pytest.fixture
def cached(xdg: Path) -> Path:
    """The shared YuNet model copied into the (temporary) emolens cache."""
    xdg.mkdir(parents=True)
    return Path(shutil.copy(need(SHARED_YUNET), xdg / YUNET_FILE))


@pytest.fixture
def yunet(cached: Path) -> YuNetDetector:
    return YuNetDetector()


def test_the_checksum_is_that_of_the_shared_model() -> None:
    assert sha256_of(need(SHARED_YUNET)) == YUNET_SHA256


def test_cache_follows_xdg(xdg: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert cache_dir() == xdg
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "emolens"


@pytest.mark.parametrize(
    "name,low,high",
    [
        ("pyfeat_multi_face.jpg", 5, 5),
        ("facerec_two_people.jpg", 2, 2),
        ("pyfeat_single_face.jpg", 1, 1),
        ("fer_justin.jpg", 1, 1),
        ("oarriaga_test_image.jpg", 5, 7),  # six people; YuNet 2023mar at 0.7 finds 7 boxes here
    ],
)
def test_faces_of_real_photos(yunet: YuNetDetector, media: Path, name: str, low: int, high: int) -> None:
    img = read_image(media / name)
    found = yunet.detect_landmarks(img)
    assert low <= len(found) <= high
    assert yunet.detect(img) == [f.box for f in found]
    for f in found:
        x, y, w, h = f.box
        assert w > 20 and h > 20 and x >= 0 and y >= 0 and x + w <= img.shape[1] and y + h <= img.shape[0]
        assert 0.7 <= f.score <= 1.0
        # the person's right eye is on the left of the image, both above the mouth, inside the box
        assert f.right_eye[0] < f.left_eye[0]
        assert max(f.right_eye[1], f.left_eye[1]) < min(f.mouth_right[1], f.mouth_left[1])
        assert x - 5 <= f.nose[0] <= x + w + 5 and y - 5 <= f.nose[1] <= y + h + 5


def test_input_size_follows_each_image(yunet: YuNetDetector, media: Path) -> None:
    two = read_image(media / "facerec_two_people.jpg")
    multi = read_image(media / "pyfeat_multi_face.jpg")
    small = cv2.resize(two, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    counts = [len(yunet.detect(im)) for im in (two, multi, small, two)]
    assert counts == [2, 5, 2, 2]
    gray = cv2.cvtColor(two, cv2.COLOR_BGR2GRAY)
    assert len(yunet.detect(gray)) == 2
    assert yunet.detect(np.full((240, 320, 3), 127, np.uint8)) == []


def test_create_detector_by_name(cached: Path, media: Path) -> None:
    det = create_detector("yunet", score_threshold=0.9)
    assert len(det.detect(read_image(media / "facerec_two_people.jpg"))) == 2


def test_model_resolution(cached: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_yunet() == cached
    other = Path(shutil.copy(cached, tmp_path / "elsewhere.onnx"))
    monkeypatch.setenv("EMOLENS_YUNET", str(other))
    assert resolve_yunet() == other
    assert resolve_yunet(cached) == cached  # an explicit path wins
    with pytest.raises(ModelError, match="not found"):
        resolve_yunet(tmp_path / "nope.onnx")
    monkeypatch.setenv("EMOLENS_YUNET", str(tmp_path / "gone.onnx"))
    with pytest.raises(ModelError, match="EMOLENS_YUNET"):
        resolve_yunet()


def test_a_missing_model_says_how_to_get_it(xdg: Path) -> None:
    with pytest.raises(EmolensError, match="emolens fetch yunet"):
        YuNetDetector()
    with pytest.raises(EmolensError, match="emolens fetch yunet"):
        create_detector("yunet")


def test_a_corrupted_cached_model_is_rejected(cached: Path) -> None:
    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cached.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="not the YuNet model emolens expects"):
        verify_yunet(cached)
    with pytest.raises(ModelError, match="emolens fetch yunet"):
        YuNetDetector()


def test_an_unloadable_explicit_model_is_a_clear_error(tmp_path: Path, xdg: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not an onnx file")
    with pytest.raises(ModelError, match="cannot load the YuNet model"):
        YuNetDetector(junk)
    with pytest.raises(EmolensError, match="score_threshold"):
        YuNetDetector(junk, score_threshold=2.0)


class _FakeResponse(io.BytesIO):
    def __enter__(self) -> "_FakeResponse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def test_fetch_checks_the_download_without_touching_the_network(xdg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = need(SHARED_YUNET).read_bytes()
    served: list[bytes] = [good[:-10] + b"corrupted!", good]
    monkeypatch.setattr("urllib.request.urlopen", lambda url, timeout: _FakeResponse(served.pop(0)))
    with pytest.raises(EmolensError, match="expected " + YUNET_SHA256):
        fetch_yunet()
    assert not xdg.exists() or list(xdg.iterdir()) == []  # nothing installed, no temporary file left
    path = fetch_yunet()
    assert path == xdg / YUNET_FILE and sha256_of(path) == YUNET_SHA256
    assert list(xdg.iterdir()) == [path]
    assert fetch_yunet() == path  # already there: nothing is downloaded (served is empty)


def test_align_by_eyes_levels_the_eyes() -> None:
    img = np.zeros((200, 200), np.uint8)
    right_eye, left_eye = (70.0, 80.0), (130.0, 110.0)  # tilted by atan(30 / 60) = 26.6 degrees
    for x, y in (right_eye, left_eye):
        cv2.circle(img, (int(x), int(y)), 6, 255, -1)
    assert eye_angle(left_eye, right_eye) == pytest.approx(26.565, abs=1e-3)
    out = align_by_eyes(img, (40, 40, 120, 120), left_eye, right_eye)
    assert out.shape == (120, 120)
    ys, xs = np.nonzero(out > 128)
    left_blob, right_blob = ys[xs < 60], ys[xs >= 60]
    assert len(left_blob) > 50 and len(right_blob) > 50
    assert abs(left_blob.mean() - right_blob.mean()) < 1.5  # level after rotation
    grown = align_by_eyes(img, (40, 40, 120, 120), left_eye, right_eye, margin=0.1)
    assert grown.shape == (144, 144)
    level = align_by_eyes(img, (40, 40, 120, 120), (130.0, 80.0), (70.0, 80.0))
    np.testing.assert_array_equal(level, img[40:160, 40:160])  # level eyes: a plain crop


def test_align_a_tilted_real_face(yunet: YuNetDetector, media: Path) -> None:
    img = read_image(media / "fer_justin.jpg")
    h, w = img.shape[:2]
    tilted = cv2.warpAffine(img, cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0), (w, h))
    (f,) = yunet.detect_landmarks(tilted)
    assert abs(eye_angle(f.left_eye, f.right_eye)) > 12
    face = align_by_eyes(tilted, f.box, f.left_eye, f.right_eye, margin=0.2)
    (g,) = yunet.detect_landmarks(face)
    assert abs(eye_angle(g.left_eye, g.right_eye)) < 5


def test_stream_with_yunet_aligned_and_downscaled(yunet: YuNetDetector, media: Path, tmp_path: Path) -> None:
    from emolens.runtime.recognizer import Recognizer
    from emolens.types import TrackerOptions
    from emolens.video.pipeline import stream
    from emolens.video.tracking import iou_matrix

    img = read_image(media / "facerec_two_people.jpg")
    clip = tmp_path / "two.avi"
    w = cv2.VideoWriter(str(clip), cv2.CAP_FFMPEG, cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (img.shape[1], img.shape[0]))
    for _ in range(3):
        w.write(img)
    w.release()
    expected = sorted(yunet.detect(img))
    one_hit = TrackerOptions(min_hits=1)  # faces shown from their first detection, on every frame
    with stream(clip, Recognizer(threads=1), yunet, detect_scale=0.5, align=True, tracking=one_hit) as vs:
        results = list(vs)
    assert len(results) == 3
    for r in results:
        boxes = sorted(f.box for f in r.faces)
        assert len(boxes) == 2
        assert np.diag(iou_matrix(expected, boxes)).min() > 0.8  # boxes in full-frame pixels
        assert sorted(f.track_id for f in r.faces) == [1, 2]


def test_images_a_few_pixels_high_give_boxes_inside_them_and_no_overflow(yunet: YuNetDetector) -> None:
    """On such images the network once returned infinite boxes, which int() could not take; what
    it finds on noise now (at most a few weak boxes) is whole pixels inside the image."""
    rng = np.random.default_rng(0)
    for shape in ((32, 640, 3), (10, 640, 3), (8, 320, 3), (1, 5000, 3)):
        h, w = shape[:2]
        for x, y, bw, bh in yunet.detect(rng.integers(0, 256, shape, dtype=np.uint8)):
            assert all(isinstance(v, int) for v in (x, y, bw, bh))
            assert x >= 0 and y >= 0 and bw > 0 and bh > 0 and x + bw <= w and y + bh <= h
