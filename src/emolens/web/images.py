"""Still images for ``POST /api/v1/analyze``: decode, find the faces, recognise them.

Face detectors are not thread-safe (OpenCV's CascadeClassifier), and requests run on a thread
pool: :class:`DetectorPool` lends each request a detector of its own and keeps a few for reuse.
A detector keeps buffers the size of the largest image it scanned (OpenCV's cascade keeps its
image pyramid), so one that scanned an image over ``keep_pixels`` is not kept: its memory goes
back when the request ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from emolens.analysis import analyze_faces, faces_at_scale
from emolens.imagecheck import ANALYSIS_PIXELS
from emolens.web.decode import DECODES, check_upload, decode_checked_upload, decode_cost

if TYPE_CHECKING:
    from emolens.detect.base import Detector
    from emolens.runtime.recognizer import Recognizer
    from emolens.types import DetectorOptions, Face

KEEP_PIXELS = 1920 * 1080
"""A detector that scanned an image larger than this is not kept for reuse (see :class:`DetectorPool`)."""


class DetectorPool:
    """Detectors by name, one per concurrent user; at most ``keep`` idle ones are kept, and only
    those that scanned images of at most ``keep_pixels``."""

    def __init__(
        self, name: str, options: DetectorOptions | None = None, keep: int = 4, keep_pixels: int = KEEP_PIXELS
    ) -> None:
        self.name = name
        self.options = options
        self.keep = keep
        self.keep_pixels = keep_pixels
        self._idle: list[Detector] = []
        self._lock = threading.Lock()

    def create(self) -> Detector:
        from emolens.detect import create_detector

        return create_detector(self.name, self.options)

    @property
    def idle(self) -> int:
        """Detectors kept for reuse now."""
        with self._lock:
            return len(self._idle)

    @contextmanager
    def borrow(self, pixels: int = 0) -> Iterator[Detector]:
        """A detector for an image of ``pixels``; given back to the pool afterwards unless the image
        was larger than ``keep_pixels``."""
        with self._lock:
            detector = self._idle.pop() if self._idle else None
        if detector is None:
            detector = self.create()
        try:
            yield detector
        finally:
            if pixels <= self.keep_pixels:
                with self._lock:
                    if len(self._idle) < self.keep:
                        self._idle.append(detector)


def analyze_image(
    data: bytes | bytearray, recognizer: Recognizer, pool: DetectorPool, max_pixels: int
) -> dict[str, Any]:
    """The API's answer for one uploaded image: its size, its faces, and the time taken.

    The image is analysed at most :data:`~emolens.imagecheck.ANALYSIS_PIXELS` large (decoded
    reduced); its size and the face boxes are those of the full image. The decode and the
    analysis hold their memory in :data:`~emolens.web.decode.DECODES`. Raises
    :class:`~emolens.web.decode.BadImage` for bytes that are not a usable image.
    """
    t = time.perf_counter()
    header = check_upload(data, max_pixels)
    with DECODES.hold(decode_cost(header, ANALYSIS_PIXELS)):
        decoded = decode_checked_upload(data, header, max_pixels, ANALYSIS_PIXELS)
        width, height, (sx, sy) = decoded.width, decoded.height, decoded.scale
        image = decoded.image
        with pool.borrow(image.shape[0] * image.shape[1]) as detector:
            faces: list[Face] = analyze_faces(image, recognizer, detector)
        del decoded, image  # the pixels go before the gate lets the next decode in
    faces = faces_at_scale(faces, sx, sy, width, height)
    return {
        "width": width,
        "height": height,
        "faces": [face.as_dict() for face in faces],
        "processing_ms": round((time.perf_counter() - t) * 1000.0, 2),
    }
