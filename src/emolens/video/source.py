"""Frame sources: video files, stream URLs and cameras behind one iterator of :class:`Frame`."""

from __future__ import annotations

import errno
import logging
import numbers
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from emolens.errors import EmolensError, ImageError
from emolens.filekind import is_text_file, sound_file_format

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

    ``max_pixels`` (None: no limit; set it before iterating): every frame must be at most this
    large, or the iteration stops with an :class:`~emolens.errors.ImageError`. A file is checked
    first with :func:`check_frame_sizes` (OpenCV scales every frame to the size the file announced,
    so the frames it returns cannot show a larger one), then each frame as it comes.
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
        self.max_pixels: int | None = None

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
        limit = self.max_pixels
        if limit is not None and self.kind == "file":
            try:
                check_frame_sizes(self.name, limit)
            except ImageError:
                self.close()
                raise
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
            if limit is not None and img.shape[0] * img.shape[1] > limit:
                h, w = img.shape[:2]
                self.close()
                raise ImageError(
                    f"{self.name}: frame {index} is {w}x{h} = {w * h:,} pixels, more than the limit of {limit:,}"
                )
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


def check_frame_sizes(path: str | Path, max_pixels: int) -> None:
    """Raise an :class:`~emolens.errors.ImageError` when a frame of the video file ``path`` is larger
    than ``max_pixels``, whatever size its header announces.

    A header can announce small frames and the stream carry huge ones: OpenCV then decodes each
    at its real size and scales it to the announced one, spending the memory and time of the huge
    frame out of sight. This pass demuxes the file with PyAV and decodes only its key frames (where
    H.264, HEVC, MPEG-4 and MJPEG can change size), with FFmpeg's own ``max_pixels`` set to twice
    the limit (FFmpeg counts the padding of aligned rows), so a frame far over the limit is refused
    before its memory is allocated, and one a little over it is seen once decoded. Files PyAV
    cannot read are left to OpenCV (no error here). VP9 can change size on other frames too: those
    are not seen.
    """
    import av

    from emolens.imagecheck import read_header

    largest = (0, 0)
    refused = False  # FFmpeg refused a frame over max_pixels (its size is then not always known)

    def note(width: int, height: int) -> None:
        nonlocal largest
        if width * height > largest[0] * largest[1]:
            largest = (width, height)

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError):
        return
    with container:
        if not container.streams.video:
            return
        stream = container.streams.video[0]
        codec = stream.codec_context
        note(codec.width, codec.height)
        codec.options = {"max_pixels": str(2 * max_pixels)}
        codec.skip_frame = "NONKEY"
        data = b""
        try:
            for packet in container.demux(stream):
                data = bytes(packet)
                for frame in codec.decode(packet):
                    note(frame.width, frame.height)
                note(codec.width, codec.height)
                if largest[0] * largest[1] > max_pixels:
                    break
        except av.FFmpegError as e:  # EINVAL: a picture size over twice max_pixels; else a damaged file
            if e.errno == errno.EINVAL:
                refused = True
                header = read_header(data) if data else None  # an MJPEG frame tells its size
                if header is not None:
                    note(header.width, header.height)
    w, h = largest
    if w * h > max_pixels:
        raise ImageError(
            f"{path}: the video has frames of {w}x{h} = {w * h:,} pixels, more than the limit of {max_pixels:,}"
        )
    if refused:
        raise ImageError(f"{path}: the video has a frame of more than the limit of {max_pixels:,} pixels")


def check_complete(path: str | Path, tail_s: float = 2.0) -> None:
    """Raise an :class:`~emolens.errors.EmolensError` when the video file ``path`` is truncated: its
    index (MP4, MOV) announces frames up to some time, but the last ``tail_s`` seconds of them
    cannot be decoded (a download or copy cut short keeps the index and loses the end).

    Seeks to the key frame before the last ``tail_s`` seconds and decodes to the end with PyAV: a
    fraction of a second whatever the length. Containers that announce no frame count or duration
    (a stream, WebM, MKV without an index) are not checked here; they end where their data ends.
    """
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError):
        return  # left to OpenCV, which says what it cannot open
    with container:
        if not container.streams.video:
            return
        stream = container.streams.video[0]
        if not stream.frames or not stream.duration or stream.time_base is None:
            return
        start = stream.start_time or 0
        end = start + stream.duration
        rate = stream.average_rate or stream.guessed_rate
        if rate:  # a container without an index (AVI cut short) measures its duration from what is left
            end = max(end, start + int(stream.frames / rate / stream.time_base))
        tail = int(tail_s / stream.time_base)
        target = max(start, end - min(tail, (end - start) // 10 + 1))
        decoded = None
        try:
            container.seek(target, stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.pts is not None:
                    decoded = frame.pts
        except av.FFmpegError:
            decoded = None
        # the last frame starts one frame before the end; B-frames and variable rates move it a little
        slack = max(3 * (end - start) / stream.frames, 0.25 / stream.time_base)
        if decoded is None or decoded < end - slack:
            announced = float((end - start) * stream.time_base)
            raise EmolensError(
                f"cannot use {path}: the video is truncated (it announces {stream.frames} frames, "
                f"{announced:.1f} s, but its end cannot be decoded)"
            )


MAX_CAMERA_INDEX = 2**31 - 1
"""The largest camera number OpenCV takes (a C int)."""


def _camera_index(source: object) -> int | None:
    """The camera number ``source`` names (an integer, or a string of digits that is not a file);
    None for a path or URL. An EmolensError for anything else, and for a number OpenCV cannot
    open safely (a negative one crashes it)."""
    if isinstance(source, bool) or not isinstance(source, str | os.PathLike | numbers.Integral):
        raise EmolensError(
            f"cannot open {type(source).__name__} {source!r:.40}: give a video file, a stream URL "
            "or a camera number (0 for the first camera)"
        )
    if isinstance(source, numbers.Integral):
        index = int(source)
    elif isinstance(source, str) and source.isascii() and source.isdigit() and not Path(source).exists():
        index = int(source, 10)
    else:
        return None
    if not 0 <= index <= MAX_CAMERA_INDEX:
        raise EmolensError(f"no camera number {index}: cameras are numbered from 0 (the first camera) up")
    return index


def open_source(source: Source) -> FrameSource:
    """Open a video file, a stream URL (``rtsp://``, ``http://``...) or a camera index.

    Raises an :class:`EmolensError` saying why when the source cannot be opened or decoded.
    A string of digits that is not an existing file is taken as a camera index; a negative index,
    or a source of another type, is an EmolensError.
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
    if path.is_dir():
        raise EmolensError(
            f"{path} is a folder, not a video file; 'emolens batch {path} --out DIR' analyses every video in it"
        )
    if not path.is_file():
        raise EmolensError(f"{path} is not a video file")
    if cv2.haveImageReader(str(path)):
        raise EmolensError(f"{path} is an image, not a video; use 'emolens image'")
    if is_text_file(path):  # FFmpeg would play a .txt as scrolling text (its "tty" demuxer)
        raise EmolensError(f"{path} is a text file, not a video")
    sound = sound_file_format(path)
    if sound is not None:
        raise EmolensError(f"{path} is a sound file ({sound}), not a video; use 'emolens audio'")
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise EmolensError(f"cannot open {path}: not a video, or a corrupt or truncated one")
    src = FrameSource(cap, str(path), "file")
    src._prime()
    try:
        check_complete(path)
    except EmolensError:
        src.close()
        raise
    log.debug("%s: %dx%d, %s fps, %s frames", path, src.width, src.height, src.fps, src.frame_count)
    return src
