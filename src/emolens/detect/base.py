"""The face-detector interface."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from emolens.types import Box


class Detector(Protocol):
    """Finds faces: ``detect(image)`` returns boxes (x, y, w, h) in image pixels."""

    def detect(self, image: np.ndarray) -> list[Box]: ...
