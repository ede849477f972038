"""The one analysis core: detector or caller's boxes -> crops framed by the model file -> faces."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import emolens
from emolens.analysis import Analyzer, analyze_faces, crop_faces, number_faces
from emolens.errors import ImageError, ModelError
from emolens.imageio import read_image
from emolens.preprocess import crop_face, face_region
from emolens.runtime.metadata import Framing
from emolens.runtime.recognizer import Recognizer
from emolens.types import Face


@pytest.fixture(scope="module")
def rec() -> Recognizer:
    return Recognizer("emolens-vgg-fer2013-fp32", threads=1)


def _face(x: int, y: int = 10) -> Face:
    return Face(box=(x, y, 20, 20), label="happy", scores={"happy": 1.0}, valence="positive")


def test_faces_are_numbered_from_the_left() -> None:
    faces = number_faces([_face(300), _face(20), _face(150, y=80)])
    assert [f.box[0] for f in faces] == [20, 150, 300]
    assert [f.number for f in faces] == [1, 2, 3]


def test_face_region_squares_then_grows() -> None:
    assert face_region((10, 20, 40, 60)) == (10, 20, 40, 60)
    assert face_region((10, 20, 40, 60), square=True) == (0, 20, 60, 60)
    assert face_region((10, 20, 40, 60), 0.1, square=True) == (-6, 14, 72, 72)


def test_crop_face_keeps_its_shape_at_the_edge_of_the_image() -> None:
    image = np.arange(100 * 120, dtype=np.uint32).reshape(100, 120).astype(np.uint8)
    inside = crop_face(image, (40, 30, 20, 30), 0.1, square=True)
    assert inside.shape == (36, 36)
    edge = crop_face(image, (0, 0, 30, 40), 0.2, square=True)
    assert edge.shape == (56, 56)  # square although the region reaches past the top-left corner
    np.testing.assert_array_equal(edge[0, :], edge[8, :])  # the 8 rows above the image repeat its first row
    assert face_region((0, 0, 30, 40), 0.2, square=True) == (-13, -8, 56, 56)
    with pytest.raises(ImageError, match="outside"):
        crop_face(image, (500, 500, 10, 10))


def test_analyze_faces_with_a_detector_and_with_the_callers_boxes(rec: Recognizer, media: Path) -> None:
    from emolens.detect import create_detector

    image = read_image(media / "facerec_two_people.jpg")
    found = analyze_faces(image, rec, create_detector("haar"))
    assert len(found) >= 2
    assert [f.number for f in found] == list(range(1, len(found) + 1))
    assert all(a.box[0] <= b.box[0] for a, b in zip(found, found[1:], strict=False))
    # the same boxes brought by the caller give the same faces, with no detector at all
    given = analyze_faces(image, rec, boxes=[f.box for f in reversed(found)])
    assert [(f.box, f.label, f.number) for f in given] == [(f.box, f.label, f.number) for f in found]
    for a, b in zip(given, found, strict=True):
        assert a.scores == pytest.approx(b.scores, abs=1e-6)
    assert Analyzer(rec, None).image(image, boxes=[found[0].box])[0].box == found[0].box


def test_bad_boxes_and_images_are_clear_errors(rec: Recognizer) -> None:
    image = np.zeros((50, 60, 3), np.uint8)
    with pytest.raises(ImageError, match="outside the 60x50 image"):
        analyze_faces(image, rec, boxes=[(70, 10, 10, 10)])
    with pytest.raises(ImageError, match=r"face box \(5, 5, 0, 10\) is empty"):
        analyze_faces(image, rec, boxes=[(5, 5, 0, 10)])
    with pytest.raises(ImageError, match=r"\(x, y, w, h\)"):
        analyze_faces(image, rec, boxes=[(1, 2, 3)])  # type: ignore[list-item]
    with pytest.raises(ImageError, match="needs a detector or the face boxes"):
        analyze_faces(image, rec)
    with pytest.raises(ImageError, match="uint8 image"):
        analyze_faces(np.zeros((10, 10), np.float32), rec, boxes=[])
    assert analyze_faces(image, rec, boxes=[]) == []


def test_an_empty_image_is_an_image_error(rec: Recognizer) -> None:
    from emolens.detect import create_detector

    detector = create_detector("haar")
    for empty in (np.zeros((0, 0, 3), np.uint8), np.zeros((0, 10), np.uint8), np.zeros((10, 0, 3), np.uint8)):
        with pytest.raises(ImageError, match="the image is empty"):
            analyze_faces(empty, rec, detector)  # once a raw cv2.error
        with pytest.raises(ImageError, match="the image is empty"):
            Analyzer(rec, detector).process(empty)
    with pytest.raises(ImageError, match=r"got shape \(10, 10, 2\)"):
        analyze_faces(np.zeros((10, 10, 2), np.uint8), rec, detector)


def test_stream_frames_take_the_callers_boxes(rec: Recognizer) -> None:
    analyzer = Analyzer(rec, None, emolens.StreamOptions(smoothing=None))
    frame = np.full((120, 160, 3), 128, np.uint8)
    results = [analyzer.process(frame, i, i / 30, boxes=[(40, 30, 50, 50)]) for i in range(4)]
    assert all(r.detected for r in results)
    seen = [f for r in results for f in r.faces]
    assert seen, "a face given on every frame is confirmed and reported"
    assert len({f.track_id for f in seen}) == 1
    assert all(f.number == 1 for f in seen)


def test_the_model_file_decides_the_framing(rec: Recognizer, tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from emolens.export.framing import write_framing

    plain = tmp_path / "plain.onnx"
    framed = tmp_path / "framed.onnx"
    write_framing(rec.path, plain, Framing(crop_margin=0.0, crop_square=False, interpolation="linear"))
    write_framing(plain, framed, Framing(crop_margin=0.25, crop_square=True, interpolation="area"))
    a, b = Recognizer(plain), Recognizer(framed)
    assert a.meta.framing == Framing(0.0, False, "linear")
    assert b.meta.framing == Framing(0.25, True, "area")
    image = np.random.default_rng(0).integers(0, 256, (200, 200), dtype=np.uint8)
    box = (50, 40, 60, 90)
    assert crop_faces(image, [box], a)[0].shape == (90, 60)
    assert crop_faces(image, [box], b)[0].shape == (134, 134)  # squared to 90, grown by 22 px a side
    # analyze_faces crops as the file says, then classifies
    pa = b.predict_faces([crop_face(image, box, 0.25, True)])
    pb = analyze_faces(image, b, boxes=[box])[0].scores
    assert list(pb.values()) == pytest.approx(list(pa[0]), abs=1e-6)


def test_a_garbled_framing_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    import onnx

    from emolens.models.bundled import resolve_model
    from emolens.runtime.metadata import PREFIX, set_props

    src = resolve_model("emolens-vgg-fer2013-fp32")
    bad = tmp_path / "bad.onnx"
    shutil.copy(src, bad)
    proto = onnx.load(str(bad))
    props = {p.key: p.value for p in proto.metadata_props}
    props[PREFIX + "interpolation"] = "nearest-ish"
    set_props(proto, props)
    onnx.save(proto, str(bad))
    with pytest.raises(ModelError, match="interpolation"):
        Recognizer(bad)
    with pytest.raises(ModelError, match="crop margin"):
        Framing(crop_margin=2.0)


def test_the_recognizer_only_classifies() -> None:
    assert not hasattr(Recognizer, "analyze") and not hasattr(Recognizer, "detector")
    with pytest.raises(TypeError):
        Recognizer(detector="yunet")  # type: ignore[call-arg]


def test_callers_boxes_that_cannot_be_cropped_are_image_errors() -> None:
    rec = emolens.Recognizer(threads=1)
    img = np.full((384, 381, 3), 128, np.uint8)
    for box in ((0, 0, float("inf"), 10), (0, 0, 10**6, 10**6), (0, 0, 2**40, 10), (0, 0, 20000, 20000)):
        with pytest.raises(ImageError):
            analyze_faces(img, rec, boxes=[box])  # type: ignore[list-item]
    assert len(analyze_faces(img, rec, boxes=[(-20, -20, 400, 400)])) == 1  # past the edges, padded: fine


def test_empty_colour_crops_are_image_errors() -> None:
    rec = emolens.Recognizer(threads=1)
    for crops in (np.zeros((1, 0, 0, 3), np.uint8), [np.zeros((0, 0, 3), np.uint8)], [np.zeros((5, 0, 3), np.uint8)]):
        with pytest.raises(ImageError, match="empty"):
            rec.predict_faces(crops)


def test_analyze_faces_takes_a_detector_name_as_stream_does(media: Path) -> None:
    img = read_image(media / "fer_justin.jpg")
    faces = analyze_faces(img, emolens.Recognizer(threads=1), "haar")
    assert len(faces) == 1 and faces[0].label in emolens.Recognizer().labels
