"""Draw recognised faces onto a copy of an image: a coloured box, label and confidence."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from emolens.runtime.recognizer import Face

COLORS: dict[str, tuple[int, int, int]] = {  # BGR
    "angry": (40, 40, 220),
    "disgust": (40, 140, 40),
    "fear": (160, 60, 160),
    "happy": (40, 200, 250),
    "sad": (200, 120, 40),
    "surprise": (240, 200, 60),
    "neutral": (180, 180, 180),
}


def draw_faces(image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
    """A BGR copy of ``image`` with each face's box and ``label confidence%`` drawn on it."""
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    scale = max(0.4, min(out.shape[:2]) / 900)
    thick = max(1, int(round(2 * scale)))
    for f in faces:
        x, y, w, h = f.box
        color = COLORS.get(f.label, (255, 255, 255))
        cv2.rectangle(out, (x, y), (x + w, y + h), color, thick)
        text = f"{f.label} {f.confidence * 100:.0f}%" + (f" #{f.track_id}" if f.track_id is not None else "")
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        ty = y - 4 if y - th - base - 4 >= 0 else y + h + th + 4
        cv2.rectangle(out, (x, ty - th - base), (x + tw + 4, ty + base - 2), color, -1)
        cv2.putText(out, text, (x + 2, ty - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick, cv2.LINE_AA)
    return out
