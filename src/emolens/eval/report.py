"""Evaluate a model file on a data split: JSON report and confusion-matrix plots."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emolens.data.fer2013 import load_split
from emolens.errors import EmolensError
from emolens.eval.metrics import Metrics, compute_metrics
from emolens.io import write_bytes_atomic, write_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    model: str
    split: str
    faces: int
    metrics: Metrics
    tta: str

    def as_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "split": self.split,
            "faces": self.faces,
            "tta": self.tta,
            **self.metrics.as_dict(),
        }


def evaluate(
    model: str | Path | None,
    data: str | Path,
    split: str = "test",
    *,
    tta: str | None = None,
    threads: int | None = None,
    ferplus: str | Path | None = None,
) -> Evaluation:
    """Score a model (bundled name or .onnx path) on a split of FER-2013 or of your own folders (whose
    class folders must be among the model's labels), through ONNX Runtime.

    With ``ferplus`` (a ``ferplus.csv``), the split's faces are labelled by their FER+ majority over
    the model's labels instead (ties, and faces voted mostly unknown or not a face, dropped)."""
    from emolens.runtime.recognizer import Recognizer

    rec = Recognizer(model, tta=tta, threads=threads)
    if ferplus is not None:
        from emolens.data.ferplus import ferplus_relabel

        faces, _ = ferplus_relabel(load_split(data, split, size=rec.meta.input_size), ferplus, rec.labels)
    else:
        faces = load_split(data, split, size=rec.meta.input_size, classes=rec.labels)
    probs = rec.predict_faces(faces.images)
    metrics = compute_metrics(faces.labels, probs.argmax(1), labels=rec.labels)
    return Evaluation(str(rec.path), split, len(faces), metrics, rec.tta)


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend, or a clear error when it is not installed."""
    try:
        import matplotlib
    except ImportError:
        raise EmolensError("plots need matplotlib (an emolens dependency): pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, dpi: int = 100) -> None:
    """Render a figure to PNG and write it atomically; the figure is closed either way."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())


def plot_confusion(metrics: Metrics, path: Path, title: str = "") -> None:
    """Two panels: counts and row-normalised rates (recall on the diagonal)."""
    plt = pyplot()
    cm = np.asarray(metrics.confusion, dtype=np.float64)
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for ax, mat, fmt, name in ((axes[0], cm, "{:.0f}", "counts"), (axes[1], rates, "{:.2f}", "row-normalised")):
        ax.imshow(mat, cmap="Blues")
        ax.set_xticks(range(len(metrics.labels)), metrics.labels, rotation=45, ha="right")
        ax.set_yticks(range(len(metrics.labels)), metrics.labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(name)
        top = mat.max() if mat.size else 1
        for i in range(mat.shape[0]):
            for j in range(mat.shape[1]):
                ax.text(
                    j,
                    i,
                    fmt.format(mat[i, j]),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if mat[i, j] > 0.6 * top else "black",
                )
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)


def write_report(ev: Evaluation, json_path: Path | None, confusion_png: Path | None) -> None:
    """Write the JSON report and/or the confusion-matrix PNG (each atomically)."""
    for p in (json_path, confusion_png):
        if p is not None and not p.parent.is_dir():
            raise EmolensError(f"output folder does not exist: {p.parent}")
    if json_path is not None:
        write_json(json_path, ev.as_dict())
    if confusion_png is not None:
        m = ev.metrics
        plot_confusion(
            m,
            confusion_png,
            f"{Path(ev.model).stem} on {ev.split}: accuracy {m.accuracy:.4f}, macro-F1 {m.macro_f1:.4f}",
        )
