"""An IoU tracker: stable ``track_id``s for face boxes across frames, pure and frame by frame.

:func:`update_tracks` takes the tracker state and the boxes the detector found on one frame and
returns the new state and one track id per box, touching nothing else; :func:`move_tracks` moves
tracks to boxes found by following them (no detector); :class:`IoUTracker` holds the state for
callers that prefer an object.

Each frame:

* duplicate boxes are suppressed first: of boxes that cover ``duplicate_overlap`` of the smaller
  one (one face found twice, e.g. a second box on the mouth and chin), only one is kept, the one
  that best continues a confirmed track, else the largest (:func:`suppress_duplicates`);
* confirmed tracks take their boxes first (highest IoU first, at least ``iou_threshold``), then a
  confirmed track left without one takes a box lying mostly over its last box (the face moved
  more than IoU allows), then new (tentative) tracks take what is left;
* a box left over starts a new track, *tentative*: it is confirmed, and gets its public id,
  after ``min_hits`` detector matches (frames where it is only followed do not count: following
  finds any patch again, face or not); it dies at its first miss.

A new box cannot lie over a confirmed face: of two boxes over each other on one frame, the one
continuing the confirmed track is kept. Between detections, where a followed box slides onto
another track's face, the weaker track (tentative, else fewer hits) counts as lost
(:func:`move_tracks`).

Only confirmed tracks are meant to be shown (:meth:`TrackerState.confirmed`,
:meth:`IoUTracker.visible`). Confirmed ids count 1, 2, 3, ... and are never reused; tentative
tracks carry negative ids (-1, -2, ...), also never reused, until they are confirmed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from emolens.types import Box, TrackerOptions

NO_TRACK = 0
"""The id :func:`update_tracks` gives a box that continues or starts no track (a duplicate)."""


@dataclass(frozen=True)
class Track:
    """A live track: its id (negative while tentative), last box, consecutive frames without a match,
    and detector matches so far."""

    track_id: int
    box: Box
    missed: int = 0
    hits: int = 1

    @property
    def confirmed(self) -> bool:
        return self.track_id > 0


@dataclass(frozen=True)
class TrackerState:
    """The live tracks, the next confirmed id and the next tentative (negative) id."""

    tracks: tuple[Track, ...] = ()
    next_id: int = 1
    next_tentative: int = -1

    def visible(self) -> tuple[Track, ...]:
        """The tracks matched on the latest frame, tentative ones included (the ones to follow)."""
        return tuple(t for t in self.tracks if t.missed == 0)

    def confirmed(self) -> tuple[Track, ...]:
        """The confirmed tracks matched on the latest frame: the faces to report."""
        return tuple(t for t in self.tracks if t.missed == 0 and t.confirmed)

    def tentative(self) -> tuple[Track, ...]:
        """The tracks waiting for confirmation (each needs a detector match on its next detection frame)."""
        return tuple(t for t in self.tracks if not t.confirmed)


def _as_array(boxes: Sequence[Box]) -> np.ndarray:
    return np.asarray(boxes, dtype=np.float64).reshape(len(boxes), 4)


def _intersections(a: Sequence[Box], b: Sequence[Box]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intersection areas (len(a), len(b)) and the areas of a (column) and of b (row)."""
    x, y = _as_array(a), _as_array(b)
    ax0, ay0, ax1, ay1 = x[:, 0:1], x[:, 1:2], x[:, 0:1] + x[:, 2:3], x[:, 1:2] + x[:, 3:4]
    bx0, by0, bx1, by1 = y[:, 0], y[:, 1], y[:, 0] + y[:, 2], y[:, 1] + y[:, 3]
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0, None)
    return iw * ih, x[:, 2:3] * x[:, 3:4], y[:, 2] * y[:, 3]


def iou_matrix(a: Sequence[Box], b: Sequence[Box]) -> np.ndarray:
    """Intersection over union of every box of ``a`` with every box of ``b``: float (len(a), len(b))."""
    if not a or not b:
        return np.zeros((len(a), len(b)), dtype=np.float64)
    inter, area_a, area_b = _intersections(a, b)
    union = area_a + area_b - inter
    out: np.ndarray = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return out


def overlap_matrix(a: Sequence[Box], b: Sequence[Box]) -> np.ndarray:
    """Intersection over the smaller box's area, for every box of ``a`` with every box of ``b``.

    1 when one box lies wholly inside the other, whatever their sizes; 0 for empty boxes.
    """
    if not a or not b:
        return np.zeros((len(a), len(b)), dtype=np.float64)
    inter, area_a, area_b = _intersections(a, b)
    smaller = np.minimum(area_a, area_b)
    out: np.ndarray = np.where(smaller > 0, inter / np.where(smaller > 0, smaller, 1.0), 0.0)
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


def suppress_duplicates(
    boxes: Sequence[Box], overlap: float, prefer: Sequence[Box] = (), then: Sequence[Box] = ()
) -> list[int]:
    """Indices (ascending) of the boxes to keep when boxes covering ``overlap`` of the smaller one are one face.

    Boxes are taken in order of their best IoU with a box of ``prefer`` (the confirmed tracks'
    last boxes: a box continuing a track wins), then with a box of ``then`` (the other tracks'),
    then of area (largest first), then as listed; each is kept unless it overlaps an already kept
    box that much.
    """
    if len(boxes) < 2:
        return list(range(len(boxes)))

    def best(others: Sequence[Box]) -> list[float]:
        return [float(v) for v in iou_matrix(boxes, others).max(axis=1)] if others else [0.0] * len(boxes)

    first, second = best(prefer), best(then)
    order = sorted(range(len(boxes)), key=lambda i: (-first[i], -second[i], -boxes[i][2] * boxes[i][3], i))
    cover = overlap_matrix(boxes, boxes)
    kept: list[int] = []
    for i in order:
        if all(cover[i, k] < overlap for k in kept):
            kept.append(i)
    return sorted(kept)


def _norm(b: Sequence[int] | Box) -> Box:
    return int(b[0]), int(b[1]), int(b[2]), int(b[3])


def update_tracks(
    state: TrackerState, boxes: Sequence[Box], options: TrackerOptions | None = None
) -> tuple[TrackerState, list[int]]:
    """Match the boxes the detector found on one frame to the tracks; return the new state and an id per box.

    The id of a box is that of its track after this frame: positive for a confirmed track,
    negative for a tentative one, :data:`NO_TRACK` for a duplicate box (see the module's doc). A
    matched track takes the new box and counts a hit; a tentative track reaching ``min_hits``
    hits is confirmed and gets the next public id; an unmatched tentative track dies; an
    unmatched confirmed track counts a miss and is dropped after ``max_missed`` misses in a row.
    Ids are never reused.
    """
    opts = options or TrackerOptions()
    norm = [_norm(b) for b in boxes]
    old = state.tracks
    ids = [NO_TRACK] * len(norm)
    free = suppress_duplicates(
        norm, opts.duplicate_overlap, [t.box for t in old if t.confirmed], [t.box for t in old if not t.confirmed]
    )
    box_of: dict[int, int] = {}  # index in old -> index in norm

    def match(rows: list[int], threshold: float, by_overlap: bool) -> None:
        measure = overlap_matrix if by_overlap else iou_matrix
        m = measure([old[i].box for i in rows], [norm[j] for j in free])
        pairs = greedy_match(m, threshold)
        for r, c in pairs:
            box_of[rows[r]] = free[c]
        taken = {free[c] for _, c in pairs}
        free[:] = [j for j in free if j not in taken]

    confirmed = [i for i, t in enumerate(old) if t.confirmed]
    match(confirmed, opts.iou_threshold, False)
    match([i for i in confirmed if i not in box_of], opts.duplicate_overlap, True)
    match([i for i, t in enumerate(old) if not t.confirmed], opts.iou_threshold, False)

    tracks: list[Track] = []
    next_id, next_tentative = state.next_id, state.next_tentative
    for i, t in enumerate(old):
        j = box_of.get(i)
        if j is None:
            if t.confirmed and t.missed < opts.max_missed:
                tracks.append(replace(t, missed=t.missed + 1))
            continue  # a tentative track dies at its first miss
        tid = t.track_id
        if not t.confirmed and t.hits + 1 >= opts.min_hits:
            tid, next_id = next_id, next_id + 1
        tracks.append(Track(tid, norm[j], 0, t.hits + 1))
        ids[j] = tid
    for j in free:
        if opts.min_hits <= 1:
            tid, next_id = next_id, next_id + 1
        else:
            tid, next_tentative = next_tentative, next_tentative - 1
        tracks.append(Track(tid, norm[j]))
        ids[j] = tid
    return TrackerState(tuple(tracks), next_id, next_tentative), ids


def move_tracks(
    state: TrackerState, moved: dict[int, Box | None], options: TrackerOptions | None = None
) -> TrackerState:
    """Give each track named in ``moved`` its new box, or a miss where the value is None.

    For boxes already tied to their tracks (see :mod:`emolens.video.follow`), so no matching is
    done, no track is created and no hit is counted. Tracks not named are left as they are. A
    tentative track dies at its first miss. Where two moved boxes end up over each other
    (``duplicate_overlap``: a follower slid onto another face), only the stronger track takes its
    box (confirmed before tentative, then more hits, then the older); the other counts as lost on
    this frame: it keeps its last box and a miss (a tentative one dies).
    """
    opts = options or TrackerOptions()
    tracks = _moved(state.tracks, moved, opts)
    lost = _overlap_losers(tracks, opts)
    if lost:
        tracks = _moved(state.tracks, {**moved, **dict.fromkeys(lost)}, opts)
    return replace(state, tracks=tuple(tracks))


def _moved(tracks: Sequence[Track], moved: dict[int, Box | None], opts: TrackerOptions) -> list[Track]:
    out: list[Track] = []
    for t in tracks:
        if t.track_id not in moved:
            out.append(t)
            continue
        b = moved[t.track_id]
        if b is not None:
            out.append(replace(t, box=_norm(b), missed=0))
        elif t.confirmed and t.missed < opts.max_missed:
            out.append(replace(t, missed=t.missed + 1))
    return out


def _overlap_losers(tracks: Sequence[Track], opts: TrackerOptions) -> list[int]:
    """Ids of the visible tracks lying over a stronger visible track."""
    visible = sorted((t for t in tracks if t.missed == 0), key=_strength, reverse=True)
    if len(visible) < 2:
        return []
    cover = overlap_matrix([t.box for t in visible], [t.box for t in visible])
    kept: list[int] = []
    lost: list[int] = []
    for k, t in enumerate(visible):
        if any(cover[k, q] >= opts.duplicate_overlap for q in kept):
            lost.append(t.track_id)
        else:
            kept.append(k)
    return lost


def _strength(t: Track) -> tuple[bool, int, int]:
    return (t.confirmed, t.hits, -abs(t.track_id))


class IoUTracker:
    """:func:`update_tracks` with the state kept inside: ``tracker.update(boxes) -> ids``."""

    def __init__(self, options: TrackerOptions | None = None) -> None:
        self.options = options or TrackerOptions()
        self.state = TrackerState()

    def update(self, boxes: Sequence[Box]) -> list[int]:
        """See :func:`update_tracks`."""
        self.state, ids = update_tracks(self.state, boxes, self.options)
        return ids

    def visible(self) -> tuple[Track, ...]:
        """The confirmed tracks matched on the latest frame: the faces to report."""
        return self.state.confirmed()

    def has_tentative(self) -> bool:
        """Whether a new track waits for confirmation: detecting on the next frame confirms (or drops) it
        within ``min_hits - 1`` frames instead of ``min_hits - 1`` detection intervals."""
        return any(not t.confirmed for t in self.state.tracks)

    def move(self, moved: dict[int, Box | None]) -> None:
        """See :func:`move_tracks`."""
        self.state = move_tracks(self.state, moved, self.options)

    def reset(self) -> None:
        """Drop every track; ids go on counting, so an id never names two people."""
        self.state = replace(TrackerState(), next_id=self.state.next_id, next_tentative=self.state.next_tentative)
