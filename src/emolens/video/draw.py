"""Draw recognised faces onto a copy of an image: a box in the face's colour, its number and label.

Each face has a colour of its own, taken from :data:`TRACK_COLORS` by its track id in a video
(by ``face.number``, its place from the left, on a still image): the same colour as that track
in the summary (``"color"``) and on the web page's chart. Labels are placed so that they do not
overlap each other when faces are close.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from emolens.types import Face

COLORS: dict[str, tuple[int, int, int]] = {  # BGR, one per emotion (the timeline plot)
    "angry": (40, 40, 220),
    "disgust": (40, 140, 40),
    "fear": (160, 60, 160),
    "happy": (40, 200, 250),
    "sad": (200, 120, 40),
    "surprise": (240, 200, 60),
    "neutral": (180, 180, 180),
}

TRACK_COLORS: tuple[str, ...] = (
    "#33ccff",  # sky blue
    "#ff8c00",  # orange
    "#a6ff00",  # lime
    "#ff4fc3",  # pink
    "#ffe135",  # yellow
    "#4d6bff",  # blue
    "#1fd65f",  # green
    "#ff3b3b",  # red
    "#a05cff",  # violet
    "#d9d9d9",  # light grey
)
"""The colour of each track (``#rrggbb``), bright enough to read on video; track k takes entry (k - 1) mod 10."""

FONT = cv2.FONT_HERSHEY_SIMPLEX

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)


def track_color(number: int) -> str:
    """The ``#rrggbb`` colour of track (or face) ``number``; numbers count from 1 and wrap after 10."""
    return TRACK_COLORS[(number - 1) % len(TRACK_COLORS)]


def hex_to_bgr(color: str) -> tuple[int, int, int]:
    """``"#rrggbb"`` as an OpenCV (blue, green, red) tuple."""
    value = color.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return (b, g, r)


def face_number(face: Face, index: int) -> int:
    """The number drawn on a face: its track id, else its place from the left, else ``index + 1``."""
    if face.track_id is not None:
        return face.track_id
    if face.number is not None:
        return face.number
    return index + 1


def _overlaps(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_label(box: Rect, size: tuple[int, int], image: tuple[int, int], taken: Sequence[Rect]) -> Rect:
    """Where a label of ``size`` (w, h) goes for a face ``box`` (x0, y0, x1, y1) on an ``image`` (w, h).

    Above the box when there is room and no label already ``taken`` is in the way, else below it,
    else inside its top edge; when all three are taken, the first that fits the image is moved down
    (or, at the bottom of the image, up) past the labels it would cover.
    """
    w, h = size
    iw, ih = image
    x0 = max(0, min(box[0], iw - w))
    candidates = [(x0, box[1] - h), (x0, box[3]), (x0, box[1])]
    inside = [(x, y, x + w, y + h) for x, y in candidates if y >= 0 and y + h <= ih]
    for rect in inside:
        if not any(_overlaps(rect, t) for t in taken):
            return rect
    start = inside[0] if inside else (x0, max(0, min(box[1], ih - h)), x0 + w, max(0, min(box[1], ih - h)) + h)
    for step in (1, -1):  # down, then up
        rect = start
        for _ in range(len(taken) + 1):
            hit = [t for t in taken if _overlaps(rect, t)]
            if not hit:
                return rect
            y = max(t[3] for t in hit) if step > 0 else min(t[1] for t in hit) - h
            rect = (rect[0], y, rect[2], y + h)
            if y < 0 or y + h > ih:
                break
    return start  # no free place on the image: overlap rather than leave the image


@dataclass(frozen=True)
class Label:
    """Where and how one face is drawn: its number, box and label colour, text and place."""

    number: int
    face: Face
    color: tuple[int, int, int]  # BGR
    text: str
    rect: Rect
    baseline: int


def _text_size(shape: tuple[int, ...]) -> tuple[float, int]:
    scale = max(0.4, min(shape[0], shape[1]) / 900)
    return scale, max(1, int(round(2 * scale)))


def layout_labels(faces: Sequence[Face], shape: tuple[int, ...]) -> list[Label]:
    """The labels of ``faces`` on an image of ``shape`` (h, w, ...), from the left, none over another."""
    ih, iw = shape[:2]
    scale, thick = _text_size(shape)
    numbered = sorted(((face_number(f, i), f) for i, f in enumerate(faces)), key=lambda nf: (nf[1].box[0], nf[0]))
    labels: list[Label] = []
    for n, f in numbered:
        x, y, w, h = f.box
        text = f"#{n} {f.label} {f.confidence * 100:.0f}%"
        (tw, th), base = cv2.getTextSize(text, FONT, scale, thick)
        rect = place_label((x, y, x + w, y + h), (tw + 6, th + base + 6), (iw, ih), [lab.rect for lab in labels])
        labels.append(Label(n, f, hex_to_bgr(track_color(n)), text, rect, base))
    return labels


def draw_faces(image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
    """A BGR copy of ``image`` with each face's box in its colour and ``#number label confidence%`` on it."""
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    scale, thick = _text_size(out.shape)
    labels = layout_labels(faces, out.shape)
    for lab in labels:
        x, y, w, h = lab.face.box
        cv2.rectangle(out, (x, y), (x + w, y + h), lab.color, thick)
    for lab in labels:
        x0, y0, x1, y1 = lab.rect
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), lab.color, -1)
        b, g, r = lab.color
        ink = (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)
        cv2.putText(out, lab.text, (x0 + 3, y1 - lab.baseline - 3), FONT, scale, ink, thick, cv2.LINE_AA)
    return out
