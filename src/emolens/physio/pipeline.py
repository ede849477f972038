"""From a recording to model inputs: windows, features, quality flags, per-person normalisation.

One path for everything (training, files, live streams): :func:`analyse` cuts a
:class:`~emolens.physio.readers.Recording` into windows with their features and flags;
:func:`normalise_windows` runs them, in time order, through a
:class:`~emolens.physio.normalise.PersonNormaliser` and says which windows come after the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emolens.physio.features import FEATURES, PhysioOptions, derive, feature_table, windows
from emolens.physio.normalise import InputSpec, PersonNormaliser
from emolens.physio.quality import discounted, quality_table
from emolens.physio.readers import Recording

__all__ = ["AROUSAL_FEATURES", "Normalised", "WindowTable", "analyse", "arousal", "normalise_windows"]

AROUSAL_FEATURES = ("hr", "eda_tonic", "scr_rate")
"""The features whose per-person ``z`` values make :func:`arousal`."""


@dataclass(frozen=True)
class WindowTable:
    """The windows of a recording: ``starts``, ``ends`` (unix s), ``features`` (rows of
    :data:`~emolens.physio.features.FEATURES`) and the quality ``flags`` of each."""

    t0: float
    starts: np.ndarray
    ends: np.ndarray
    features: np.ndarray
    flags: list[list[str]]

    def __len__(self) -> int:
        return len(self.starts)


@dataclass(frozen=True)
class Normalised:
    """Model ``inputs`` and per-feature ``z`` values of each window, and ``ready``: whether the
    window ends after the baseline (or a profile was given), so that it gets an output."""

    inputs: np.ndarray
    z: np.ndarray
    ready: np.ndarray


def analyse(rec: Recording, options: PhysioOptions | None = None) -> WindowTable:
    """Every window of ``rec`` with its features and quality flags."""
    opts = options or PhysioOptions()
    d = derive(rec, opts)
    w = np.array(list(windows(rec.t0, rec.t_end, opts)), dtype=np.float64).reshape(-1, 2)
    feats = feature_table(d, w[:, 0], w[:, 1], opts)
    flags = quality_table(d, w[:, 0], w[:, 1], feats, opts)
    return WindowTable(rec.t0, w[:, 0], w[:, 1], feats, flags)


def normalise_windows(
    table: WindowTable,
    spec: InputSpec,
    options: PhysioOptions | None = None,
    normaliser: PersonNormaliser | None = None,
) -> Normalised:
    """Run the windows of ``table`` in order through ``normaliser`` (default: a fresh one, filled
    by the first ``baseline_s``; a given one, e.g. from a stored profile, makes every window ready)."""
    opts = options or PhysioOptions()
    fresh = normaliser is None
    norm = normaliser if normaliser is not None else PersonNormaliser(spec, opts.hop_s)
    col = [FEATURES.index(f) for f in spec.features]
    n = len(table)
    inputs = np.zeros((n, len(spec.input_names)))
    z = np.full((n, len(spec.features)), np.nan)
    for i in range(n):
        bad = discounted(table.flags[i])
        known = np.array([f not in bad for f in spec.features])
        inputs[i], z[i] = norm.update(table.features[i, col], known)
    ready = table.ends >= table.t0 + opts.baseline_s - 1e-6 if fresh else np.ones(n, dtype=bool)
    return Normalised(inputs, z, ready)


def arousal(z: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Physiological arousal in (0, 1) from per-feature ``z`` rows: the logistic function of 1.5
    times the mean of the ``z`` values (clipped to +-3) of heart rate, skin-conductance level and
    SCR rate that are known. 0.5 is the person's usual level in this session; about 0.82 when all
    three are one running standard deviation above it; 0.5 when none is known."""
    idx = [spec.features.index(f) for f in AROUSAL_FEATURES if f in spec.features]
    if not idx:
        return np.full(len(z), 0.5)
    v = np.clip(np.atleast_2d(z)[:, idx], -3, 3)
    ok = ~np.isnan(v)
    cnt = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(cnt > 0, np.where(ok, v, 0.0).sum(axis=1) / np.maximum(cnt, 1), 0.0)
    out: np.ndarray = 1.0 / (1.0 + np.exp(-1.5 * m))
    return out
