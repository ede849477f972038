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
