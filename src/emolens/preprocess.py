"""Pure preprocessing functions: crop, gray, resize and normalise faces for a model."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from emolens.errors import ImageError
from emolens.runtime.metadata import INTERPOLATIONS
from emolens.types import Box

__all__ = [
    "INTERPOLATIONS",
    "Box",
    "align_by_eyes",
    "crop",
    "crop_face",
    "expand_box",
    "eye_angle",
    "face_region",
    "faces_to_batch",
    "normalize",
    "resize_square",
    "to_gray",
]


def check_image_array(image: object, who: str = "the analyzer") -> None:
    """An ImageError unless ``image`` is a non-empty uint8 array (H, W) or (H, W, 1 | 3 | 4)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ImageError(f"{who} takes a uint8 image array (H, W) or (H, W, 3)")
    if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
        raise ImageError(f"{who} takes a gray (H, W) or BGR (H, W, 3) image, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageError(f"the image is empty (shape {image.shape}): it has no pixels to analyse")


def to_gray(image: np.ndarray) -> np.ndarray:
    """A gray uint8 image from a gray (H, W), (H, W, 1) or BGR (H, W, 3) one."""
    if image.ndim in (2, 3) and (image.shape[0] == 0 or image.shape[1] == 0):
        raise ImageError(f"an empty image or face of shape {image.shape}")
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    if image.ndim == 2:
        return image
    raise ImageError(f"expected a gray (H, W) or BGR (H, W, 3) image, got shape {image.shape}")


def resize_square(gray: np.ndarray, size: int, interpolation: str = "area") -> np.ndarray:
    """Resize a gray face to (size, size) with one of :data:`INTERPOLATIONS`."""
    if gray.shape == (size, size):
        return gray
    if gray.shape[0] == 0 or gray.shape[1] == 0:
        raise ImageError(f"cannot resize an empty face of shape {gray.shape}")
    if interpolation == "area":
        shrink = gray.shape[0] > size or gray.shape[1] > size
        flag = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    elif interpolation == "linear":
        flag = cv2.INTER_LINEAR
    elif interpolation == "cubic":
        flag = cv2.INTER_CUBIC
    else:
        raise ImageError(f"unknown interpolation {interpolation!r}; choose one of: {', '.join(INTERPOLATIONS)}")
    return cv2.resize(gray, (size, size), interpolation=flag)


def expand_box(box: Box, margin: float, width: int, height: int) -> Box:
    """Grow a box by ``margin`` of its size on every side, clipped to the image."""
    x, y, w, h = box
    dx, dy = int(round(w * margin)), int(round(h * margin))
    x0, y0 = max(0, x - dx), max(0, y - dy)
    x1, y1 = min(width, x + w + dx), min(height, y + h + dy)
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def crop(image: np.ndarray, box: Box, margin: float = 0.0) -> np.ndarray:
    """The part of ``image`` inside ``box`` grown by ``margin``."""
    x, y, w, h = expand_box(box, margin, image.shape[1], image.shape[0])
    if w == 0 or h == 0:
        raise ImageError(f"face box {box} lies outside the {image.shape[1]}x{image.shape[0]} image")
    return image[y : y + h, x : x + w]


def face_region(box: Box, margin: float = 0.0, square: bool = False) -> tuple[int, int, int, int]:
    """The region (x, y, w, h) to cut for a face: ``box`` made square around its centre (side: the
    longer one) when ``square``, then grown by ``margin`` of its size on every side. Not clipped:
    it may reach outside the image (see :func:`crop_face`)."""
    x, y, w, h = box
    if square:
        side = max(w, h)
        x, y, w, h = x + (w - side) // 2, y + (h - side) // 2, side, side
    dx, dy = int(round(w * margin)), int(round(h * margin))
    return x - dx, y - dy, w + 2 * dx, h + 2 * dy


def crop_face(image: np.ndarray, box: Box, margin: float = 0.0, square: bool = False) -> np.ndarray:
    """The face in ``box`` framed as a model expects (see :func:`face_region`).

    Where the region reaches outside the image the border pixels are repeated, so the crop keeps
    its shape (a square stays square) for faces at the edge of the frame.
    """
    x, y, w, h = face_region(box, margin, square)
    ih, iw = image.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(iw, x + w), min(ih, y + h)
    if x1 <= x0 or y1 <= y0:
        raise ImageError(f"face box {box} lies outside the {iw}x{ih} image")
    inside = image[y0:y1, x0:x1]
    if (x0, y0, x1, y1) == (x, y, x + w, y + h):
        return inside
    return cv2.copyMakeBorder(inside, y0 - y, y + h - y1, x0 - x, x + w - x1, cv2.BORDER_REPLICATE)


def faces_to_batch(faces: np.ndarray | Sequence[np.ndarray], size: int, interpolation: str = "area") -> np.ndarray:
    """Stack faces of any size and colour into uint8 (N, size, size) gray (resized with ``interpolation``).

    ``faces`` is a sequence of single faces (each (H, W) gray, or (H, W, 1), (H, W, 3) BGR or
    (H, W, 4) BGRA), or an array of several: (N, H, W, C) with C = 1, 3 or 4, or (N, H, W) gray.
    A 3-D array whose last axis is 1, 3 or 4 long is refused (an :class:`ImageError`): it reads as
    one face (H, W, C) as well as N gray faces 1, 3 or 4 pixels wide. Pass one face as ``[face]``
    or ``face[None]``; gray faces that narrow are not faces. A 2-D array (one gray face) is refused too.
    """
    if isinstance(faces, np.ndarray):
        if faces.dtype != np.uint8:
            raise ImageError(f"faces must be uint8 images, got dtype {faces.dtype}")
        if faces.ndim == 3 and faces.shape[2] in (1, 3, 4):
            raise ImageError(
                f"faces of shape {faces.shape} are ambiguous: one face (H, W, {faces.shape[2]}) or "
                f"{faces.shape[0]} gray faces {faces.shape[2]} pixels wide; pass a list of faces ([face]) "
                f"or an array (N, H, W, {faces.shape[2]}) (face[None])"
            )
        if faces.ndim == 2:
            raise ImageError(
                f"faces of shape {faces.shape} are one gray face; pass a list of faces ([face]) "
                "or an array (N, H, W) (face[None])"
            )
        if faces.ndim == 3 or (faces.ndim == 4 and faces.shape[3] in (1, 3, 4)):
            if faces.ndim == 3 and faces.shape[1:] == (size, size):
                return faces
            items: Sequence[np.ndarray] = list(faces)
        else:
            raise ImageError(
                f"faces must be a list of faces or an array (N, H, W) or (N, H, W, 3), got shape {faces.shape}"
            )
    else:
        items = faces
    out = np.empty((len(items), size, size), dtype=np.uint8)
    for i, f in enumerate(items):
        f = np.asarray(f)
        if f.dtype != np.uint8:
            raise ImageError(f"face {i} must be uint8, got dtype {f.dtype}")
        out[i] = resize_square(to_gray(f), size, interpolation)
    return out


def normalize(batch: np.ndarray, mean: float, std: float) -> np.ndarray:
    """uint8 (N, H, W) -> float32 (N, 1, H, W) scaled to [0, 1], minus ``mean``, over ``std``."""
    x = batch.astype(np.float32)[:, None]
    x *= 1.0 / (255.0 * std)
    x -= mean / std
    return x


def eye_angle(left_eye: tuple[float, float], right_eye: tuple[float, float]) -> float:
    """The tilt of the eye line in degrees, as ``cv2.getRotationMatrix2D`` takes it.

    ``left_eye`` and ``right_eye`` are the person's own (the right eye usually appears on the
    left of the image); rotating by the returned angle makes the eyes level.
    """
    dx, dy = left_eye[0] - right_eye[0], left_eye[1] - right_eye[1]
    if dx == 0 and dy == 0:
        return 0.0
    return float(np.degrees(np.arctan2(dy, dx)))


def align_by_eyes(
    image: np.ndarray,
    box: Box,
    left_eye: tuple[float, float],
    right_eye: tuple[float, float],
    margin: float = 0.0,
) -> np.ndarray:
    """The face inside ``box`` (grown by ``margin``), rotated about the box centre so the eyes are level.

    The crop has the size of the grown box; pixels that the rotation brings in from outside
    the image repeat the border. Only the crop is resampled, not the whole image.
    """
    x, y, w, h = box
    if w <= 0 or h <= 0:
        raise ImageError(f"face box {box} is empty")
    dx, dy = int(round(w * margin)), int(round(h * margin))
    out_w, out_h = w + 2 * dx, h + 2 * dy
    cx, cy = x + w / 2.0, y + h / 2.0
    rot = cv2.getRotationMatrix2D((cx, cy), eye_angle(left_eye, right_eye), 1.0)
    rot[0, 2] -= cx - out_w / 2.0
    rot[1, 2] -= cy - out_h / 2.0
    return cv2.warpAffine(image, rot, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
