"""Honest confidence: temperature scaling, expected calibration error and reliability bins.

Plain NumPy functions on probability arrays. Temperature scaling divides the network's logits by
one number ``T`` fitted on held-out faces (PublicTest), which makes the probabilities match how
often the model is right without changing any predicted label (the order of the scores is kept).
Applied to probabilities, ``softmax(log(p) / T)`` is the same as dividing the logits by ``T``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = 1e-12
DEFAULT_BINS = 15


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities (N, K) rescaled by ``temperature`` (> 0; 1 leaves them as they are).

    The top class of each row stays the top class (``argmax`` gives the same label): where rounding
    to ``probs``' dtype makes two classes equal that were not, the uncalibrated winner is raised by
    one unit in the last place."""
    if temperature <= 0 or not np.isfinite(temperature):
        raise ValueError(f"temperature must be a positive number, not {temperature}")
    if temperature == 1.0:
        return probs
    z = np.log(np.clip(probs.astype(np.float64), EPS, 1.0)) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = (e / e.sum(axis=1, keepdims=True)).astype(probs.dtype, copy=False)
    top = probs.argmax(axis=1)
    tied = np.flatnonzero(out.argmax(axis=1) != top)
    if len(tied):
        out[tied, top[tied]] = np.nextafter(out[tied, top[tied]], np.inf)
    return out


def negative_log_likelihood(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], EPS, 1.0)).mean())


def fit_temperature(probs: np.ndarray, labels: np.ndarray, low: float = 0.05, high: float = 20.0) -> float:
    """The temperature that minimises the negative log-likelihood of ``labels`` (golden-section
    search on log T; the likelihood is unimodal in T)."""
    if len(labels) == 0:
        raise ValueError("fitting a temperature needs labelled faces")
    logp = np.log(np.clip(probs.astype(np.float64), EPS, 1.0))
    rows = np.arange(len(labels))

    def nll(log_t: float) -> float:
        z = logp / np.exp(log_t)
        z -= z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1))
        return float((lse - z[rows, labels]).mean())

    a, b = np.log(low), np.log(high)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(c), nll(d)
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(d)
    return float(np.exp((a + b) / 2))


@dataclass(frozen=True)
class Reliability:
    """Confidence bins: for each, how many faces, their mean confidence and how often they were right."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    confidence: tuple[float, ...]
    accuracy: tuple[float, ...]
    ece: float
    """Expected calibration error: the count-weighted mean gap |accuracy - confidence| over bins."""

    def as_dict(self) -> dict[str, object]:
        return {
            "ece": self.ece,
            "edges": list(self.edges),
            "counts": list(self.counts),
            "confidence": list(self.confidence),
            "accuracy": list(self.accuracy),
        }


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = DEFAULT_BINS) -> Reliability:
    """Top-label reliability over ``bins`` equal-width confidence bins."""
    conf = probs.max(axis=1)
    right = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    conf_sum = np.bincount(which, weights=conf, minlength=bins)
    right_sum = np.bincount(which, weights=right.astype(np.float64), minlength=bins)
    safe = np.maximum(counts, 1)
    mean_conf, acc = conf_sum / safe, right_sum / safe
    ece = float((counts * np.abs(acc - mean_conf)).sum() / max(len(labels), 1))
    return Reliability(
        edges=tuple(float(e) for e in edges),
        counts=tuple(int(c) for c in counts),
        confidence=tuple(float(c) for c in mean_conf),
        accuracy=tuple(float(a) for a in acc),
        ece=ece,
    )


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = DEFAULT_BINS) -> float:
    return reliability(probs, labels, bins).ece
