import numpy as np
import pytest

from emolens.errors import ImageError
from emolens.preprocess import crop, expand_box, faces_to_batch, normalize, resize_square, to_gray


def test_to_gray_accepts_gray_and_bgr() -> None:
    bgr = np.zeros((10, 12, 3), np.uint8)
    bgr[..., 2] = 255  # pure red
    g = to_gray(bgr)
    assert g.shape == (10, 12) and int(g[0, 0]) == 76  # 0.299 * 255
    assert to_gray(g) is g
    with pytest.raises(ImageError):
        to_gray(np.zeros((2, 2, 2, 2), np.uint8))


def test_resize_square_any_size() -> None:
    assert resize_square(np.zeros((100, 80), np.uint8), 48).shape == (48, 48)
    assert resize_square(np.zeros((20, 30), np.uint8), 48).shape == (48, 48)


def test_faces_to_batch_shapes_and_errors() -> None:
    assert faces_to_batch(np.zeros((3, 48, 48), np.uint8), 48).shape == (3, 48, 48)
    assert faces_to_batch(np.zeros((2, 64, 64, 3), np.uint8), 48).shape == (2, 48, 48)
    mixed = [np.zeros((30, 40), np.uint8), np.zeros((90, 90, 3), np.uint8)]
    assert faces_to_batch(mixed, 48).shape == (2, 48, 48)
    with pytest.raises(ImageError, match="uint8"):
        faces_to_batch(np.zeros((2, 48, 48), np.float32), 48)
    with pytest.raises(ImageError, match="shape"):
        faces_to_batch(np.zeros((48, 48), np.uint8)[None, None], 48)


def test_normalize_values() -> None:
    x = normalize(np.array([[[0, 255]]], np.uint8), mean=0.5, std=0.25)
    assert x.shape == (1, 1, 1, 2) and x.dtype == np.float32
    assert x[0, 0, 0].tolist() == pytest.approx([-2.0, 2.0])


def test_crop_with_margin_is_clipped_to_the_image() -> None:
    img = np.arange(100, dtype=np.uint8).reshape(10, 10)
    assert expand_box((2, 2, 4, 4), 0.5, 10, 10) == (0, 0, 8, 8)
    assert crop(img, (8, 8, 4, 4)).shape == (2, 2)
    with pytest.raises(ImageError, match="outside"):
        crop(img, (20, 20, 4, 4))


def test_one_face_given_as_a_3d_array_is_refused_as_ambiguous() -> None:
    face = np.zeros((48, 48, 3), np.uint8)  # one BGR face, or 48 gray faces 3 pixels wide?
    with pytest.raises(
        ImageError, match=r"\(48, 48, 3\) are ambiguous.*pass a list of faces \(\[face\]\) or an array \(N, H, W, 3\)"
    ):
        faces_to_batch(face, 48)
    for channels in (1, 4):
        with pytest.raises(ImageError, match="ambiguous"):
            faces_to_batch(np.zeros((48, 48, channels), np.uint8), 48)
    with pytest.raises(ImageError, match="one gray face"):
        faces_to_batch(np.zeros((48, 48), np.uint8), 48)
    assert faces_to_batch([face], 48).shape == faces_to_batch(face[None], 48).shape == (1, 48, 48)
    assert faces_to_batch(np.zeros((5, 48, 40), np.uint8), 48).shape == (5, 48, 48)  # gray stacks still go
