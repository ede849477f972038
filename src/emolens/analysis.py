"""The one analysis core: detect (or take the caller's boxes), crop, classify, track and smooth.

Every consumer goes through here: still images (:func:`analyze_faces`, the CLI's ``image``, the
web app's ``POST /api/v1/analyze``), video streams (:class:`Analyzer`, driven over files and
cameras by :func:`emolens.video.pipeline.stream`), the web app's live and job paths, and later
the relaxation controller, fusion and batch runs. How a face is cropped for the model (margin,
squaring, interpolation) comes from the model file (:class:`~emolens.runtime.metadata.ModelMeta`).
Callers may bring their own face boxes (as face_recognition's ``known_face_locations``), so any
detector can be used.

Faces of one image or frame are numbered from the left (``Face.number``, from 1), the number
drawn on each box; in a stream ``Face.track_id`` also stays the same from frame to frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from emolens.errors import ImageError
from emolens.labels import valence_or_neutral
from emolens.preprocess import align_by_eyes, check_image_array, crop_face, to_gray
from emolens.types import Box, Face, FrameResult, StreamOptions
from emolens.video.follow import follow_face
from emolens.video.smoothing import Smoother
from emolens.video.tracking import IoUTracker

if TYPE_CHECKING:
    from emolens.detect.base import Detector
    from emolens.detect.yunet import Landmarks
    from emolens.runtime.recognizer import Recognizer

__all__ = [
    "STAGES",
    "Analyzer",
    "StageHook",
    "analyze_faces",
    "crop_faces",
    "detect_faces",
    "faces_from_probs",
    "number_faces",
]

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


def _check_image(image: np.ndarray) -> None:
    check_image_array(image, "the analyzer")


MAX_BOX_RATIO = 4
"""A caller's face box may reach past the image (its crop is padded), but not be more than this
many times the image's size: the padded crop would cost memory for nothing."""


def _check_boxes(boxes: Sequence[Box], width: int, height: int) -> list[Box]:
    out: list[Box] = []
    for b in boxes:
        try:
            x, y, w, h = (int(v) for v in b)
        except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite coordinate
            raise ImageError(f"a face box is (x, y, w, h) in whole pixels, got {b!r}") from None
        if w <= 0 or h <= 0:
            raise ImageError(f"face box {tuple(b)} is empty: its width and height must be 1 pixel or more")
        if x >= width or y >= height or x + w <= 0 or y + h <= 0:
            raise ImageError(f"face box {tuple(b)} lies outside the {width}x{height} image")
        if max(w, h) > MAX_BOX_RATIO * max(width, height):
            raise ImageError(
                f"face box {tuple(b)} is more than {MAX_BOX_RATIO} times the size of the {width}x{height} image"
            )
        out.append((x, y, w, h))
    return out


def detect_faces(image: np.ndarray, detector: Detector, scale: float = 1.0) -> tuple[list[Box], list[Landmarks | None]]:
    """Boxes (and eye landmarks, where the detector gives them) of every face in ``image``.

    ``scale`` (0, 1]: run the detector on the image shrunk by this factor; boxes come back in
    the full image's pixels.
    """
    h, w = image.shape[:2]
    small = image
    if scale != 1.0:
        sw, sh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
        small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
    with_landmarks: Callable[[np.ndarray], list[Landmarks]] | None = getattr(detector, "detect_landmarks", None)
    inv = 1.0 / scale
    lms: list[Landmarks | None]
    if with_landmarks is not None:
        found = with_landmarks(small)
        boxes = [scale_box(f.box, inv, inv, w, h) for f in found]
        lms = [f.scaled(inv) if inv != 1.0 else f for f in found]
    else:
        boxes = [scale_box(b, inv, inv, w, h) for b in detector.detect(small)]
        lms = [None] * len(boxes)
    keep = [i for i, b in enumerate(boxes) if b[2] > 0 and b[3] > 0]
    return [boxes[i] for i in keep], [lms[i] for i in keep]


def crop_faces(
    image: np.ndarray,
    boxes: Sequence[Box],
    recognizer: Recognizer,
    landmarks: Sequence[Landmarks | None] | None = None,
) -> list[np.ndarray]:
    """The face crops the recogniser's model expects: its margin and squaring (from the model file)
    around each box, rotated so the eyes are level where ``landmarks`` are given."""
    meta = recognizer.meta
    out = []
    for i, box in enumerate(boxes):
        lm = landmarks[i] if landmarks is not None else None
        if lm is not None:
            out.append(
                align_by_eyes(
                    image, _square(box) if meta.crop_square else box, lm.left_eye, lm.right_eye, meta.crop_margin
                )
            )
        else:
            out.append(crop_face(image, box, meta.crop_margin, meta.crop_square))
    return out


def _square(box: Box) -> Box:
    x, y, w, h = box
    s = max(w, h)
    return x + (w - s) // 2, y + (h - s) // 2, s, s


def faces_from_probs(labels: Sequence[str], boxes: Sequence[Box], probs: np.ndarray) -> list[Face]:
    """Wrap boxes and probability rows (columns in ``labels`` order) into :class:`Face` records."""
    faces = []
    for box, p in zip(boxes, probs, strict=True):
        label = labels[int(np.argmax(p))]
        scores = {lab: float(v) for lab, v in zip(labels, p, strict=True)}
        faces.append(
            Face(
                box=(int(box[0]), int(box[1]), int(box[2]), int(box[3])),
                label=label,
                scores=scores,
                valence=valence_or_neutral(label),
            )
        )
    return faces


def number_faces(faces: Sequence[Face]) -> list[Face]:
    """The faces ordered from the left (then the top), each with its ``number`` from 1."""
    ordered = sorted(faces, key=lambda f: (f.box[0] + f.box[2] / 2.0, f.box[1]))
    return [replace(f, number=i) for i, f in enumerate(ordered, 1)]


def analyze_faces(
    image: np.ndarray,
    recognizer: Recognizer,
    detector: Detector | str | None = None,
    boxes: Sequence[Box] | None = None,
    *,
    align: bool = False,
) -> list[Face]:
    """Find every face of a still image (BGR or gray uint8) and recognise its emotion.

    Pass ``boxes`` (x, y, w, h) to use faces found elsewhere instead of ``detector``; one of the two
    is needed; ``detector`` may be a detector or its name (``"haar"``, ``"yunet"``). ``align``: level the eyes first (needs a detector with landmarks, such as YuNet).
    Faces come back numbered from the left.
    """
    _check_image(image)
    h, w = image.shape[:2]
    lms: list[Landmarks | None] | None = None
    if boxes is not None:
        found = _check_boxes(boxes, w, h)
    elif detector is not None:
        if isinstance(detector, str):  # a name, as stream() takes: "haar", "yunet"
            from emolens.detect import create_detector

            detector = create_detector(detector)
        found, all_lms = detect_faces(image, detector)
        lms = all_lms if align else None
    else:
        raise ImageError("analyze_faces needs a detector or the face boxes")
    if not found:
        return []
    probs = recognizer.predict_faces(crop_faces(image, found, recognizer, lms))
    return number_faces(faces_from_probs(recognizer.labels, found, probs))


def scale_box(box: Box, sx: float, sy: float, width: int, height: int) -> Box:
    """A box found in a resized image -> the same box in the ``width`` x ``height`` image, ``sx`` and
    ``sy`` the factors from the one's pixels to the other's (clipped to it; 0 wide when outside)."""
    x0, y0 = max(0, int(round(box[0] * sx))), max(0, int(round(box[1] * sy)))
    x1 = min(width, int(round((box[0] + box[2]) * sx)))
    y1 = min(height, int(round((box[1] + box[3]) * sy)))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def faces_at_scale(faces: Sequence[Face], sx: float, sy: float, width: int, height: int) -> list[Face]:
    """``faces`` found in a reduced image, with their boxes in the full ``width`` x ``height`` image's
    pixels (:func:`scale_box`); themselves when the factors are 1."""
    if (sx, sy) == (1.0, 1.0):
        return list(faces)
    return [replace(face, box=scale_box(face.box, sx, sy, width, height)) for face in faces]


class Analyzer:
    """A detector, a recogniser and the options that join them: still images, or the frames of a stream.

    :meth:`image` analyses one still image (no tracking or smoothing; the same as
    :func:`analyze_faces`). Feed :meth:`process` the frames of one video or camera in order: faces
    are detected (every ``detect_every``-th frame) or followed from the previous frame, kept under
    stable track ids (confirmed tracks only), recognised and smoothed per track; it keeps the
    tracks, their smoothed scores and the previous frame between calls. :func:`stream` drives one
    over a file or camera; a server drives one per live connection. Not thread-safe: one per stream.

    ``detector`` may be None when the caller always brings the boxes (``boxes=`` of
    :meth:`image` and :meth:`process`).
    """

    def __init__(
        self,
        recognizer: Recognizer,
        detector: Detector | None,
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

    def image(self, image: np.ndarray, boxes: Sequence[Box] | None = None) -> list[Face]:
        """The faces of one still image, numbered from the left (see :func:`analyze_faces`)."""
        return analyze_faces(image, self.recognizer, self.detector, boxes, align=self.options.align)

    def process(
        self, image: np.ndarray, index: int = 0, time_s: float = 0.0, boxes: Sequence[Box] | None = None
    ) -> FrameResult:
        """The faces of ``image`` (BGR or gray), the next frame of the stream, at ``index`` / ``time_s``.

        ``boxes``: the faces of this frame found by the caller's own detector; they replace the
        detector on this frame (the frame counts as a detection frame).
        """
        _check_image(image)
        rec = self.recognizer
        opts = self.options
        t = self._now()
        if self._shape is not None and image.shape[:2] != self._shape:
            self.reset()  # another camera or resolution: the old boxes mean nothing here
        self._shape = image.shape[:2]
        # a new face waiting for confirmation is looked for again on the next frame, so it shows
        # after min_hits frames rather than min_hits * detect_every
        detected = boxes is not None or (
            self.detector is not None and (self._since_detect >= opts.detect_every or self.tracker.has_tentative())
        )
        gray = to_gray(image) if opts.follow is not None else None
        if detected:
            self._since_detect = 0
            if boxes is not None:
                found = _check_boxes(boxes, image.shape[1], image.shape[0])
                lms: list[Landmarks | None] = [None] * len(found)
            else:
                assert self.detector is not None
                found, lms = detect_faces(image, self.detector, opts.detect_scale)
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
        seen = [tr.box for tr in visible]
        ids = [tr.track_id for tr in visible]
        faces: list[Face] = []
        if seen:
            lms_now = [self._landmarks.get(tid) for tid in ids] if opts.align else None
            crops = crop_faces(image, seen, rec, lms_now)
            if self.timing is None:
                probs = rec.predict_faces(crops)
            else:  # the same two steps as predict_faces, timed apart
                x = rec.prepare(crops)
                t = self._lap("preprocess", t)
                probs = rec.classify(x)
                t = self._lap("classify", t)
            for face, tid, p in zip(faces_from_probs(rec.labels, seen, probs), ids, probs, strict=True):
                extra: dict[str, Any] = {"raw_label": face.label, "raw_scores": face.scores}
                if self._smoother is None:
                    faces.append(replace(face, track_id=tid, extra=extra))
                    continue
                state = self._smoother.update(tid, p, time_s)
                label = rec.labels[state.label]
                scores = {lab: float(v) for lab, v in zip(rec.labels, state.probs, strict=True)}
                faces.append(
                    replace(
                        face, track_id=tid, label=label, scores=scores, valence=valence_or_neutral(label), extra=extra
                    )
                )
            self._lap("smooth", t)
        return FrameResult(index, time_s, number_faces(faces), image, detected)

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
