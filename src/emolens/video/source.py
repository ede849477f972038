"""Frame sources: video files, stream URLs and cameras behind one iterator of :class:`Frame`."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from emolens.errors import EmolensError

log = logging.getLogger(__name__)

Source = str | int | Path


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its 0-based index, its time in seconds from the start, BGR pixels."""

    index: int
    time_s: float
    image: np.ndarray = field(repr=False, compare=False)


class FrameSource:
    """An opened video: iterate it for :class:`Frame` objects; close it (or use ``with``) when done.

    ``fps`` and ``frame_count`` are what the container announces (None when unknown, as for
    cameras); a truncated file simply yields fewer frames than announced.
    """

    def __init__(self, cap: cv2.VideoCapture, name: str, kind: str) -> None:
        self._cap = cap
        self.name = name
        self.kind = kind
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps: float | None = fps if 0.0 < fps < 1000.0 else None
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count: int | None = count if kind == "file" and count > 0 else None
        self.width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        self.height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        self._first: np.ndarray | None = None
        self._started = False
        self._closed = False

    @property
    def live(self) -> bool:
        """True for cameras and streams: frames keep coming until the source is closed."""
        return self.kind != "file"

    @property
    def duration_s(self) -> float | None:
        if self.frame_count is None or self.fps is None:
            return None
        return self.frame_count / self.fps

    def _prime(self) -> None:
        """Decode the first frame now, so that an undecodable source fails at open time."""
        ok, img = self._cap.read()
        if not ok or img is None:
            self.close()
            raise EmolensError(f"cannot read frames from {self.name}: not a video, or a corrupt or truncated one")
        self._first = img
        if not self.width or not self.height:
            self.height, self.width = img.shape[:2]

    def __iter__(self) -> Iterator[Frame]:
        if self._started:
            raise EmolensError(f"{self.name} can be read only once; open it again")
        self._started = True
        return self._frames()

    def _frames(self) -> Iterator[Frame]:
        t0 = time.monotonic()
        index = 0
        img = self._first
        self._first = None
        while not self._closed:
            if img is None:
                try:
                    ok, img = self._cap.read()
                except cv2.error as e:  # a damaged stream ends the video, it does not crash the caller
                    log.warning("%s: decoding stopped at frame %d: %s", self.name, index, str(e).strip())
                    break
                if not ok or img is None:
                    break
            t = index / self.fps if self.fps and not self.live else time.monotonic() - t0
            yield Frame(index, t, img)
            img = None
            index += 1
        if self.frame_count is not None and 0 < index < self.frame_count - 1 and not self._closed:
            log.warning("%s: the file announces %d frames but ends after %d", self.name, self.frame_count, index)
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._cap.release()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _camera_index(source: Source) -> int | None:
    if isinstance(source, bool):
        return None
    if isinstance(source, int):
        return source
    if isinstance(source, str) and source.isdigit() and not Path(source).exists():
        return int(source)
    return None


def is_text_file(path: Path, probe: int = 4096) -> bool:
    """True when the first ``probe`` bytes of ``path`` are UTF-8 text without NUL bytes (no video is)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(probe)
    except OSError as e:
        raise EmolensError(f"cannot read {path}: {e.strerror}") from None
    if not head or b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start >= len(head) - 3  # a multi-byte character cut by the probe is still text
    return True


def open_source(source: Source) -> FrameSource:
    """Open a video file, a stream URL (``rtsp://``, ``http://``...) or a camera index.

    Raises an :class:`EmolensError` saying why when the source cannot be opened or decoded.
    A string of digits that is not an existing file is taken as a camera index.
    """
    index = _camera_index(source)
    if index is not None:
        cap = cv2.VideoCapture(index)
        if not cap.isOpened():
            cap.release()
            raise EmolensError(f"cannot open camera {index}: no such camera, or it is in use")
        src = FrameSource(cap, f"camera {index}", "camera")
        src._prime()
        return src
    text = str(source)
    if "://" in text:
        cap = cv2.VideoCapture(text, cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise EmolensError(f"cannot open the stream {text}")
        src = FrameSource(cap, text, "stream")
        src._prime()
        return src
    path = Path(text)
    if not path.exists():
        raise EmolensError(f"video not found: {path}")
    if not path.is_file():
        raise EmolensError(f"{path} is not a video file")
    if cv2.haveImageReader(str(path)):
        raise EmolensError(f"{path} is an image, not a video; use 'emolens image'")
    if is_text_file(path):  # FFmpeg would play a .txt as scrolling text (its "tty" demuxer)
        raise EmolensError(f"{path} is a text file, not a video")
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise EmolensError(f"cannot open {path}: not a video, or a corrupt or truncated one")
    src = FrameSource(cap, str(path), "file")
    src._prime()
    log.debug("%s: %dx%d, %s fps, %s frames", path, src.width, src.height, src.fps, src.frame_count)
    return src
