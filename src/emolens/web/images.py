"""Still images for ``POST /api/v1/analyze``: decode, find the faces, recognise them.

Face detectors are not thread-safe (OpenCV's CascadeClassifier), and requests run on a thread
pool: :class:`DetectorPool` lends each request a detector of its own and keeps a few for reuse.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from emolens.analysis import analyze_faces
from emolens.web.decode import decode_image

if TYPE_CHECKING:
    from emolens.detect.base import Detector
    from emolens.runtime.recognizer import Recognizer


class DetectorPool:
    """Detectors by name, one per concurrent user; at most ``keep`` idle ones are kept."""

    def __init__(self, name: str, keep: int = 4) -> None:
        self.name = name
        self.keep = keep
        self._idle: list[Detector] = []
        self._lock = threading.Lock()

    def create(self) -> Detector:
        from emolens.detect import create_detector

        return create_detector(self.name)

    @contextmanager
    def borrow(self) -> Iterator[Detector]:
        with self._lock:
            detector = self._idle.pop() if self._idle else None
        if detector is None:
            detector = self.create()
        try:
            yield detector
        finally:
            with self._lock:
                if len(self._idle) < self.keep:
                    self._idle.append(detector)


def analyze_image(
    data: bytes | bytearray, recognizer: Recognizer, pool: DetectorPool, max_pixels: int
) -> dict[str, Any]:
    """The API's answer for one uploaded image: its size, its faces, and the time taken.

    Raises :class:`~emolens.web.decode.BadImage` for bytes that are not a usable image.
    """
    t = time.perf_counter()
    image = decode_image(data, max_pixels)
    with pool.borrow() as detector:
        faces = analyze_faces(image, recognizer, detector)
    return {
        "width": int(image.shape[1]),
        "height": int(image.shape[0]),
        "faces": [face.as_dict() for face in faces],
        "processing_ms": round((time.perf_counter() - t) * 1000.0, 2),
    }
