"""The records and options every part of emolens passes around: light (no NumPy, OpenCV or ONNX Runtime).

:class:`Face` is one recognised face and :class:`FrameResult` the faces of one frame. The option
dataclasses (:class:`StreamOptions` and the :class:`TrackerOptions`, :class:`SmoothingOptions` and
:class:`FollowOptions` inside it) say how the analyzer (:mod:`emolens.analysis`) finds, follows,
tracks and smooths faces; each checks its values when made and raises an
:class:`~emolens.errors.EmolensError` naming the bad one. The CLI builds its options from these
fields, so the command line and the Python API take the same names.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from emolens.errors import EmolensError

if TYPE_CHECKING:
    import numpy as np

Box = tuple[int, int, int, int]
"""A face box (x, y, w, h) in pixels."""


def _check_whole(name: str, value: object, least: int) -> None:
    """A whole number of at least ``least`` (NumPy integers too; not a bool, a float or NaN)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise EmolensError(f"{name} must be a whole number of {least} or more, got {value!r}")


@dataclass(frozen=True)
class Face:
    """One recognised face: box (x, y, w, h), top label, probabilities and valence.

    ``track_id`` is the face's stable id across the frames of a stream (None for still images);
    ``number`` its place on the image counted from the left, from 1 (the number drawn on its box).
    """

    box: Box
    label: str
    scores: dict[str, float]
    valence: str
    track_id: int | None = None
    number: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def confidence(self) -> float:
        return self.scores[self.label]

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "box": list(self.box),
            "label": self.label,
            "confidence": self.confidence,
            "scores": self.scores,
            "valence": self.valence,
            "track_id": self.track_id,
        }


@dataclass(frozen=True)
class FrameResult:
    """The faces of one frame. ``detected`` says whether the detector ran on it (see ``detect_every``).

    Each face's ``scores`` and ``label`` are smoothed over its track; the per-frame values are in
    ``face.extra["raw_scores"]`` and ``face.extra["raw_label"]``. Only confirmed tracks are listed
    (see :class:`TrackerOptions`).
    """

    index: int
    time: float
    faces: list[Face]
    image: np.ndarray = field(repr=False, compare=False)
    detected: bool = True


@dataclass(frozen=True)
class TrackerOptions:
    """How face boxes become tracks (see :mod:`emolens.video.tracking`).

    ``iou_threshold``: least overlap (intersection over union) for a box to continue a track.
    ``max_missed``: frames a confirmed track survives without a matching box before its id is
    retired. ``min_hits``: detector matches a new track needs before it is confirmed, that is
    reported (its first match included; the frames a face is only followed do not count; 1 =
    at once). A new track dies at its first miss. ``duplicate_overlap``: two boxes of one frame
    that cover this fraction of the smaller one are one face: only one is kept, and a new track
    this much over a confirmed face is dropped (distinct faces overlap far less: a face hidden
    that much is not detected).
    """

    iou_threshold: float = field(default=0.3, metadata={"help": "least overlap (IoU) for a box to continue a track"})
    max_missed: int = field(default=10, metadata={"help": "frames a track survives without a matching box"})
    min_hits: int = field(default=3, metadata={"help": "detections a new track needs before it is reported"})
    duplicate_overlap: float = field(
        default=0.4, metadata={"help": "share of the smaller of two boxes covered for them to be one face"}
    )

    def __post_init__(self) -> None:
        if not 0.0 < self.iou_threshold <= 1.0:
            raise EmolensError(f"iou_threshold must lie in (0, 1], got {self.iou_threshold}")
        _check_whole("max_missed", self.max_missed, 0)
        _check_whole("min_hits", self.min_hits, 1)
        if not 0.0 < self.duplicate_overlap <= 1.0:
            raise EmolensError(f"duplicate_overlap must lie in (0, 1], got {self.duplicate_overlap}")


@dataclass(frozen=True)
class SmoothingOptions:
    """How each track's emotion is steadied over time, in seconds of the stream (see :mod:`emolens.video.smoothing`).

    Everything is measured in seconds, so a file at 30 frames a second and the live page sending
    5 to 10 are smoothed alike. ``half_life_s``: the scores are a moving average in which a
    frame's weight halves every this many seconds (0 = each frame's own scores). ``confirm_s``: a
    new label replaces the shown one once it has been the top class of the frames for this long
    (a frame showing the shown label again takes as much back; 0 = at once): shorter runs are
    flicker and are not shown. ``margin``: a frame counts for the new label only when its score
    beats the shown label's by this much. ``alpha``: below 1, the smoothing of earlier versions
    (0.35), per frame whatever the time between frames: the newest frame weighs ``alpha`` in the
    average, and the label follows the average's top class by ``margin`` (after ``confirm_s``);
    1 = unused.
    """

    half_life_s: float = field(
        default=0.25, metadata={"help": "seconds in which a frame's weight in the average halves (0: off)"}
    )
    confirm_s: float = field(
        default=0.3, metadata={"help": "seconds a new emotion must lead before it is shown (0: at once)"}
    )
    margin: float = field(default=0.02, metadata={"help": "lead a frame's new emotion needs to count"})
    alpha: float = field(
        default=1.0, metadata={"help": "below 1: the old per-frame average, newest frame's weight (1: unused)"}
    )

    def __post_init__(self) -> None:
        if not 0.0 <= self.half_life_s <= 60.0:
            raise EmolensError(f"smoothing half_life_s must lie in [0, 60] seconds, got {self.half_life_s}")
        if not 0.0 <= self.confirm_s <= 60.0:
            raise EmolensError(f"smoothing confirm_s must lie in [0, 60] seconds, got {self.confirm_s}")
        if not 0.0 <= self.margin < 1.0:
            raise EmolensError(f"smoothing margin must lie in [0, 1), got {self.margin}")
        if not 0.0 < self.alpha <= 1.0:
            raise EmolensError(f"smoothing alpha must lie in (0, 1], got {self.alpha}")


NO_SMOOTHING = SmoothingOptions(half_life_s=0.0, confirm_s=0.0, margin=0.0)


@dataclass(frozen=True)
class FollowOptions:
    """``pad``: search window margin on each side, as a fraction of the face size (the face can move
    this far between two frames). ``face_px``: faces are matched shrunk to about this width (never
    enlarged). ``min_score``: least correlation (-1 to 1) for the face to count as found."""

    pad: float = field(default=0.5, metadata={"help": "search window margin, as a fraction of the face size"})
    face_px: int = field(default=32, metadata={"help": "faces are matched shrunk to about this width"})
    min_score: float = field(default=0.6, metadata={"help": "least correlation for the face to count as found"})

    def __post_init__(self) -> None:
        if not 0.0 < self.pad <= 10.0:  # also refuses NaN
            raise EmolensError(f"pad must lie in (0, 10], got {self.pad}")
        _check_whole("face_px", self.face_px, 8)
        if not -1.0 <= self.min_score <= 1.0:
            raise EmolensError(f"min_score must lie in [-1, 1], got {self.min_score}")


@dataclass(frozen=True)
class DetectorOptions:
    """How sensitive the face detector is: the trade between faces missed and non-faces taken for
    faces. The defaults are OpenCV's usual settings; each field applies to one detector and the
    other detector ignores it.

    ``haar_min_neighbors``: how many overlapping detections of the Haar cascade a face needs (higher:
    fewer false faces in busy pictures, and more faces missed). ``haar_scale_factor``: the step
    between the image scales it scans (closer to 1: more faces found, slower). ``haar_min_size``: the
    smallest face it looks for, in pixels of the image it scans (a video's frame shrunk by
    ``StreamOptions.detect_scale``). ``yunet_score``: YuNet's confidence threshold, 0-1.
    """

    haar_min_neighbors: int = field(
        default=5,
        metadata={
            "help": "overlapping detections a Haar face needs; higher: fewer false faces, more missed",
            "metavar": "N",
        },
    )
    haar_scale_factor: float = field(
        default=1.1,
        metadata={
            "help": "step between the scales the Haar cascade scans, in (1, 2]; smaller: finds more, slower",
            "metavar": "S",
        },
    )
    haar_min_size: int = field(
        default=30, metadata={"help": "smallest face the Haar cascade looks for, in pixels", "metavar": "PX"}
    )
    yunet_score: float = field(
        default=0.7, metadata={"help": "YuNet's confidence threshold, 0-1; higher: fewer false faces", "metavar": "P"}
    )

    def __post_init__(self) -> None:
        _check_whole("haar_min_neighbors", self.haar_min_neighbors, 0)
        _check_whole("haar_min_size", self.haar_min_size, 1)
        if not 1.0 < self.haar_scale_factor <= 2.0:
            raise EmolensError(f"haar_scale_factor must lie in (1, 2], got {self.haar_scale_factor}")
        if not 0.0 <= self.yunet_score <= 1.0:
            raise EmolensError(f"yunet_score must lie in [0, 1], got {self.yunet_score}")

    def changed(self) -> dict[str, Any]:
        """The fields that differ from the defaults, by name (what a record of a run needs to say)."""
        default = DetectorOptions()
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)
        }


@dataclass(frozen=True)
class StreamOptions:
    """How the analyzer finds, follows and smooths faces. The defaults are the real-time settings.

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
    YuNet). ``max_frames``: stop after this many frames. ``max_pixels``: refuse a video with a
    frame larger than this (width x height, whatever its header says; see
    :class:`~emolens.video.source.FrameSource`): the iteration stops with an ImageError.
    """

    detect_every: int = field(
        default=10,
        metadata={"help": "run the full-frame detector every K-th frame, follow the faces between", "metavar": "K"},
    )
    detect_scale: float = field(
        default=0.5, metadata={"help": "run it on the frame shrunk by this factor, 0-1", "metavar": "S"}
    )
    follow: FollowOptions | None = FollowOptions()
    smoothing: SmoothingOptions | None = SmoothingOptions()
    tracking: TrackerOptions = TrackerOptions()
    align: bool = field(default=False, metadata={"help": "level the eyes before recognition (needs --detector yunet)"})
    max_frames: int | None = field(default=None, metadata={"help": "stop after this many frames"})
    max_pixels: int | None = field(
        default=None,
        metadata={"help": "refuse a video with a frame larger than N pixels (default: no limit)", "metavar": "N"},
    )

    def __post_init__(self) -> None:
        _check_whole("detect_every", self.detect_every, 1)
        if not 0.0 < self.detect_scale <= 1.0:
            raise EmolensError(f"detect_scale must lie in (0, 1], got {self.detect_scale}")
        if self.max_frames is not None:
            _check_whole("max_frames", self.max_frames, 0)
        if self.max_pixels is not None:
            _check_whole("max_pixels", self.max_pixels, 1)

    def with_changes(self, **changes: Any) -> StreamOptions:
        """A copy with some fields changed; an unknown name is an EmolensError listing the valid ones."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            valid = ", ".join(f.name for f in fields(self))
            raise EmolensError(f"unknown stream option {', '.join(unknown)}; valid: {valid}")
        return replace(self, **changes) if changes else self
