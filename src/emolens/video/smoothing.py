"""Temporal smoothing of a face's emotion: a moving average of the scores and a sticky label, in seconds.

Per track, :func:`smooth_step` keeps

* the *scores*: an exponential moving average (EMA) of the probability vectors, weighted by the
  frames' times: a frame's weight halves every ``half_life_s`` seconds, so the average means
  the same at 30 frames a second (a file) as at 5 (the live page, whose rate follows the
  server's speed);
* the *label*, with hysteresis in time: a class replaces the shown label once it has been the
  top class of the frames (by ``margin`` over the shown label) for ``confirm_s`` seconds; a
  frame where it is not takes that much time back, and another challenger starts afresh. Runs
  shorter than ``confirm_s`` (flicker) are never shown; a change that lasts is shown after
  ``confirm_s`` plus at most one frame interval, at any frame rate.

Both are pure; :class:`Smoother` keeps one state per track id. :func:`smoothing_report` measures
what smoothing costs and buys: label switches per second and the lag behind a sustained change
of the raw label (``benchmarks/flicker.py`` runs it on real clips, for files and the live page).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from emolens.errors import EmolensError
from emolens.types import SmoothingOptions

NOMINAL_FRAME_S = 1.0 / 30.0
"""The time step assumed when a frame comes without a time, or with one not after the previous."""

NO_CANDIDATE = -1


@dataclass(frozen=True, eq=False)
class SmoothState:
    """One track's smoothing: the scores (moving average, read-only float32 vector), the index of
    the shown label, the time of the latest frame (None when not given), and the class challenging
    the label (:data:`NO_CANDIDATE` for none) with the seconds it has led."""

    probs: np.ndarray
    label: int
    time_s: float | None = None
    candidate: int = NO_CANDIDATE
    lead_s: float = 0.0


def _frozen(x: np.ndarray) -> np.ndarray:
    x.setflags(write=False)
    return x


def step_seconds(previous: float | None, now: float | None) -> float:
    """Seconds between two frames: ``now - previous``, or :data:`NOMINAL_FRAME_S` where either is
    missing or time did not move forward."""
    if previous is None or now is None or not now > previous:
        return NOMINAL_FRAME_S
    return now - previous


def new_frame_weight(dt: float, options: SmoothingOptions) -> float:
    """The weight in the average of a frame coming ``dt`` seconds after the previous one:
    ``1 - 2**(-dt / half_life_s)`` (1 with no averaging; ``alpha`` whatever ``dt`` where ``alpha``
    is below 1)."""
    if options.alpha < 1.0:
        return options.alpha
    if options.half_life_s <= 0.0:
        return 1.0
    return 1.0 - math.pow(2.0, -dt / options.half_life_s)


def smooth_step(
    state: SmoothState | None,
    probs: np.ndarray,
    options: SmoothingOptions | None = None,
    time_s: float | None = None,
) -> SmoothState:
    """The state after one more probability vector, that of the frame at ``time_s`` (seconds of the stream).

    ``state`` None starts a track: the scores are the frame's, the label its top class. Without
    times, frames count :data:`NOMINAL_FRAME_S` apart.
    """
    opts = options or SmoothingOptions()
    p = np.asarray(probs, dtype=np.float32)
    if p.ndim != 1 or p.size == 0:
        raise EmolensError(f"smooth_step takes one probability vector, got shape {p.shape}")
    if state is None:
        return SmoothState(_frozen(p.copy()), int(np.argmax(p)), time_s)
    if state.probs.shape != p.shape:
        raise EmolensError(f"probability vectors changed length: {state.probs.shape} -> {p.shape}")
    dt = step_seconds(state.time_s, time_s)
    w = np.float32(new_frame_weight(dt, opts))
    avg = (w * p + (np.float32(1.0) - w) * state.probs).astype(np.float32, copy=False)
    evidence = avg if opts.alpha < 1.0 else p  # earlier versions followed the average's top class
    label, candidate, lead = state.label, state.candidate, state.lead_s
    top = int(np.argmax(evidence))
    if top != label and evidence[top] >= evidence[label] + opts.margin:
        if top == candidate:
            lead += dt
        else:  # a new challenger starts from its first frame
            candidate, lead = top, 0.0
    elif candidate != NO_CANDIDATE:  # this frame is against the challenger: it loses as much time
        lead -= dt
        if lead < 0.0:
            candidate, lead = NO_CANDIDATE, 0.0
    if candidate != NO_CANDIDATE and lead + 1e-9 >= opts.confirm_s:
        label, candidate, lead = candidate, NO_CANDIDATE, 0.0
    return SmoothState(_frozen(avg), label, time_s, candidate, lead)


def smooth_series(
    probs: np.ndarray | Sequence[np.ndarray], times: Sequence[float] | None, options: SmoothingOptions | None = None
) -> list[SmoothState]:
    """The states after each probability vector of one track, in order (``times``: of each frame, or None)."""
    out: list[SmoothState] = []
    state: SmoothState | None = None
    for i, p in enumerate(probs):
        state = smooth_step(state, np.asarray(p), options, None if times is None else float(times[i]))
        out.append(state)
    return out


class Smoother:
    """One :class:`SmoothState` per track id."""

    def __init__(self, options: SmoothingOptions | None = None) -> None:
        self.options = options or SmoothingOptions()
        self.states: dict[int, SmoothState] = {}

    def update(self, track_id: int, probs: np.ndarray, time_s: float | None = None) -> SmoothState:
        """Smooth the track's newest probabilities, of the frame at ``time_s`` seconds (see :func:`smooth_step`)."""
        state = smooth_step(self.states.get(track_id), probs, self.options, time_s)
        self.states[track_id] = state
        return state

    def keep_only(self, track_ids: Iterable[int]) -> None:
        """Forget the tracks not listed (those the tracker retired)."""
        keep = set(track_ids)
        for tid in [t for t in self.states if t not in keep]:
            del self.states[tid]


# ---------------------------------------------------------------- reporting


def count_switches(labels: Sequence[object]) -> int:
    """How many times consecutive labels differ."""
    return sum(1 for a, b in zip(labels, labels[1:], strict=False) if a != b)


def switches_per_second(times: Sequence[float], labels: Sequence[str]) -> float:
    """Label switches per second of the span covered by ``times`` (0 for a span of 0)."""
    if len(times) != len(labels):
        raise EmolensError(f"{len(times)} times for {len(labels)} labels")
    if len(times) < 2 or times[-1] <= times[0]:
        return 0.0
    return count_switches(labels) / (times[-1] - times[0])


GAP_STEPS = 3.0
"""Frames further apart than this many typical (median) frame intervals lie across a gap in the track."""


def _step(times: Sequence[float]) -> float:
    """The typical (median) time between two frames; 0 for fewer than two."""
    return float(np.median(np.diff(np.asarray(times, dtype=np.float64)))) if len(times) > 1 else 0.0


def _runs(labels: Sequence[str], times: Sequence[float] | None = None) -> list[tuple[int, int]]:
    """[start, end) index ranges of equal consecutive labels, also cut at the gaps of ``times``."""
    gap = GAP_STEPS * _step(times) if times is not None else 0.0
    runs = []
    start = 0
    for i in range(1, len(labels) + 1):
        if (
            i == len(labels)
            or labels[i] != labels[start]
            or (gap > 0 and times is not None and times[i] - times[i - 1] > gap)
        ):
            runs.append((start, i))
            start = i
    return runs


def sustained_changes(times: Sequence[float], labels: Sequence[str], min_duration_s: float = 0.5) -> list[int]:
    """Indices where the label changes to one that then holds for at least ``min_duration_s``.

    Runs shorter than that are flicker and ignored: a change is a sustained run whose label
    differs from the previous sustained run's. The first sustained run is the baseline. A run
    lasts from its first frame to the next one after it, at most one typical (median) frame
    interval past its own last frame; a gap in the track (frames more than :data:`GAP_STEPS`
    intervals apart: the face was not seen) ends a run, so frames on both sides of a gap are
    not one run.
    """
    if len(times) != len(labels):
        raise EmolensError(f"{len(times)} times for {len(labels)} labels")
    if not labels:
        return []
    step = _step(times)
    out = []
    previous: str | None = None
    for s, e in _runs(labels, times):
        end_t = min(times[e], times[e - 1] + step) if e < len(times) else times[-1] + step
        if end_t - times[s] + 1e-9 < min_duration_s:
            continue
        if previous is not None and labels[s] != previous:
            out.append(s)
        previous = labels[s]
    return out


@dataclass(frozen=True)
class SmoothingReport:
    """Label stability with and without smoothing, and the lag of each sustained change (None: not followed)."""

    frames: int
    duration_s: float
    raw_switches_per_s: float
    smoothed_switches_per_s: float
    change_times_s: tuple[float, ...]
    lags_s: tuple[float | None, ...]

    @property
    def mean_lag_s(self) -> float | None:
        lags = [x for x in self.lags_s if x is not None]
        return sum(lags) / len(lags) if lags else None

    def as_dict(self) -> dict[str, object]:
        return {
            "frames": self.frames,
            "duration_s": self.duration_s,
            "raw_switches_per_s": self.raw_switches_per_s,
            "smoothed_switches_per_s": self.smoothed_switches_per_s,
            "change_times_s": list(self.change_times_s),
            "lags_s": list(self.lags_s),
            "mean_lag_s": self.mean_lag_s,
        }


def smoothing_report(
    times: Sequence[float],
    raw_labels: Sequence[str],
    smoothed_labels: Sequence[str],
    min_duration_s: float = 0.5,
) -> SmoothingReport:
    """Compare a track's raw (per-frame top class) and smoothed labels.

    For each sustained change of the raw label (see :func:`sustained_changes`) the lag is the
    time until the smoothed label first shows the new label, searched while the raw label
    holds (up to a gap in the track); None when the smoothed label never follows within that
    run, that is after more than ``min_duration_s``.
    """
    if not len(times) == len(raw_labels) == len(smoothed_labels):
        raise EmolensError("times, raw_labels and smoothed_labels must have the same length")
    runs = dict(_runs(raw_labels, times))
    changes = sustained_changes(times, raw_labels, min_duration_s)
    lags: list[float | None] = []
    for s in changes:
        target = raw_labels[s]
        lag = None
        for i in range(s, runs[s]):
            if smoothed_labels[i] == target:
                lag = float(times[i] - times[s])
                break
        lags.append(lag)
    return SmoothingReport(
        frames=len(times),
        duration_s=float(times[-1] - times[0]) if times else 0.0,
        raw_switches_per_s=switches_per_second(times, raw_labels),
        smoothed_switches_per_s=switches_per_second(times, smoothed_labels),
        change_times_s=tuple(float(times[s]) for s in changes),
        lags_s=tuple(lags),
    )
