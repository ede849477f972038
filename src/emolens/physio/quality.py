"""Quality flags of each window: missing channels, gaps, flat lines, out-of-range values, motion.

A flag is a short string; a window without any is clean:

``missing:<ch>``  the channel is absent, or has no sample in the window;
``gap:<ch>``      it covers less than ``min_coverage`` of the window (dropped samples, NaN cells);
``flat:<ch>``     it does not change at all over the window (a stuck or disconnected sensor;
                  not checked for ``temp``, which may legitimately hold still for a minute);
``range:<ch>``    its mean is outside what a body on the wrist gives: EDA under 0.02 microsiemens
                  (no skin contact reads about 0), heart rate under 30 or over 220 beats/min (0 when
                  unplugged), skin temperature under 25 or over 42 degrees C (off the wrist);
``motion``        the wrist moved a lot (``acc_std`` over ``motion_g``): BVP is unreliable then;
``noisy:bvp``     fewer than ``min_beat_coverage`` of the window is covered by plausible beats.

:func:`discounted` says which features a window's flags make unreliable: those of a flagged
channel, and the BVP-derived ones under ``motion`` or ``noisy:bvp``. The model treats them as
unknown (the person's usual level) instead of trusting them.
"""

from __future__ import annotations

import numpy as np

from emolens.physio.features import BVP_FEATURES, FEATURES, Derived, PhysioOptions
from emolens.physio.readers import Signal

__all__ = ["CHANNEL_FEATURES", "CHECKED_CHANNELS", "RANGES", "discounted", "quality_table"]

CHECKED_CHANNELS = ("hr", "bvp", "eda", "temp", "acc")
"""The regular channels whose quality is checked (``ibi`` is optional: the beats come from BVP)."""

RANGES: dict[str, tuple[float, float]] = {"eda": (0.02, 100.0), "hr": (30.0, 220.0), "temp": (25.0, 42.0)}
"""The plausible range of a window's mean, by channel."""

CHANNEL_FEATURES: dict[str, tuple[str, ...]] = {
    "hr": ("hr",),
    "bvp": (*BVP_FEATURES, "beat_coverage"),
    "eda": ("eda_tonic", "eda_slope", "eda_phasic", "eda_rise", "scr_rate", "scr_amp"),
    "temp": ("temp", "temp_slope"),
    "acc": ("acc_std",),
}
"""The features that come from each channel."""

_FLAT_EPS = {"hr": 1e-6, "bvp": 1e-6, "eda": 1e-6, "acc": 1e-6}


def _coverage_stats(sig: Signal, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per window: the fraction of expected samples present, their mean and their spread (max - min
    would need a pass per window; the standard deviation is used)."""
    v = sig.values if sig.values.ndim == 1 else np.sqrt(np.sum(sig.values.astype(np.float64) ** 2, axis=1))
    ok = ~np.isnan(v)
    x = np.where(ok, v, 0.0)
    ref = float(x[ok].mean()) if ok.any() else 0.0
    xc = np.where(ok, v - ref, 0.0)
    i0 = np.clip(np.ceil((starts - sig.t0) * sig.fs - 1e-9), 0, len(v)).astype(np.int64)
    i1 = np.clip(np.ceil((ends - sig.t0) * sig.fs - 1e-9), 0, len(v)).astype(np.int64)
    i1 = np.maximum(i0, i1)
    cn = np.concatenate(([0], np.cumsum(ok)))
    cs = np.concatenate(([0.0], np.cumsum(xc)))
    cs2 = np.concatenate(([0.0], np.cumsum(xc * xc)))
    cnt = (cn[i1] - cn[i0]).astype(np.float64)
    expected = np.maximum((ends - starts) * sig.fs, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_c = (cs[i1] - cs[i0]) / cnt
        var = (cs2[i1] - cs2[i0]) / cnt - mean_c**2
    mean = np.where(cnt > 0, mean_c + ref, np.nan)
    std = np.where(cnt > 1, np.sqrt(np.maximum(var, 0.0)), np.nan)
    return np.minimum(cnt / expected, 1.0), mean, std


def quality_table(
    d: Derived, starts: np.ndarray, ends: np.ndarray, features: np.ndarray, options: PhysioOptions | None = None
) -> list[list[str]]:
    """The flags of each window ``[starts[i], ends[i])`` (see the module); ``features``: the
    windows' :func:`~emolens.physio.features.feature_table`."""
    opts = options or PhysioOptions()
    starts = np.asarray(starts, dtype=np.float64)
    ends = np.asarray(ends, dtype=np.float64)
    n = len(starts)
    flags: list[list[str]] = [[] for _ in range(n)]
    rec = d.recording

    def mark(mask: np.ndarray, flag: str) -> None:
        for i in np.flatnonzero(mask):
            flags[i].append(flag)

    for ch in CHECKED_CHANNELS:
        sig = rec.signal(ch)
        if sig is None or len(sig) == 0:
            mark(np.ones(n, dtype=bool), f"missing:{ch}")
            continue
        cov, mean, std = _coverage_stats(sig, starts, ends)
        none = cov <= 0
        mark(none, f"missing:{ch}")
        mark(~none & (cov < opts.min_coverage), f"gap:{ch}")
        if ch in _FLAT_EPS:
            mark(~none & (std < _FLAT_EPS[ch]), f"flat:{ch}")
        if ch in RANGES:
            lo, hi = RANGES[ch]
            mark(~none & ((mean < lo) | (mean > hi)), f"range:{ch}")
    col = {name: j for j, name in enumerate(FEATURES)}
    acc_std = features[:, col["acc_std"]]
    mark(~np.isnan(acc_std) & (acc_std > opts.motion_g), "motion")
    if rec.signal("bvp") is not None:
        cov = features[:, col["beat_coverage"]]
        mark(np.isnan(cov) | (cov < opts.min_beat_coverage), "noisy:bvp")
    return flags


def discounted(flags: list[str]) -> set[str]:
    """The features that a window with ``flags`` must not trust (see the module). Without the
    device's ``hr`` channel the heart rate comes from the BVP beats, and is discounted with them."""
    out: set[str] = set()
    for flag in flags:
        kind, _, ch = flag.partition(":")
        if kind in ("missing", "gap", "flat", "range") and ch in CHANNEL_FEATURES:
            if flag != "missing:hr":
                out.update(CHANNEL_FEATURES[ch])
        elif flag in ("motion", "noisy:bvp"):
            out.update(BVP_FEATURES)
    if "missing:hr" in flags and "ibi_mean" in out:
        out.add("hr")
    return out
