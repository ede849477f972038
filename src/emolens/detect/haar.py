"""Viola-Jones face detection with the frontal-face Haar cascade bundled in OpenCV."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emolens.errors import EmolensError
from emolens.preprocess import check_image_array, to_gray
from emolens.types import Box

CASCADE = "haarcascade_frontalface_default.xml"


@dataclass(frozen=True)
class HaarSettings:
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_size: int = 30

    def __post_init__(self) -> None:
        if not 1.0 < self.scale_factor <= 2.0:
            raise EmolensError(f"scale_factor must lie in (1, 2], got {self.scale_factor}")
        if not (isinstance(self.min_neighbors, numbers.Integral) and self.min_neighbors >= 0):
            raise EmolensError(f"min_neighbors must be a whole number of 0 or more, got {self.min_neighbors!r}")
        if not (isinstance(self.min_size, numbers.Integral) and self.min_size >= 1):
            raise EmolensError(f"min_size must be a whole number of 1 or more, got {self.min_size!r}")


class HaarDetector:
    """OpenCV's ``CascadeClassifier`` on the histogram-equalised gray image."""

    name = "haar"

    def __init__(self, settings: HaarSettings | None = None) -> None:
        self.settings = settings or HaarSettings()
        path = Path(cv2.data.haarcascades) / CASCADE  # type: ignore[attr-defined]
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise EmolensError(f"cannot load OpenCV's Haar cascade {path}; reinstall opencv-python-headless (>=4.9,<5)")

    def detect(self, image: np.ndarray) -> list[Box]:
        check_image_array(image, "the Haar detector")
        gray = cv2.equalizeHist(to_gray(image))
        s = self.settings
        found = self._cascade.detectMultiScale(
            gray, scaleFactor=s.scale_factor, minNeighbors=s.min_neighbors, minSize=(s.min_size, s.min_size)
        )
        return [(int(x), int(y), int(w), int(h)) for (x, y, w, h) in found]
