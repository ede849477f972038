"""An IoU tracker: stable ``track_id``s for face boxes across frames, pure and frame by frame.

:func:`update_tracks` takes the tracker state and the boxes of one frame and returns the new state and
one track id per box, touching nothing else; :class:`IoUTracker` holds the state for callers that
prefer an object. Boxes are matched greedily, highest overlap first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from emolens.errors import EmolensError
from emolens.preprocess import Box


@dataclass(frozen=True)
class TrackerOptions:
    """``iou_threshold``: least overlap for a box to continue a track. ``max_missed``: frames a track
    survives without a matching box before its id is retired."""

    iou_threshold: float = 0.3
    max_missed: int = 10

    def __post_init__(self) -> None:
        if not 0.0 < self.iou_threshold <= 1.0:
            raise EmolensError(f"iou_threshold must lie in (0, 1], got {self.iou_threshold}")
        if self.max_missed < 0:
            raise EmolensError(f"max_missed must be 0 or more, got {self.max_missed}")


@dataclass(frozen=True)
class Track:
    """A live track: its id, last box, consecutive frames without a match, and frames matched."""

    track_id: int
    box: Box
    missed: int = 0
    hits: int = 1


@dataclass(frozen=True)
class TrackerState:
    tracks: tuple[Track, ...] = ()
    next_id: int = 1

    def visible(self) -> tuple[Track, ...]:
        """The tracks matched on the latest frame."""
        return tuple(t for t in self.tracks if t.missed == 0)


def iou_matrix(a: Sequence[Box], b: Sequence[Box]) -> np.ndarray:
    """Intersection over union of every box of ``a`` with every box of ``b``: float (len(a), len(b))."""
    if not a or not b:
        return np.zeros((len(a), len(b)), dtype=np.float64)
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    ax0, ay0, ax1, ay1 = x[:, 0:1], x[:, 1:2], x[:, 0:1] + x[:, 2:3], x[:, 1:2] + x[:, 3:4]
    bx0, by0, bx1, by1 = y[:, 0], y[:, 1], y[:, 0] + y[:, 2], y[:, 1] + y[:, 3]
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0, None)
    inter = iw * ih
    union = x[:, 2:3] * x[:, 3:4] + y[:, 2] * y[:, 3] - inter
    out: np.ndarray = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return out


def greedy_match(iou: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Pairs (row, column), highest IoU first, each row and column used once, IoU >= threshold."""
    pairs: list[tuple[int, int]] = []
    if iou.size == 0:
        return pairs
    rows, cols = np.nonzero(iou >= threshold)
    order = np.argsort(-iou[rows, cols], kind="stable")
    used_r: set[int] = set()
    used_c: set[int] = set()
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r not in used_r and c not in used_c:
            pairs.append((r, c))
            used_r.add(r)
            used_c.add(c)
    return pairs


def update_tracks(
    state: TrackerState, boxes: Sequence[Box], options: TrackerOptions | None = None
) -> tuple[TrackerState, list[int]]:
    """Match one frame's boxes to the live tracks; return the new state and a track id per box.

    A matched track takes the new box; an unmatched box starts a new track with a fresh id;
    an unmatched track counts a miss and is dropped after ``max_missed`` misses in a row.
    Ids are never reused.
    """
    opts = options or TrackerOptions()
    norm: list[Box] = [(int(b[0]), int(b[1]), int(b[2]), int(b[3])) for b in boxes]
    pairs = greedy_match(iou_matrix([t.box for t in state.tracks], norm), opts.iou_threshold)
    box_of_track = dict(pairs)
    ids = [0] * len(norm)
    tracks: list[Track] = []
    for i, t in enumerate(state.tracks):
        j = box_of_track.get(i)
        if j is not None:
            tracks.append(Track(t.track_id, norm[j], 0, t.hits + 1))
            ids[j] = t.track_id
        elif t.missed < opts.max_missed:
            tracks.append(replace(t, missed=t.missed + 1))
    next_id = state.next_id
    matched = set(box_of_track.values())
    for j, b in enumerate(norm):
        if j not in matched:
            tracks.append(Track(next_id, b))
            ids[j] = next_id
            next_id += 1
    return TrackerState(tuple(tracks), next_id), ids


def move_tracks(
    state: TrackerState, moved: dict[int, Box | None], options: TrackerOptions | None = None
) -> TrackerState:
    """Give each track named in ``moved`` its new box, or a miss where the value is None.

    For boxes already tied to their tracks (see :mod:`emolens.video.follow`), so no matching is
    done and no track is created. Tracks not named are left as they are.
    """
    opts = options or TrackerOptions()
    tracks: list[Track] = []
    for t in state.tracks:
        if t.track_id not in moved:
            tracks.append(t)
            continue
        b = moved[t.track_id]
        if b is not None:
            tracks.append(Track(t.track_id, (int(b[0]), int(b[1]), int(b[2]), int(b[3])), 0, t.hits + 1))
        elif t.missed < opts.max_missed:
            tracks.append(replace(t, missed=t.missed + 1))
    return TrackerState(tuple(tracks), state.next_id)


class IoUTracker:
    """:func:`update_tracks` with the state kept inside: ``tracker.update(boxes) -> ids``."""

    def __init__(self, options: TrackerOptions | None = None) -> None:
        self.options = options or TrackerOptions()
        self.state = TrackerState()

    def update(self, boxes: Sequence[Box]) -> list[int]:
        self.state, ids = update_tracks(self.state, boxes, self.options)
        return ids

    def visible(self) -> tuple[Track, ...]:
        return self.state.visible()

    def move(self, moved: dict[int, Box | None]) -> None:
        """See :func:`move_tracks`."""
        self.state = move_tracks(self.state, moved, self.options)

    def reset(self) -> None:
        """Drop every track; ids go on counting, so an id never names two people."""
        self.state = TrackerState(next_id=self.state.next_id)
