"""Signal-processing primitives in plain NumPy: smoothing, gap filling, local extrema, slopes.

Small pure functions, each on 1-D float arrays; no SciPy. The filters are centred moving averages
(computed with cumulative sums, edge-corrected: near the ends each output averages the samples
that exist), applied twice for a smoother response (a triangular kernel).
"""

from __future__ import annotations

import numpy as np

__all__ = ["fill_gaps", "linear_slope", "local_maxima", "local_minima", "moving_average", "smooth"]


def moving_average(x: np.ndarray, n: int) -> np.ndarray:
    """The centred mean of ``n`` samples around each sample (fewer at the ends); ``n <= 1``: a copy."""
    x = np.asarray(x, dtype=np.float64)
    if n <= 1 or len(x) == 0:
        return x.copy()
    c = np.concatenate(([0.0], np.cumsum(x)))
    idx = np.arange(len(x))
    lo = np.clip(idx - n // 2, 0, len(x))
    hi = np.clip(idx - n // 2 + n, 0, len(x))
    out: np.ndarray = (c[hi] - c[lo]) / (hi - lo)
    return out


def smooth(x: np.ndarray, seconds: float, fs: float) -> np.ndarray:
    """Two passes of a ``seconds``-long moving average (a triangular kernel twice as long)."""
    n = max(1, round(seconds * fs))
    return moving_average(moving_average(x, n), n)


def fill_gaps(x: np.ndarray) -> np.ndarray:
    """``x`` with NaN samples replaced by linear interpolation (constant at the ends); all NaN: zeros."""
    x = np.asarray(x, dtype=np.float64)
    bad = np.isnan(x)
    if not bad.any():
        return x
    if bad.all():
        return np.zeros_like(x)
    idx = np.arange(len(x))
    out = x.copy()
    out[bad] = np.interp(idx[bad], idx[~bad], x[~bad])
    return out


def local_maxima(x: np.ndarray) -> np.ndarray:
    """Indices of samples higher than the one before and not lower than the one after (plateaus: first sample)."""
    if len(x) < 3:
        return np.zeros(0, dtype=np.int64)
    d = np.diff(x)
    # a rise (d > 0) followed by a fall or a flat step (d <= 0); flat runs after the rise are skipped
    # by requiring the next non-zero step to be a fall
    sign = np.sign(d)
    nz = np.flatnonzero(sign)
    if len(nz) < 2:
        return np.zeros(0, dtype=np.int64)
    s = sign[nz]
    turns = np.flatnonzero((s[:-1] > 0) & (s[1:] < 0))
    return nz[turns] + 1


def local_minima(x: np.ndarray) -> np.ndarray:
    """Indices of samples lower than the one before and not higher than the one after."""
    return local_maxima(-np.asarray(x, dtype=np.float64))


def linear_slope(y: np.ndarray, fs: float) -> float:
    """The least-squares slope of ``y`` sampled at ``fs`` Hz, per second (NaN samples ignored; NaN under 2 samples)."""
    y = np.asarray(y, dtype=np.float64)
    t = np.arange(len(y)) / fs
    ok = ~np.isnan(y)
    if ok.sum() < 2:
        return float("nan")
    t, y = t[ok], y[ok]
    tc = t - t.mean()
    den = float(np.dot(tc, tc))
    return float(np.dot(tc, y - y.mean()) / den) if den > 0 else float("nan")
