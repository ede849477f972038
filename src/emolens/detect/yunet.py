"""YuNet face detection (OpenCV's ``FaceDetectorYN``): boxes plus five landmarks per face.

The model file is not shipped with emolens. It is looked up, in order, at the path given to
:class:`YuNetDetector`, at ``$EMOLENS_YUNET``, and in the cache
(``$XDG_CACHE_HOME/emolens`` or ``~/.cache/emolens``), where ``emolens fetch yunet`` puts it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emolens.errors import EmolensError, ModelError
from emolens.io import AtomicFile
from emolens.preprocess import check_image_array
from emolens.types import Box

log = logging.getLogger(__name__)

YUNET_FILE = "face_detection_yunet_2023mar.onnx"
YUNET_URL = "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/" + YUNET_FILE
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
YUNET_ENV = "EMOLENS_YUNET"

Point = tuple[float, float]


@dataclass(frozen=True)
class Landmarks:
    """A YuNet face: its box, score and five landmarks, in image pixels.

    Right and left are the person's own: the right eye usually appears on the left of the image.
    """

    box: Box
    score: float
    right_eye: Point
    left_eye: Point
    nose: Point
    mouth_right: Point
    mouth_left: Point

    def scaled(self, factor: float) -> Landmarks:
        """The same face in an image ``factor`` times as large."""

        def p(q: Point) -> Point:
            return (q[0] * factor, q[1] * factor)

        x, y, w, h = self.box
        return Landmarks(
            box=(int(round(x * factor)), int(round(y * factor)), int(round(w * factor)), int(round(h * factor))),
            score=self.score,
            right_eye=p(self.right_eye),
            left_eye=p(self.left_eye),
            nose=p(self.nose),
            mouth_right=p(self.mouth_right),
            mouth_left=p(self.mouth_left),
        )


def cache_dir() -> Path:
    """emolens' cache folder: ``$XDG_CACHE_HOME/emolens``, else ``~/.cache/emolens``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "emolens"


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_yunet(path: str | Path) -> Path:
    """Return ``path`` if its SHA-256 is that of the published YuNet model, else raise a ModelError."""
    path = Path(path)
    digest = sha256_of(path)
    if digest != YUNET_SHA256:
        raise ModelError(
            f"{path} is not the YuNet model emolens expects (sha256 {digest[:12]}..., expected {YUNET_SHA256[:12]}...); "
            "delete it and run 'emolens fetch yunet'"
        )
    return path


def resolve_yunet(model_path: str | Path | None = None) -> Path:
    """The YuNet model file: ``model_path``, else ``$EMOLENS_YUNET``, else the verified cached copy."""
    if model_path is not None:
        path = Path(model_path)
        if not path.is_file():
            raise ModelError(f"YuNet model not found: {path}")
        return path
    env = os.environ.get(YUNET_ENV)
    if env:
        path = Path(env)
        if not path.is_file():
            raise ModelError(f"YuNet model not found: {path} (from ${YUNET_ENV})")
        return path
    path = cache_dir() / YUNET_FILE
    if not path.is_file():
        raise ModelError(
            f"the YuNet face detector model is not installed: run 'emolens fetch yunet' to download it to {path} "
            f"(from the OpenCV model zoo), or set ${YUNET_ENV} to a copy of {YUNET_FILE}"
        )
    return verify_yunet(path)


def fetch_yunet(cache: str | Path | None = None, url: str = YUNET_URL, timeout: float = 60.0) -> Path:
    """Download YuNet from the OpenCV model zoo into ``cache`` (default :func:`cache_dir`).

    The file is checked against its published SHA-256 before it is moved into place; an already
    present, valid copy is kept. Only ever called on the user's request (``emolens fetch yunet``).
    """
    folder = Path(cache) if cache is not None else cache_dir()
    dest = folder / YUNET_FILE
    if dest.is_file() and sha256_of(dest) == YUNET_SHA256:
        log.info("YuNet is already in %s", dest)
        return dest
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EmolensError(f"cannot create the cache folder {folder}: {e.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise EmolensError(f"cannot write to the cache folder {folder}")
    log.info("downloading %s", url)
    with AtomicFile(dest) as tmp:
        with open(tmp.path, "wb") as fh:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    while block := resp.read(1 << 16):
                        fh.write(block)
            except OSError as e:
                raise EmolensError(f"cannot download {url}: {e}") from None
        digest = sha256_of(tmp.path)
        if digest != YUNET_SHA256:
            raise EmolensError(f"the download from {url} has sha256 {digest}, expected {YUNET_SHA256}; not installed")
    log.info("wrote %s", dest)
    return dest


class YuNetDetector:
    """OpenCV's ``FaceDetectorYN`` with the YuNet model; the input size follows each image."""

    name = "yunet"

    def __init__(
        self,
        model_path: str | Path | None = None,
        score_threshold: float = 0.7,
        nms_threshold: float = 0.3,
        top_k: int = 5000,
        min_size: int = 0,
    ) -> None:
        if not 0.0 <= score_threshold <= 1.0:
            raise EmolensError(f"score_threshold must lie in [0, 1], got {score_threshold}")
        if not 0.0 <= nms_threshold <= 1.0:
            raise EmolensError(f"nms_threshold must lie in [0, 1], got {nms_threshold}")
        self.path = resolve_yunet(model_path)
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.top_k = top_k
        self.min_size = min_size
        try:
            self._net = cv2.FaceDetectorYN.create(str(self.path), "", (320, 320), score_threshold, nms_threshold, top_k)
        except cv2.error as e:
            raise ModelError(f"cannot load the YuNet model {self.path}: {str(e).strip().splitlines()[-1]}") from None
        self._size: tuple[int, int] = (320, 320)

    def detect_landmarks(self, image: np.ndarray) -> list[Landmarks]:
        """Every face of a BGR (or gray) image: box clipped to the image, score and landmarks."""
        check_image_array(image, "the YuNet detector")
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif image.ndim == 3 and image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        elif image.ndim == 3 and image.shape[2] == 1:
            image = cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR)
        height, width = image.shape[:2]
        if (width, height) != self._size:
            self._net.setInputSize((width, height))
            self._size = (width, height)
        _, found = self._net.detect(image)
        if found is None:
            return []
        out = []
        for row in np.asarray(found, dtype=np.float64):
            if not np.isfinite(row[:15]).all():  # on images a few pixels high the network can give inf
                continue
            x0, y0 = max(0, int(round(row[0]))), max(0, int(round(row[1])))
            x1, y1 = min(width, int(round(row[0] + row[2]))), min(height, int(round(row[1] + row[3])))
            w, h = x1 - x0, y1 - y0
            if w <= 0 or h <= 0 or min(w, h) < self.min_size:
                continue
            pts = [(float(row[i]), float(row[i + 1])) for i in range(4, 14, 2)]
            out.append(Landmarks((x0, y0, w, h), float(row[14]), pts[0], pts[1], pts[2], pts[3], pts[4]))
        return out

    def detect(self, image: np.ndarray) -> list[Box]:
        return [f.box for f in self.detect_landmarks(image)]
