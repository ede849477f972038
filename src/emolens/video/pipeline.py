"""Real-time recognition of every face in a video: detect, track, recognise, smooth.

:func:`stream` turns a video file, stream URL or camera into :class:`FrameResult` objects, one
per frame, each holding the faces of that frame with a stable ``track_id`` and smoothed scores.
:func:`analyze_video` runs a stream to the end and writes the outputs the user asked for.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from emolens.errors import EmolensError
from emolens.labels import valence_of
from emolens.preprocess import Box, align_by_eyes, crop
from emolens.video.smoothing import Smoother, SmoothingOptions
from emolens.video.source import FrameSource, Source, open_source
from emolens.video.tracking import IoUTracker, TrackerOptions

if TYPE_CHECKING:
    from emolens.detect.base import Detector
    from emolens.detect.yunet import Landmarks
    from emolens.runtime.recognizer import Face, Recognizer

log = logging.getLogger(__name__)

DEFAULT_SMOOTHING = SmoothingOptions()

STAGES = ("decode", "detect", "track", "preprocess", "classify", "smooth")
"""The stages a :data:`StageHook` hears about, in the order they run on a frame.

``decode``: read the next frame. ``detect``: the face detector (with the shrinking of
``detect_scale``), on detection frames only. ``track``: match boxes to tracks (or, between
detections, take the tracks' last boxes). ``preprocess``: crop (or align) the faces and make the
model's input. ``classify``: the network, test-time augmentation included. ``smooth``: the moving
average and hysteresis per track, and the :class:`Face` records. The last three run only on frames
with faces; each stage is reported at most once per frame.
"""

StageHook = Callable[[str, float], None]
"""Called as ``hook(stage, seconds)`` after each stage of :data:`STAGES` (see ``stream(timing=...)``)."""


@dataclass(frozen=True)
class FrameResult:
    """The faces of one frame. ``detected`` says whether the detector ran on it (see ``detect_every``).

    Each face's ``scores`` and ``label`` are smoothed over its track; the per-frame values are in
    ``face.extra["raw_scores"]`` and ``face.extra["raw_label"]``.
    """

    index: int
    time: float
    faces: list[Face]
    image: np.ndarray = field(repr=False, compare=False)
    detected: bool = True


def _scale_box(box: Box, factor: float, width: int, height: int) -> Box:
    x0, y0 = max(0, int(round(box[0] * factor))), max(0, int(round(box[1] * factor)))
    x1 = min(width, int(round((box[0] + box[2]) * factor)))
    y1 = min(height, int(round((box[1] + box[3]) * factor)))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


class VideoStream:
    """An iterator of :class:`FrameResult` over an opened source; close it (or use ``with``) when done.

    ``source`` is the :class:`~emolens.video.source.FrameSource` (``fps``, ``frame_count``, ``live``).
    """

    def __init__(
        self,
        source: FrameSource,
        owns_source: bool,
        recognizer: Recognizer,
        detector: Detector,
        *,
        detect_every: int,
        detect_scale: float,
        smoothing: SmoothingOptions | None,
        tracking: TrackerOptions | None,
        max_frames: int | None,
        align: bool,
        timing: StageHook | None = None,
    ) -> None:
        self.source = source
        self._owns = owns_source
        self.recognizer = recognizer
        self.detector = detector
        self.detect_every = detect_every
        self.detect_scale = detect_scale
        self.smoothing = smoothing
        self.max_frames = max_frames
        self.align = align
        self.tracker = IoUTracker(tracking)
        self._smoother = Smoother(smoothing) if smoothing is not None else None
        self._landmarks: dict[int, Landmarks] = {}
        self._timing = timing
        self._gen: Generator[FrameResult, None, None] = self._run()

    def __iter__(self) -> VideoStream:
        return self

    def __next__(self) -> FrameResult:
        return next(self._gen)

    def close(self) -> None:
        self._gen.close()
        if self._owns:
            self.source.close()

    def __enter__(self) -> VideoStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _now(self) -> float:
        """The clock for the timing hook; 0 (no clock read) when there is none."""
        return time.perf_counter() if self._timing is not None else 0.0

    def _lap(self, stage: str, since: float) -> float:
        """Tell the timing hook how long ``stage`` took since ``since``; return the new start."""
        if self._timing is None:
            return 0.0
        now = time.perf_counter()
        self._timing(stage, now - since)
        return now

    def _detect(self, image: np.ndarray) -> tuple[list[Box], list[Landmarks | None]]:
        h, w = image.shape[:2]
        small = image
        if self.detect_scale != 1.0:
            sw, sh = max(1, int(round(w * self.detect_scale))), max(1, int(round(h * self.detect_scale)))
            small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
        with_landmarks: Callable[[np.ndarray], list[Landmarks]] | None = getattr(
            self.detector, "detect_landmarks", None
        )
        inv = 1.0 / self.detect_scale
        lms: list[Landmarks | None]
        if with_landmarks is not None:
            found = with_landmarks(small)
            boxes = [_scale_box(f.box, inv, w, h) for f in found]
            lms = [f.scaled(inv) if inv != 1.0 else f for f in found]
        else:
            boxes = [_scale_box(b, inv, w, h) for b in self.detector.detect(small)]
            lms = [None] * len(boxes)
        keep = [i for i, b in enumerate(boxes) if b[2] > 0 and b[3] > 0]
        return [boxes[i] for i in keep], [lms[i] for i in keep]

    def _crops(self, image: np.ndarray, boxes: Sequence[Box], ids: Sequence[int]) -> list[np.ndarray]:
        margin = self.recognizer.margin
        out = []
        for box, tid in zip(boxes, ids, strict=True):
            lm = self._landmarks.get(tid) if self.align else None
            if lm is not None:
                out.append(align_by_eyes(image, box, lm.left_eye, lm.right_eye, margin))
            else:
                out.append(crop(image, box, margin))
        return out

    def _run(self) -> Generator[FrameResult, None, None]:
        rec = self.recognizer
        since_detect = self.detect_every
        frames = iter(self.source)
        while True:
            t = self._now()
            frame = next(frames, None)
            if frame is None or (self.max_frames is not None and frame.index >= self.max_frames):
                break
            t = self._lap("decode", t)
            image = frame.image
            detected = since_detect >= self.detect_every
            if detected:
                since_detect = 0
                boxes, lms = self._detect(image)
                t = self._lap("detect", t)
                ids = self.tracker.update(boxes)
                for tid, lm in zip(ids, lms, strict=True):
                    if lm is not None:
                        self._landmarks[tid] = lm
                live = {t.track_id for t in self.tracker.state.tracks}
                self._landmarks = {k: v for k, v in self._landmarks.items() if k in live}
                if self._smoother is not None:
                    self._smoother.keep_only(live)
            else:
                visible = self.tracker.visible()
                boxes = [tr.box for tr in visible]
                ids = [tr.track_id for tr in visible]
            t = self._lap("track", t)
            since_detect += 1
            faces: list[Face] = []
            if boxes:
                crops = self._crops(image, boxes, ids)
                if self._timing is None:
                    probs = rec.predict_faces(crops)
                else:  # the same two steps as predict_faces, timed apart
                    x = rec.prepare(crops)
                    t = self._lap("preprocess", t)
                    probs = rec.classify(x)
                    t = self._lap("classify", t)
                for face, tid, p in zip(rec.faces_from_probs(boxes, probs), ids, probs, strict=True):
                    extra: dict[str, Any] = {"raw_label": face.label, "raw_scores": face.scores}
                    if self._smoother is None:
                        faces.append(replace(face, track_id=tid, extra=extra))
                        continue
                    state = self._smoother.update(tid, p)
                    label = rec.labels[state.label]
                    scores = {lab: float(v) for lab, v in zip(rec.labels, state.probs, strict=True)}
                    faces.append(
                        replace(face, track_id=tid, label=label, scores=scores, valence=valence_of(label), extra=extra)
                    )
                self._lap("smooth", t)
            yield FrameResult(frame.index, frame.time_s, faces, image, detected)


def stream(
    source: Source | FrameSource,
    recognizer: Recognizer | None = None,
    detector: str | Detector = "haar",
    detect_every: int = 1,
    smoothing: SmoothingOptions | None = DEFAULT_SMOOTHING,
    *,
    tracking: TrackerOptions | None = None,
    detect_scale: float = 1.0,
    max_frames: int | None = None,
    align: bool = False,
    timing: StageHook | None = None,
) -> VideoStream:
    """Recognise every face of every frame of ``source``; iterate the result for :class:`FrameResult`.

    ``source``: a video file, stream URL, camera index, or an opened FrameSource (left open).
    ``recognizer``: default ``Recognizer()``. ``detector``: a detector name (``"haar"``,
    ``"yunet"``) or object. ``detect_every``: run the detector every K-th frame and, in between,
    recognise the faces in the boxes of the tracks last seen. ``smoothing``: moving average and
    label hysteresis per track (None: raw per-frame scores). ``detect_scale`` (0, 1]: detect on a
    frame shrunk by this factor (faster; small faces are lost). ``max_frames``: stop after this
    many frames. ``align``: rotate each face so its eyes are level (needs a detector with
    landmarks, such as YuNet). ``timing``: called as ``timing(stage, seconds)`` after each stage of
    :data:`STAGES` on each frame (for benchmarks; None, the default, reads no clock).

    The detector and source are opened here, so bad input fails before the first frame.
    """
    if detect_every < 1:
        raise EmolensError(f"detect_every must be 1 or more, got {detect_every}")
    if not 0.0 < detect_scale <= 1.0:
        raise EmolensError(f"detect_scale must lie in (0, 1], got {detect_scale}")
    if max_frames is not None and max_frames < 0:
        raise EmolensError(f"max_frames must be 0 or more, got {max_frames}")
    if recognizer is None:
        from emolens.runtime.recognizer import Recognizer

        recognizer = Recognizer()
    if isinstance(detector, str):
        from emolens.detect import create_detector

        det = create_detector(detector)
    else:
        det = detector
    if align and not hasattr(det, "detect_landmarks"):
        log.warning("align needs a detector with eye landmarks (yunet); faces will not be aligned")
    owns = not isinstance(source, FrameSource)
    src = open_source(source) if not isinstance(source, FrameSource) else source
    return VideoStream(
        src,
        owns,
        recognizer,
        det,
        detect_every=detect_every,
        detect_scale=detect_scale,
        smoothing=smoothing,
        tracking=tracking,
        max_frames=max_frames,
        align=align,
        timing=timing,
    )


# ---------------------------------------------------------------------- end-to-end


VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")
TIMELINE_SUFFIXES = (".png", ".svg", ".pdf")


def check_display() -> None:
    """Raise an EmolensError unless OpenCV can open a window here."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise EmolensError("--show needs a display, and none is set (DISPLAY)")
    try:
        cv2.namedWindow("emolens", cv2.WINDOW_NORMAL)
        cv2.destroyWindow("emolens")
    except cv2.error:
        raise EmolensError(
            "--show needs OpenCV with windows; this one is headless (pip install opencv-python)"
        ) from None


def check_outputs(
    out: str | Path | None = None,
    csv: str | Path | None = None,
    json: str | Path | None = None,
    timeline: str | Path | None = None,
) -> None:
    """Fail now, before any frame is read, if an output could not be written later."""
    from emolens.imageio import check_writable

    named = {"--out": out, "--csv": csv, "--json": json, "--timeline": timeline}
    given = {k: Path(v) for k, v in named.items() if v is not None}
    for flag, path in given.items():
        if path.is_dir():
            raise EmolensError(f"{flag} {path} is a folder; give a file name")
        check_writable(path)
    resolved = [p.resolve() for p in given.values()]
    if len(set(resolved)) != len(resolved):
        raise EmolensError("two outputs are the same file")
    if out is not None and Path(out).suffix.lower() not in VIDEO_SUFFIXES:
        raise EmolensError(f"--out {out}: use a video file name ending in {', '.join(VIDEO_SUFFIXES)}")
    if timeline is not None:
        if Path(timeline).suffix.lower() not in TIMELINE_SUFFIXES:
            raise EmolensError(f"--timeline {timeline}: use a file name ending in {', '.join(TIMELINE_SUFFIXES)}")
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:
            raise EmolensError("--timeline needs matplotlib: pip install matplotlib (or emolens[train])")


def _progress_bar(total: int | None, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="frame", mininterval=1, leave=False)


def _show(result: FrameResult) -> bool:
    """Show the annotated frame; True when the user pressed q or Esc."""
    from emolens.video.draw import draw_faces

    cv2.imshow("emolens", draw_faces(result.image, result.faces))
    return (int(cv2.waitKey(1)) & 0xFF) in (ord("q"), 27)


def _close_windows() -> None:
    with contextlib.suppress(cv2.error):
        cv2.destroyAllWindows()


def analyze_video(
    source: Source,
    recognizer: Recognizer | None = None,
    *,
    detector: str | Detector = "haar",
    detect_every: int = 1,
    detect_scale: float = 1.0,
    smoothing: SmoothingOptions | None = DEFAULT_SMOOTHING,
    max_frames: int | None = None,
    align: bool = False,
    out: str | Path | None = None,
    csv: str | Path | None = None,
    json: str | Path | None = None,
    timeline: str | Path | None = None,
    show: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Run :func:`stream` to the end, write the outputs asked for, and return the summary.

    Every output is checked before the first frame is read and written under a temporary name
    that is moved into place only at the end: a failure leaves no partial file. Interrupting a
    live source (Ctrl+C, or ``q`` in the ``show`` window) ends it normally; interrupting a file
    writes nothing.
    """
    from emolens.video.outputs import VideoOutputs, summarize

    check_outputs(out, csv, json, timeline)
    if show:
        check_display()
    vs = stream(
        source,
        recognizer,
        detector,
        detect_every,
        smoothing,
        detect_scale=detect_scale,
        max_frames=max_frames,
        align=align,
    )
    rec = vs.recognizer
    src = vs.source
    total = src.frame_count
    if max_frames is not None:
        total = min(total, max_frames) if total is not None else max_frames
    stopped = False
    with vs:
        outputs = VideoOutputs(rec.labels, fps=src.fps or 30.0, out=out, csv=csv)
        bar = _progress_bar(total, progress and not src.live)
        try:
            try:
                for result in vs:
                    outputs.add(result)
                    if bar is not None:
                        bar.update(1)
                    if show and _show(result):
                        stopped = True
                        break
            except KeyboardInterrupt:
                if not src.live:
                    raise
                stopped = True
            if stopped:
                log.info("stopped after %d frames", outputs.log.frames)
            summary = summarize(
                outputs.log,
                source=src.name,
                fps=src.fps,
                model=rec.meta.name,
                detector=detector if isinstance(detector, str) else type(detector).__name__,
            )
            outputs.commit(json=json, timeline=timeline, summary=summary)
        except BaseException:
            outputs.discard()
            raise
        finally:
            if bar is not None:
                bar.close()
            if show:
                _close_windows()
    for t in summary["tracks"]:
        log.info(
            "track %d: %s %.0f%% of %d frames (%.1f-%.1f s)",
            t["track_id"],
            t["dominant"],
            100 * t["share"][t["dominant"]],
            t["frames"],
            t["first_s"],
            t["last_s"],
        )
    return summary
