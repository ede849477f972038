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
