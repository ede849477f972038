"""Classification metrics in plain NumPy: accuracy, precision, recall, F1, confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from emolens.labels import EMOTIONS, VALENCE_OF, VALENCES


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts: row = true class, column = predicted class."""
    idx = np.asarray(y_true, dtype=np.int64) * num_classes + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


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

    def as_dict(self) -> dict[str, object]:
        return {
            "accuracy": self.accuracy,
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
    return Metrics(
        accuracy=float((y_true == y_pred).mean()) if y_true.size else 0.0,
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
