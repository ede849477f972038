"""Drawing faces: one colour per track (or face number), labels that do not overlap."""

import re
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np
import pytest

from emolens.labels import EMOTIONS, valence_of
from emolens.types import Face
from emolens.video.draw import (
    TRACK_COLORS,
    draw_faces,
    face_number,
    hex_to_bgr,
    layout_labels,
    place_label,
    track_color,
)


def face(
    box: tuple[int, int, int, int], tid: int | None = None, number: int | None = None, label: str = "happy"
) -> Face:
    scores = {lab: (0.7 if lab == label else 0.05) for lab in EMOTIONS}
    return Face(box, label, scores, valence_of(label), tid, number)


@pytest.fixture
def photo(media: Path) -> np.ndarray:
    img = cv2.imread(str(media / "facerec_two_people.jpg"))
    assert img is not None
    return img


def test_palette() -> None:
    assert len(TRACK_COLORS) == 10 and len(set(TRACK_COLORS)) == 10
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in TRACK_COLORS)
    assert [track_color(n) for n in (1, 2, 10, 11, 21)] == [TRACK_COLORS[i] for i in (0, 1, 9, 0, 0)]
    assert hex_to_bgr("#ff8000") == (0, 128, 255)
    bgr = np.array([hex_to_bgr(c) for c in TRACK_COLORS], np.int64)
    # distinct at a glance: every pair differs by at least 80 in some channel
    assert min(int(np.abs(a - b).max()) for a, b in combinations(bgr, 2)) >= 80
    # readable on video: none is dark
    assert min(int(c.max()) for c in bgr) >= 200


def test_face_number_is_the_track_else_the_place_from_the_left() -> None:
    assert face_number(face((0, 0, 9, 9), tid=7, number=2), 0) == 7
    assert face_number(face((0, 0, 9, 9), number=2), 0) == 2
    assert face_number(face((0, 0, 9, 9)), 4) == 5


def test_each_box_takes_its_track_colour(photo: np.ndarray) -> None:
    faces = [face((100, 120, 90, 90), tid=3), face((400, 150, 90, 90), tid=12, label="sad")]
    out = draw_faces(photo, faces)
    assert out.shape == photo.shape and not np.array_equal(out, photo)
    for f in faces:
        x, y, w, h = f.box
        color = hex_to_bgr(track_color(f.track_id or 0))
        assert tuple(out[y + h // 2, x]) == color  # the box's left edge
        assert tuple(out[y + h, x + w // 2]) == color  # its bottom edge
        assert tuple(out[y - 3, x + 1]) == color  # the label above it, on the same colour
    assert tuple(out[150, 600]) == tuple(photo[150, 600])  # the rest of the picture is untouched


def test_still_images_colour_faces_by_number(photo: np.ndarray) -> None:
    faces = [face((100, 120, 90, 90), number=1), face((400, 150, 90, 90), number=2)]
    out = draw_faces(photo, faces)
    assert tuple(out[165, 100]) == hex_to_bgr(TRACK_COLORS[0])
    assert tuple(out[195, 400]) == hex_to_bgr(TRACK_COLORS[1])
    grey = draw_faces(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY), faces)
    assert grey.ndim == 3 and tuple(grey[165, 100]) == hex_to_bgr(TRACK_COLORS[0])


def test_label_ink_contrasts_with_its_colour() -> None:
    img = np.full((200, 300, 3), 128, np.uint8)
    for tid, ink in ((5, (0, 0, 0)), (6, (255, 255, 255))):  # yellow takes black text, blue white
        out = draw_faces(img, [face((50, 80, 80, 80), tid=tid)])
        label = out[50:80, 50:250].reshape(-1, 3).astype(np.int64)
        bg = np.array(hex_to_bgr(track_color(tid)))
        to_ink = np.abs(label - np.array(ink)).max(axis=1)
        assert (to_ink < np.abs(label - bg).max(axis=1) / 2).sum() > 20  # text pixels, far nearer the ink


def test_labels_of_close_faces_do_not_overlap(photo: np.ndarray) -> None:
    faces = [face((x, 200, 60, 60), tid=i) for i, x in enumerate((390, 300, 360, 330), 1)]  # overlapping boxes
    labels = layout_labels(faces, photo.shape)
    assert [lab.number for lab in labels] == [2, 4, 3, 1]  # from the left
    assert [lab.text for lab in labels] == ["#2 happy 70%", "#4 happy 70%", "#3 happy 70%", "#1 happy 70%"]
    rects = [lab.rect for lab in labels]
    assert not any(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3] for a, b in combinations(rects, 2))
    out = draw_faces(photo, faces)
    for lab in labels:  # each label is drawn where laid out, in its colour, uncovered
        x0, y0, x1, y1 = lab.rect
        assert lab.color == hex_to_bgr(track_color(lab.number))
        assert tuple(out[y0 + 1, x0 + 1]) == tuple(out[y1 - 2, x1 - 2]) == lab.color


def test_place_label() -> None:
    image = (640, 480)
    above = place_label((100, 100, 200, 200), (120, 20), image, [])
    assert above == (100, 80, 220, 100)
    below = place_label((100, 100, 200, 200), (120, 20), image, [above])
    assert below == (100, 200, 220, 220)
    inside = place_label((100, 100, 200, 200), (120, 20), image, [above, below])
    assert inside == (100, 100, 220, 120)
    at_top = place_label((100, 0, 200, 100), (120, 20), image, [])
    assert at_top == (100, 100, 220, 120)  # no room above: below
    at_right = place_label((600, 100, 640, 140), (120, 20), image, [])
    assert at_right[2] <= 640 and at_right[0] == 520  # kept on the image


def test_many_close_labels_never_overlap() -> None:
    rng = np.random.default_rng(0)
    image = (640, 480)
    for _ in range(50):
        taken: list[tuple[int, int, int, int]] = []
        for _ in range(6):
            x, y = int(rng.integers(100, 200)), int(rng.integers(100, 200))
            rect = place_label((x, y, x + 60, y + 60), (110, 22), image, taken)
            assert rect[0] >= 0 and rect[2] <= 640 and rect[1] >= 0 and rect[3] <= 480
            assert not any(rect[0] < t[2] and t[0] < rect[2] and rect[1] < t[3] and t[1] < rect[3] for t in taken)
            taken.append(rect)
