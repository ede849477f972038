"""One frame after another: the per-frame work of real-time recognition, with its options.

:class:`FrameAnalyzer` takes the frames of one stream in order and returns a :class:`FrameResult`
for each: faces found by the detector (every ``detect_every``-th frame) or followed from the
previous frame, kept under stable track ids, recognised, and smoothed per track. It reads no
video itself; :func:`emolens.video.pipeline.stream` drives it over files and cameras.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from emolens.errors import EmolensError
from emolens.labels import valence_or_neutral
from emolens.preprocess import Box, align_by_eyes, crop, to_gray
from emolens.video.follow import FollowOptions, follow_face
from emolens.video.smoothing import Smoother, SmoothingOptions
from emolens.video.tracking import IoUTracker, TrackerOptions

if TYPE_CHECKING:
    from emolens.detect.base import Detector
    from emolens.detect.yunet import Landmarks
    from emolens.runtime.recognizer import Face, Recognizer

STAGES = ("decode", "detect", "track", "follow", "preprocess", "classify", "smooth")
"""The stages a :data:`StageHook` hears about, in the order they run on a frame.

``decode``: read the next frame. ``detect``: the full-frame face detector (with the shrinking of
``detect_scale``), on detection frames only. ``track``: match its boxes to tracks. ``follow``:
between detection frames, find each face seen on the previous frame near its last box (template
matching, see :mod:`emolens.video.follow`). ``preprocess``: crop
(or align) the faces and make the model's input. ``classify``: the network, test-time augmentation
included. ``smooth``: the moving average and hysteresis per track, and the :class:`Face` records.
The last three run only on frames with faces; each stage is reported at most once per frame.
"""

StageHook = Callable[[str, float], None]
"""Called as ``hook(stage, seconds)`` after each stage of :data:`STAGES` (see ``stream(timing=...)``)."""


@dataclass(frozen=True)
class StreamOptions:
    """How :func:`stream` finds, follows and smooths faces. The defaults are the real-time settings.

    By default the detector scans every 10th frame shrunk by half, and faces are followed in
    between: about 10x the frame rate of a full-size scan on every frame, finding the same faces
    on the shared clips, except faces under about 60 pixels, which need ``detect_scale=1`` (see
    ``benchmarks/realtime_settings.py`` and the README).

    ``detect_every``: run the full-frame detector on every K-th frame; in between, faces are
    followed (or, with ``follow=None``, kept in their last boxes). ``detect_scale`` (0, 1]: run it on
    the frame shrunk by this factor (faster; faces under ``min_size / detect_scale`` pixels are
    lost). ``follow``: on the frames in between, find each face near its last box by template
    matching (None: off). ``smoothing``: moving average and label
    hysteresis per track (None: raw per-frame scores). ``tracking``: the IoU tracker's settings.
    ``align``: rotate each face so its eyes are level (needs a detector with landmarks, such as
    YuNet). ``max_frames``: stop after this many frames.
    """

    detect_every: int = 10
    detect_scale: float = 0.5
    follow: FollowOptions | None = FollowOptions()
    smoothing: SmoothingOptions | None = SmoothingOptions()
    tracking: TrackerOptions = TrackerOptions()
    align: bool = False
    max_frames: int | None = None

    def __post_init__(self) -> None:
        if self.detect_every < 1:
            raise EmolensError(f"detect_every must be 1 or more, got {self.detect_every}")
        if not 0.0 < self.detect_scale <= 1.0:
            raise EmolensError(f"detect_scale must lie in (0, 1], got {self.detect_scale}")
        if self.max_frames is not None and self.max_frames < 0:
            raise EmolensError(f"max_frames must be 0 or more, got {self.max_frames}")

    def with_changes(self, **changes: Any) -> StreamOptions:
        """A copy with some fields changed; an unknown name is an EmolensError listing the valid ones."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            valid = ", ".join(f.name for f in fields(self))
            raise EmolensError(f"unknown stream option {', '.join(unknown)}; valid: {valid}")
        return replace(self, **changes) if changes else self


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


class FrameAnalyzer:
    """Faces of one frame after another: detect (or follow), track, recognise and smooth.

    Feed it the frames of one video or camera in order with :meth:`process`; it keeps the tracks,
    their smoothed scores and the previous frame between calls. :func:`stream` drives one over a
    file or camera; a server can drive one per live connection. Not thread-safe: one per stream.
    """

    def __init__(
        self,
        recognizer: Recognizer,
        detector: Detector,
        options: StreamOptions | None = None,
        timing: StageHook | None = None,
    ) -> None:
        self.recognizer = recognizer
        self.detector = detector
        self.options = options or StreamOptions()
        self.tracker = IoUTracker(self.options.tracking)
        self._smoother = Smoother(self.options.smoothing) if self.options.smoothing is not None else None
        self._landmarks: dict[int, Landmarks] = {}
        self.timing = timing
        self._since_detect = self.options.detect_every
        self._previous: np.ndarray | None = None
        self._shape: tuple[int, ...] | None = None

    def reset(self) -> None:
        """Forget every track (e.g. after a scene cut or a seek): the next frame is detected afresh."""
        self.tracker.reset()
        if self._smoother is not None:
            self._smoother.keep_only(set())
        self._landmarks = {}
        self._since_detect = self.options.detect_every
        self._previous = None

    def process(self, image: np.ndarray, index: int = 0, time_s: float = 0.0) -> FrameResult:
        """The faces of ``image`` (BGR or gray), the next frame of the stream, at ``index`` / ``time_s``."""
        rec = self.recognizer
        opts = self.options
        t = self._now()
        if self._shape is not None and image.shape[:2] != self._shape:
            self.reset()  # another camera or resolution: the old boxes mean nothing here
        self._shape = image.shape[:2]
        detected = self._since_detect >= opts.detect_every
        gray = to_gray(image) if opts.follow is not None else None
        if detected:
            self._since_detect = 0
            found, lms = self._detect(image)
            t = self._lap("detect", t)
            ids = self.tracker.update(found)
            for tid, lm in zip(ids, lms, strict=True):
                if lm is not None:
                    self._landmarks[tid] = lm
            t = self._lap("track", t)
        elif gray is not None and self._previous is not None:
            self._follow(self._previous, gray)
            t = self._lap("follow", t)
        self._previous = gray
        self._forget_dead_tracks()
        self._since_detect += 1
        visible = self.tracker.visible()
        boxes = [tr.box for tr in visible]
        ids = [tr.track_id for tr in visible]
        faces: list[Face] = []
        if boxes:
            crops = self._crops(image, boxes, ids)
            if self.timing is None:
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
                    replace(face, track_id=tid, label=label, scores=scores, valence=valence_or_neutral(label), extra=extra)
                )
            self._lap("smooth", t)
        return FrameResult(index, time_s, faces, image, detected)

    # ------------------------------------------------------------------ internals

    def _now(self) -> float:
        """The clock for the timing hook; 0 (no clock read) when there is none."""
        return time.perf_counter() if self.timing is not None else 0.0

    def _lap(self, stage: str, since: float) -> float:
        """Tell the timing hook how long ``stage`` took since ``since``; return the new start."""
        if self.timing is None:
            return 0.0
        now = time.perf_counter()
        self.timing(stage, now - since)
        return now

    def _detect(self, image: np.ndarray) -> tuple[list[Box], list[Landmarks | None]]:
        h, w = image.shape[:2]
        scale = self.options.detect_scale
        small = image
        if scale != 1.0:
            sw, sh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
            small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
        with_landmarks: Callable[[np.ndarray], list[Landmarks]] | None = getattr(
            self.detector, "detect_landmarks", None
        )
        inv = 1.0 / scale
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

    def _follow(self, previous: np.ndarray, current: np.ndarray) -> None:
        """Move each face seen on the previous frame to where it is now (or count a miss)."""
        follow = self.options.follow
        assert follow is not None
        moved: dict[int, Box | None] = {}
        for tr in self.tracker.state.visible():
            box = follow_face(previous, current, tr.box, follow)
            moved[tr.track_id] = box
            lm = self._landmarks.get(tr.track_id)
            if lm is not None and box is not None:
                self._landmarks[tr.track_id] = _move_landmarks(lm, tr.box, box)
        self.tracker.move(moved)

    def _crops(self, image: np.ndarray, boxes: Sequence[Box], ids: Sequence[int]) -> list[np.ndarray]:
        margin = self.recognizer.margin
        out = []
        for box, tid in zip(boxes, ids, strict=True):
            lm = self._landmarks.get(tid) if self.options.align else None
            if lm is not None:
                out.append(align_by_eyes(image, box, lm.left_eye, lm.right_eye, margin))
            else:
                out.append(crop(image, box, margin))
        return out

    def _forget_dead_tracks(self) -> None:
        live = {t.track_id for t in self.tracker.state.tracks}
        if len(self._landmarks) > len(live) or any(k not in live for k in self._landmarks):
            self._landmarks = {k: v for k, v in self._landmarks.items() if k in live}
        if self._smoother is not None:
            self._smoother.keep_only(live)


def _move_landmarks(lm: Landmarks, old: Box, new: Box) -> Landmarks:
    """``lm`` carried along with its face from box ``old`` to box ``new`` (shift and scale)."""
    k = new[2] / old[2] if old[2] else 1.0

    def p(q: tuple[float, float]) -> tuple[float, float]:
        return (new[0] + (q[0] - old[0]) * k, new[1] + (q[1] - old[1]) * k)

    return replace(
        lm,
        box=new,
        right_eye=p(lm.right_eye),
        left_eye=p(lm.left_eye),
        nose=p(lm.nose),
        mouth_right=p(lm.mouth_right),
        mouth_left=p(lm.mouth_left),
    )
