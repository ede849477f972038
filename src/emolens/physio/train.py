"""Training the stress model in NumPy: labels, metrics, a logistic regression, boosted trees.

Used by ``benchmarks/physio_model.py`` (which holds the protocol: the subjects, the selection
and the report) and by the accuracy tests. Nothing here is needed to run a model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emolens.physio.features import FEATURES
from emolens.physio.model import Tree
from emolens.physio.normalise import InputSpec

__all__ = [
    "LOG_OFFSETS",
    "BoostParams",
    "balanced_accuracy",
    "choose_threshold",
    "confusion",
    "default_spec",
    "fit_logistic",
    "fit_trees",
    "label_windows",
    "prior_variances",
    "roc_auc",
    "roc_curve",
    "stress_intervals",
]

LOG_OFFSETS = {
    "acc_std": 0.005,
    "scr_rate": 1.0,
    "scr_amp": 0.01,
    "eda_tonic": 0.05,
    "eda_phasic": 0.001,
    "eda_rise": 0.01,
    "rmssd": 5.0,
    "sdnn": 5.0,
}
"""Skewed features taken as ``log(x + offset)`` before normalisation."""


# ---------------------------------------------------------------- labels


def stress_intervals(tags: Sequence[float]) -> list[tuple[float, float]]:
    """The Stress-Predict stress periods: between tags 1 and 2, 3 and 4, 5 and 6."""
    t = list(tags)
    return [(t[i], t[i + 1]) for i in (0, 2, 4) if i + 1 < len(t) and t[i + 1] > t[i]]


def label_windows(starts: np.ndarray, ends: np.ndarray, intervals: Sequence[tuple[float, float]]) -> np.ndarray:
    """1 where a window's centre lies in a stress interval (most of the window is stress), else 0."""
    c = (np.asarray(starts) + np.asarray(ends)) / 2
    y = np.zeros(len(c), dtype=np.int64)
    for a, b in intervals:
        y[(c >= a) & (c < b)] = 1
    return y


# ---------------------------------------------------------------- metrics


def roc_auc(score: np.ndarray, y: np.ndarray) -> float:
    """The area under the ROC curve (ties count half); NaN without both classes."""
    s = np.asarray(score, dtype=np.float64)
    yb = np.asarray(y).astype(bool)
    p, n = int(yb.sum()), int((~yb).sum())
    if p == 0 or n == 0:
        return math.nan
    order = np.argsort(s, kind="mergesort")
    _, inv, cnt = np.unique(s[order], return_inverse=True, return_counts=True)
    avg = np.cumsum(cnt) - (cnt - 1) / 2
    ranks = np.empty(len(s))
    ranks[order] = avg[inv]
    return float((ranks[yb].sum() - p * (p + 1) / 2) / (p * n))


def roc_curve(score: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at every threshold (from the highest score down)."""
    s = np.asarray(score, dtype=np.float64)
    yb = np.asarray(y).astype(bool)
    order = np.argsort(-s, kind="mergesort")
    tp = np.concatenate(([0], np.cumsum(yb[order])))
    fp = np.concatenate(([0], np.cumsum(~yb[order])))
    return fp / max(1, int((~yb).sum())), tp / max(1, int(yb.sum()))


def confusion(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``[[true rest, false stress], [missed stress, true stress]]`` counts."""
    p = np.asarray(pred).astype(bool)
    t = np.asarray(y).astype(bool)
    return np.array([[int((~t & ~p).sum()), int((~t & p).sum())], [int((t & ~p).sum()), int((t & p).sum())]])


def balanced_accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    """The mean of the recalls of stress and rest."""
    c = confusion(pred, y)
    return float((c[0, 0] / max(1, c[0].sum()) + c[1, 1] / max(1, c[1].sum())) / 2)


def choose_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """The probability threshold with the best balanced accuracy on ``p``, ``y``."""
    cands = np.unique(np.round(np.quantile(p, np.linspace(0.02, 0.98, 193)), 4))
    scores = [balanced_accuracy(p >= t, y) for t in cands]
    return float(cands[int(np.argmax(scores))])


# ---------------------------------------------------------------- normalisation prior


def prior_variances(tables: Sequence[np.ndarray], spec: InputSpec) -> dict[str, float]:
    """The typical within-person variance of each (transformed) feature: the median over people
    of the variance of their windows. ``tables``: rows of ``spec.features`` per person."""
    per = []
    for x in tables:
        t = spec.transform(x)
        with np.errstate(all="ignore"):
            per.append(np.nanvar(t, axis=0))
    v = np.nanmedian(np.array(per), axis=0)
    return {f: float(val) if np.isfinite(val) and val > 0 else 1.0 for f, val in zip(spec.features, v, strict=True)}


def default_spec(prior_var: dict[str, float] | None = None) -> InputSpec:
    """Every feature, the skewed ones logged, change inputs over 60 and 180 s."""
    return InputSpec(
        features=FEATURES,
        log_offset=dict(LOG_OFFSETS),
        prior_var=dict(prior_var or {}),
        prior_s=60.0,
        half_lives=(60.0, 180.0),
    )


# ---------------------------------------------------------------- logistic regression


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 10.0, iters: int = 50) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method (the bias is not penalised)."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    pen = l2 * np.r_[np.ones(d), 0.0]
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -40, 40)))
        g = xb.T @ (p - y) + pen * w
        h = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(pen)
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    return w[:-1], float(w[-1])


# ---------------------------------------------------------------- boosted trees


@dataclass(frozen=True)
class BoostParams:
    """Gradient boosting of regression trees on the logistic loss: ``rounds`` trees of ``depth``,
    learning ``rate``, L2 ``lam`` on leaf values, at least ``min_hessian`` in a leaf, inputs
    binned into ``bins`` quantiles."""

    rounds: int = 100
    depth: int = 3
    rate: float = 0.05
    lam: float = 1.0
    min_hessian: float = 100.0
    bins: int = 32


def _bin_edges(x: np.ndarray, bins: int) -> list[np.ndarray]:
    qs = np.linspace(0, 1, bins + 1)[1:-1]
    return [np.unique(np.quantile(x[:, j], qs)) for j in range(x.shape[1])]


def _grow(b: np.ndarray, g: np.ndarray, h: np.ndarray, edges: list[np.ndarray], p: BoostParams) -> Tree:
    feature: list[int] = []
    threshold: list[float] = []
    left: list[int] = []
    right: list[int] = []
    value: list[float] = []
    nb = p.bins + 1

    def node(idx: np.ndarray, depth: int) -> int:
        me = len(feature)
        feature.append(-1)
        threshold.append(0.0)
        left.append(-1)
        right.append(-1)
        gs, hs = float(g[idx].sum()), float(h[idx].sum())
        value.append(-gs / (hs + p.lam))
        if depth == 0 or len(idx) < 2:
            return me
        base = gs * gs / (hs + p.lam)
        best = (0.0, -1, -1)
        for j in range(b.shape[1]):
            gb = np.bincount(b[idx, j], weights=g[idx], minlength=nb)
            hb = np.bincount(b[idx, j], weights=h[idx], minlength=nb)
            gl, hl = np.cumsum(gb)[:-1], np.cumsum(hb)[:-1]
            gr, hr = gs - gl, hs - hl
            ok = (hl >= p.min_hessian) & (hr >= p.min_hessian)
            gain = np.where(ok, gl * gl / (hl + p.lam) + gr * gr / (hr + p.lam) - base, -1.0)
            k = int(np.argmax(gain))
            if gain[k] > best[0] and k < len(edges[j]):
                best = (float(gain[k]), j, k)
        if best[1] < 0:
            return me
        _, j, k = best
        feature[me] = j
        threshold[me] = float(edges[j][k])
        go_left = b[idx, j] <= k
        left[me] = node(idx[go_left], depth - 1)
        right[me] = node(idx[~go_left], depth - 1)
        return me

    node(np.arange(len(g)), p.depth)
    return Tree(
        np.asarray(feature, dtype=np.int64),
        np.asarray(threshold),
        np.asarray(left, dtype=np.int64),
        np.asarray(right, dtype=np.int64),
        np.asarray(value),
    )


def fit_trees(x: np.ndarray, y: np.ndarray, params: BoostParams | None = None) -> tuple[list[Tree], float]:
    """Boosted trees (see :class:`BoostParams`): the trees and the base logit."""
    p = params or BoostParams()
    edges = _bin_edges(x, p.bins)
    # bin k of input j holds the values v with edges[k-1] <= v < edges[k]; "bin <= k" is "v < edges[k]"
    b = np.stack([np.searchsorted(e, x[:, j], side="right") for j, e in enumerate(edges)], axis=1)
    prior = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    base = math.log(prior / (1 - prior))
    f = np.full(len(y), base)
    trees: list[Tree] = []
    for _ in range(p.rounds):
        prob = 1.0 / (1.0 + np.exp(-f))
        t = _grow(b, prob - y, prob * (1 - prob), edges, p)
        trees.append(t)
        f += p.rate * t.predict(x)
    return trees, base
