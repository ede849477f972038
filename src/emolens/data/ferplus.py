"""FER+ crowd-sourced vote distributions (``ferplus.csv``) as soft training targets."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from emolens.data.fer2013 import FaceSet
from emolens.errors import DataError
from emolens.labels import EMOTIONS

# FER+ column -> our label; contempt, unknown and NF carry no emotion of ours.
FERPLUS_COLUMNS: dict[str, str] = {
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happiness": "happy",
    "sadness": "sad",
    "surprise": "surprise",
    "neutral": "neutral",
}


def _read_votes(
    csv_path: str | Path, columns: dict[str, str], labels: tuple[str, ...], extra: tuple[str, ...] = ()
) -> Iterator[tuple[dict[str, str], np.ndarray]]:
    """Each row of ``ferplus.csv`` with its votes over ``labels`` (float32), after checking the columns."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DataError(f"FER+ votes not found: {csv_path}")
    with csv_path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"path", *columns, *extra} - set(reader.fieldnames or ())
        if missing:
            raise DataError(f"{csv_path}: not a ferplus.csv file, missing column(s) {', '.join(sorted(missing))}")
        for row in reader:
            v = np.zeros(len(labels), dtype=np.float32)
            for col, label in columns.items():
                v[labels.index(label)] = float(row[col] or 0)
            yield row, v


def load_votes(csv_path: str | Path) -> dict[str, np.ndarray]:
    """Read ``ferplus.csv``: path -> vote counts over :data:`EMOTIONS` (float32, length 7)."""
    return {row["path"]: v for row, v in _read_votes(csv_path, FERPLUS_COLUMNS, EMOTIONS)}


def soft_targets(
    paths: tuple[str, ...], labels: np.ndarray, votes: dict[str, np.ndarray], weight: float = 1.0
) -> np.ndarray:
    """Blend one-hot FER-2013 labels with FER+ vote distributions.

    ``weight`` is the share of the FER+ distribution (0 = hard labels only). Faces without
    FER+ votes for any of our emotions keep their one-hot label.
    """
    n = len(labels)
    onehot = np.zeros((n, len(EMOTIONS)), dtype=np.float32)
    onehot[np.arange(n), labels] = 1.0
    out = onehot.copy()
    for i, p in enumerate(paths):
        v = votes.get(p.replace("\\", "/"))
        if v is not None and v.sum() > 0:
            out[i] = (1 - weight) * onehot[i] + weight * v / v.sum()
    return out


FERPLUS_LABELS: tuple[str, ...] = (*EMOTIONS, "contempt")
"""FER+'s eight emotions, in emolens order (FER-2013's seven, then contempt)."""
FERPLUS8_COLUMNS: dict[str, str] = {**FERPLUS_COLUMNS, "contempt": "contempt"}
"""FER+ column -> label, for FER+'s eight emotions."""


def load_votes8(csv_path: str | Path) -> dict[str, tuple[np.ndarray, float]]:
    """Read ``ferplus.csv``: path -> (votes over :data:`FERPLUS_LABELS`, the larger of the
    ``unknown`` and not-a-face ``NF`` counts)."""
    return {
        row["path"]: (v, max(float(row["unknown"] or 0), float(row["NF"] or 0)))
        for row, v in _read_votes(csv_path, FERPLUS8_COLUMNS, FERPLUS_LABELS, ("unknown", "NF"))
    }


def ferplus_relabel(
    faces: FaceSet, votes_csv: str | Path, classes: tuple[str, ...] = FERPLUS_LABELS
) -> tuple[FaceSet, np.ndarray]:
    """The faces of a FER-2013 split with FER+ labels over ``classes`` (FER+'s eight, or a subset).

    Kept: faces whose votes for ``classes`` outnumber their unknown and not-a-face votes, with one
    most-voted class (ties dropped). Returns the kept faces labelled by that majority, and their
    vote distributions (rows sum to 1) for soft targets.
    """
    if not set(classes) <= set(FERPLUS_LABELS):
        raise DataError(f"FER+ has no votes for {', '.join(sorted(set(classes) - set(FERPLUS_LABELS)))}")
    votes = load_votes8(votes_csv)
    cols = [FERPLUS_LABELS.index(c) for c in classes]
    keep, labels, dists = [], [], []
    for i, path in enumerate(faces.paths):
        entry = votes.get(path.replace("\\", "/"))
        if entry is None:
            continue
        v = entry[0][cols]
        top = float(v.max())
        if top <= entry[1] or top == 0 or int((v == top).sum()) > 1:
            continue
        keep.append(i)
        labels.append(int(v.argmax()))
        dists.append(v / v.sum())
    if not keep:
        raise DataError(f"no face of this split has a clear FER+ majority in {votes_csv}")
    idx = np.asarray(keep)
    relabelled = FaceSet(
        faces.images[idx], np.asarray(labels, dtype=np.int64), tuple(faces.paths[i] for i in keep), tuple(classes)
    )
    return relabelled, np.stack(dists).astype(np.float32)
