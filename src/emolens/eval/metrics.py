"""Classification metrics in plain NumPy: accuracy with its 95% interval, precision, recall, F1,
confusion matrix."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from emolens.labels import EMOTIONS, VALENCE_OF, VALENCES


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts: row = true class, column = predicted class."""
    idx = np.asarray(y_true, dtype=np.int64) * num_classes + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


Z_95 = 1.959963984540054
"""The standard normal quantile of 0.975: a two-sided 95% interval."""


def wilson_interval(correct: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of an accuracy of ``correct`` out of ``n`` (95% by default).

    It says how far a figure measured on ``n`` examples may lie from the model's accuracy on more
    data of the same kind: 0.671 on 240 utterances is 0.609-0.727, 0.712 on 3,589 faces
    0.697-0.726. Unlike the normal approximation it stays inside [0, 1] and is usable near 0 and 1
    (Wilson 1927; Brown, Cai and DasGupta 2001). ``n`` = 0 gives (0, 1): nothing is known."""
    if n < 0 or not 0 <= correct <= n:
        raise ValueError(f"need 0 <= correct <= n, got correct={correct}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lo = 0.0 if correct == 0 else max(0.0, centre - half)
    hi = 1.0 if correct == n else min(1.0, centre + half)
    return lo, hi


@dataclass(frozen=True)
class Metrics:
    """Scores of one evaluation; ``per_class`` maps label -> precision/recall/f1/support."""

    accuracy: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    valence_accuracy: float | None
    confusion: list[list[int]]
    labels: tuple[str, ...]
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    accuracy_ci95: tuple[float, float] = (0.0, 1.0)
    """The accuracy's 95% Wilson interval (:func:`wilson_interval`) over the examples scored."""

    @property
    def examples(self) -> int:
        """How many examples were scored."""
        return int(sum(sum(row) for row in self.confusion))

    def interval_line(self, unit: str = "faces") -> str:
        """One line for a report: the accuracy's 95% interval and what it rests on."""
        lo, hi = self.accuracy_ci95
        return f"accuracy 95% interval (Wilson, {self.examples} {unit}): {lo:.4f}-{hi:.4f}"

    def as_dict(self) -> dict[str, object]:
        return {
            "accuracy": self.accuracy,
            "accuracy_ci95": list(self.accuracy_ci95),
            "macro_precision": self.macro_precision,
            "macro_recall": self.macro_recall,
            "macro_f1": self.macro_f1,
            "valence_accuracy": self.valence_accuracy,
            "labels": list(self.labels),
            "per_class": self.per_class,
            "confusion": self.confusion,
        }


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)
    return out


def compute_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: tuple[str, ...] = EMOTIONS) -> Metrics:
    """All the scores of a set of predictions (class indices into ``labels``)."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of equal length, got {y_true.shape} and {y_pred.shape}")
    k = len(labels)
    cm = confusion_matrix(y_true, y_pred, k)
    tp = np.diag(cm).astype(np.float64)
    precision = _safe_div(tp, cm.sum(axis=0).astype(np.float64))
    recall = _safe_div(tp, cm.sum(axis=1).astype(np.float64))
    f1 = _safe_div(2 * precision * recall, precision + recall)
    support = cm.sum(axis=1)
    present = support > 0
    valence_acc = None
    if all(lab in VALENCE_OF for lab in labels) and y_true.size:
        val_idx = np.array([VALENCES.index(VALENCE_OF[lab]) for lab in labels])
        valence_acc = float((val_idx[y_true] == val_idx[y_pred]).mean())
    correct = int((y_true == y_pred).sum())
    return Metrics(
        accuracy=correct / y_true.size if y_true.size else 0.0,
        accuracy_ci95=wilson_interval(correct, int(y_true.size)),
        macro_precision=float(precision[present].mean()) if present.any() else 0.0,
        macro_recall=float(recall[present].mean()) if present.any() else 0.0,
        macro_f1=float(f1[present].mean()) if present.any() else 0.0,
        valence_accuracy=valence_acc,
        confusion=cm.tolist(),
        labels=tuple(labels),
        per_class={
            lab: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, lab in enumerate(labels)
        },
    )
