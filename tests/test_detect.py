from pathlib import Path

import numpy as np
import pytest

from emolens.detect import create_detector
from emolens.errors import EmolensError
from emolens.imageio import read_image


def test_unknown_detector_lists_valid_names() -> None:
    with pytest.raises(EmolensError, match="available: haar"):
        create_detector("mtcnn")


def test_blank_image_has_no_faces() -> None:
    assert create_detector("haar").detect(np.full((200, 200, 3), 127, np.uint8)) == []


@pytest.mark.parametrize(
    "name,expected", [("facerec_two_people.jpg", 2), ("pyfeat_single_face.jpg", 1), ("fer_justin.jpg", 1)]
)
def test_haar_finds_the_faces_of_real_photos(media: Path, name: str, expected: int) -> None:
    boxes = create_detector("haar").detect(read_image(media / name))
    assert len(boxes) == expected
    assert all(w > 20 and h > 20 for (_, _, w, h) in boxes)


# The faces of the shared photos, checked by eye (boxes as YuNet draws them); any other box is a false detection.
TRUE_FACES = {
    "pyfeat_multi_face.jpg": [
        (686, 292, 101, 132),
        (315, 234, 95, 130),
        (531, 305, 95, 131),
        (439, 215, 77, 96),
        (212, 61, 91, 115),  # sunglasses: Haar's frontal cascade misses this one
    ],
    "facerec_two_people.jpg": [(234, 21, 149, 204), (790, 49, 148, 207)],
    "oarriaga_test_image.jpg": [
        (586, 418, 92, 123),
        (315, 340, 98, 125),
        (1535, 384, 97, 100),
        (854, 373, 90, 114),
        (1203, 396, 85, 110),
        (843, 906, 418, 548),
    ],
    "fer_justin.jpg": [(109, 78, 154, 205)],
    "facerec_obama.jpg": [(374, 94, 231, 322)],
    "pyfeat_single_face.jpg": [(191, 147, 183, 252)],
}

# detector -> photo -> (faces found, false detections), as measured with the default settings
EXPECTED = {
    "haar": {
        "pyfeat_multi_face.jpg": (4, 0),
        "facerec_two_people.jpg": (2, 0),
        "oarriaga_test_image.jpg": (6, 7),
        "fer_justin.jpg": (1, 0),
        "facerec_obama.jpg": (1, 2),
        "pyfeat_single_face.jpg": (1, 0),
    },
    "yunet": {
        "pyfeat_multi_face.jpg": (5, 0),
        "facerec_two_people.jpg": (2, 0),
        "oarriaga_test_image.jpg": (6, 1),
        "fer_justin.jpg": (1, 0),
        "facerec_obama.jpg": (1, 0),
        "pyfeat_single_face.jpg": (1, 0),
    },
}


@pytest.mark.parametrize("detector", ["haar", "yunet"])
@pytest.mark.parametrize("photo", sorted(TRUE_FACES))
def test_faces_found_and_false_detections_per_photo(media: Path, detector: str, photo: str) -> None:
    from emolens.video.tracking import greedy_match, iou_matrix

    options = {}
    if detector == "yunet":
        model = media.parent / "models" / "face_detection_yunet_2023mar.onnx"
        if not model.exists():
            pytest.skip(f"shared YuNet model not found: {model}")
        options["model_path"] = model
    boxes = create_detector(detector, **options).detect(read_image(media / photo))
    truth = TRUE_FACES[photo]
    matches = greedy_match(iou_matrix(truth, boxes), 0.3)
    assert (len(matches), len(boxes) - len(matches)) == EXPECTED[detector][photo]


def test_detector_settings_and_inputs_that_opencv_would_choke_on_are_errors() -> None:
    from emolens.detect.haar import HaarDetector, HaarSettings
    from emolens.errors import EmolensError, ImageError

    for kwargs in ({"scale_factor": 1.0}, {"scale_factor": 0.5}, {"scale_factor": float("nan")}, {"min_size": 0}):
        with pytest.raises(EmolensError):
            HaarSettings(**kwargs)  # type: ignore[arg-type]
    haar = HaarDetector()
    for bad in (np.zeros((40, 40), np.float32), np.zeros((0, 40, 3), np.uint8), np.zeros((40, 40, 2), np.uint8)):
        with pytest.raises(ImageError):
            haar.detect(bad)


def test_detector_options_are_checked_when_made() -> None:
    from emolens.types import DetectorOptions

    for bad in (
        {"haar_min_neighbors": -1},
        {"haar_min_neighbors": 2.5},
        {"haar_min_size": 0},
        {"haar_scale_factor": 1.0},
        {"haar_scale_factor": float("nan")},
        {"yunet_score": 1.5},
    ):
        with pytest.raises(EmolensError, match=next(iter(bad))):
            DetectorOptions(**bad)  # type: ignore[arg-type]
    assert DetectorOptions().changed() == {}
    assert DetectorOptions(haar_min_neighbors=8).changed() == {"haar_min_neighbors": 8}


def test_a_stricter_haar_keeps_its_faces_and_drops_false_ones(media: Path) -> None:
    from emolens.types import DetectorOptions
    from emolens.video.tracking import greedy_match, iou_matrix

    photo = "oarriaga_test_image.jpg"  # a busy photo with six faces, where Haar's defaults find seven non-faces
    image = read_image(media / photo)
    counts = []
    for neighbors in (3, 5, 8, 12):
        boxes = create_detector("haar", DetectorOptions(haar_min_neighbors=neighbors)).detect(image)
        found = len(greedy_match(iou_matrix(TRUE_FACES[photo], boxes), 0.3))
        counts.append((len(boxes), found))
    totals = [n for n, _ in counts]
    assert totals == sorted(totals, reverse=True)  # more neighbours asked for: never a box more
    assert counts[1] == (sum(EXPECTED["haar"][photo]), EXPECTED["haar"][photo][0])  # 5 is the default
    false_at_default = counts[1][0] - counts[1][1]
    assert counts[2][0] - counts[2][1] < false_at_default and counts[2][1] == counts[1][1]


def test_explicit_constructor_arguments_win_over_the_options() -> None:
    from emolens.detect.haar import HaarDetector, HaarSettings
    from emolens.types import DetectorOptions

    det = create_detector("haar", DetectorOptions(haar_min_neighbors=9))
    assert isinstance(det, HaarDetector) and det.settings.min_neighbors == 9
    det = create_detector("haar", DetectorOptions(haar_min_neighbors=9), settings=HaarSettings(min_neighbors=2))
    assert isinstance(det, HaarDetector) and det.settings.min_neighbors == 2
