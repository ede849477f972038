"""Temporal smoothing of a face's emotion: a moving average of probabilities and a sticky label.

Per track, :func:`smooth_step` keeps an exponential moving average (EMA) of the probability
vectors and a label with hysteresis: the label changes only when another class beats it in the
average by ``margin``. Both are pure; :class:`Smoother` keeps one state per track id.
:func:`smoothing_report` measures what smoothing costs and buys: label switches per second and
the lag behind a sustained change of the raw label.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from emolens.errors import EmolensError


@dataclass(frozen=True)
class SmoothingOptions:
    """``alpha``: weight of the newest frame in the moving average (1 = no averaging).
    ``margin``: how far the new top class must be ahead of the current label to replace it
    (0 = always the top class of the average)."""

    alpha: float = 0.35
    margin: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha <= 1.0:
            raise EmolensError(f"smoothing alpha must lie in (0, 1], got {self.alpha}")
        if not 0.0 <= self.margin < 1.0:
            raise EmolensError(f"smoothing margin must lie in [0, 1), got {self.margin}")


NO_SMOOTHING = SmoothingOptions(alpha=1.0, margin=0.0)


@dataclass(frozen=True, eq=False)
class SmoothState:
    """The moving average (read-only float32 vector) and the index of the current label."""

    probs: np.ndarray
    label: int


def _frozen(x: np.ndarray) -> np.ndarray:
    x.setflags(write=False)
    return x


def smooth_step(state: SmoothState | None, probs: np.ndarray, options: SmoothingOptions | None = None) -> SmoothState:
    """The state after one more probability vector; ``state`` None starts a track."""
    opts = options or SmoothingOptions()
    p = np.asarray(probs, dtype=np.float32)
    if p.ndim != 1 or p.size == 0:
        raise EmolensError(f"smooth_step takes one probability vector, got shape {p.shape}")
    if state is None:
        return SmoothState(_frozen(p.copy()), int(np.argmax(p)))
    if state.probs.shape != p.shape:
        raise EmolensError(f"probability vectors changed length: {state.probs.shape} -> {p.shape}")
    avg = opts.alpha * p + (1.0 - opts.alpha) * state.probs
    top = int(np.argmax(avg))
    label = state.label
    if top != label and avg[top] >= avg[label] + opts.margin:
        label = top
    return SmoothState(_frozen(avg.astype(np.float32, copy=False)), label)


class Smoother:
    """One :class:`SmoothState` per track id."""

    def __init__(self, options: SmoothingOptions | None = None) -> None:
        self.options = options or SmoothingOptions()
        self.states: dict[int, SmoothState] = {}

    def update(self, track_id: int, probs: np.ndarray) -> SmoothState:
        state = smooth_step(self.states.get(track_id), probs, self.options)
        self.states[track_id] = state
        return state

    def keep_only(self, track_ids: Iterable[int]) -> None:
        """Forget the tracks not listed (those the tracker retired)."""
        keep = set(track_ids)
        for tid in [t for t in self.states if t not in keep]:
            del self.states[tid]


# ---------------------------------------------------------------- reporting


def count_switches(labels: Sequence[str]) -> int:
    """How many times consecutive labels differ."""
    return sum(1 for a, b in zip(labels, labels[1:], strict=False) if a != b)


def switches_per_second(times: Sequence[float], labels: Sequence[str]) -> float:
    """Label switches per second of the span covered by ``times`` (0 for a span of 0)."""
    if len(times) != len(labels):
        raise EmolensError(f"{len(times)} times for {len(labels)} labels")
    if len(times) < 2 or times[-1] <= times[0]:
        return 0.0
    return count_switches(labels) / (times[-1] - times[0])


def _runs(labels: Sequence[str]) -> list[tuple[int, int]]:
    """[start, end) index ranges of equal consecutive labels."""
    runs = []
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            runs.append((start, i))
            start = i
    return runs


def sustained_changes(times: Sequence[float], labels: Sequence[str], min_duration_s: float = 0.5) -> list[int]:
    """Indices where the label changes to one that then holds for at least ``min_duration_s``.

    Runs shorter than that are flicker and ignored: a change is a sustained run whose label
    differs from the previous sustained run's. The first sustained run is the baseline.
    """
    if len(times) != len(labels):
        raise EmolensError(f"{len(times)} times for {len(labels)} labels")
    if not labels:
        return []
    step = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else 0.0
    out = []
    previous: str | None = None
    for s, e in _runs(labels):
        end_t = times[e] if e < len(times) else times[-1] + step
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
    holds; None when the smoothed label never follows within that run.
    """
    if not len(times) == len(raw_labels) == len(smoothed_labels):
        raise EmolensError("times, raw_labels and smoothed_labels must have the same length")
    runs = dict(_runs(raw_labels))
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
