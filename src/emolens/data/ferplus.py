"""FER+ crowd-sourced vote distributions (``ferplus.csv``) as soft training targets."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

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


def load_votes(csv_path: str | Path) -> dict[str, np.ndarray]:
    """Read ``ferplus.csv``: path -> vote counts over :data:`EMOTIONS` (float32, length 7)."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DataError(f"FER+ votes not found: {csv_path}")
    votes: dict[str, np.ndarray] = {}
    with csv_path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"path", *FERPLUS_COLUMNS} - set(reader.fieldnames or ())
        if missing:
            raise DataError(f"{csv_path}: not a ferplus.csv file, missing column(s) {', '.join(sorted(missing))}")
        for row in reader:
            v = np.zeros(len(EMOTIONS), dtype=np.float32)
            for col, label in FERPLUS_COLUMNS.items():
                v[EMOTIONS.index(label)] = float(row[col] or 0)
            votes[row["path"]] = v
    return votes


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
