"""Following a face between full detections by template matching, at a small fraction of their cost.

A full-frame Haar scan of a 640x360 frame costs tens of milliseconds. Between scans,
:func:`follow_face` looks for each face near its last box instead: it takes the face as it looked
in the previous frame, shrinks it so it is about ``face_px`` pixels wide, and finds the best match
(normalised cross-correlation) inside a window around the old box in the current frame. The face
keeps its size; the next full detection corrects size and drift, and drops faces that left.
"""

from __future__ import annotations

import cv2
import numpy as np

from emolens.types import Box, FollowOptions


def search_window(box: Box, width: int, height: int, pad: float) -> Box:
    """``box`` grown by ``pad`` of its width and height on each side, clipped to the image."""
    x, y, w, h = box
    x0, y0 = max(0, int(x - pad * w)), max(0, int(y - pad * h))
    x1, y1 = min(width, int(x + w + pad * w + 0.5)), min(height, int(y + h + pad * h + 0.5))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def _shrink(image: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def follow_face(
    previous: np.ndarray, current: np.ndarray, box: Box, options: FollowOptions | None = None
) -> Box | None:
    """Where the face in ``box`` of ``previous`` is in ``current`` (same-sized gray images), or None.

    None when the box is empty or off the image, or when nothing in the search window matches the
    face well enough (it turned away, was covered or left).
    """
    opts = options or FollowOptions()
    height, width = current.shape[:2]
    x, y, w, h = box
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(width, x + w), min(height, y + h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    scale = min(1.0, opts.face_px / max(w, h))
    template = _shrink(previous[y0:y1, x0:x1], scale)
    wx, wy, ww, wh = search_window(box, width, height, opts.pad)
    window = _shrink(current[wy : wy + wh, wx : wx + ww], scale)
    th, tw = template.shape[:2]
    if window.shape[0] < th or window.shape[1] < tw or tw < 4 or th < 4:
        return None
    match = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (mx, my) = cv2.minMaxLoc(match)
    if not np.isfinite(best) or best < opts.min_score:
        return None
    inv = 1.0 / scale
    nx, ny = wx + int(round(mx * inv)) - (x0 - x), wy + int(round(my * inv)) - (y0 - y)
    return nx, ny, w, h
