"""The valence of each track over time, read from a video job's ``frames.csv``, for the page's chart.

Valence here is one number per face: the summed probability of the positive emotions minus that
of the negative ones (:data:`emolens.labels.VALENCE_OF`), from -1 to 1; the page's valence card
uses the same rule.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from typing import Any

from emolens.labels import VALENCE_OF

MAX_POINTS = 2000
"""Points per track at most: longer tracks keep every k-th row (the chart is a few hundred pixels wide)."""

_SIGN = {"positive": 1.0, "negative": -1.0}


def valence_score(scores: dict[str, float]) -> float:
    """P(positive emotions) - P(negative emotions), in [-1, 1]."""
    value = sum(_SIGN.get(VALENCE_OF.get(label, "neutral"), 0.0) * p for label, p in scores.items())
    return max(-1.0, min(1.0, value))


def read_timeline(lines: Iterable[str], max_points: int = MAX_POINTS) -> dict[str, Any]:
    """Per track (in id order): times, valence and label of its rows; rows without a track are left out.

    ``lines``: the CSV (header first) as written by :class:`emolens.video.outputs.CsvWriter`.
    """
    reader = csv.DictReader(lines)
    fields = reader.fieldnames or []
    labels = [name for name in fields if name in VALENCE_OF]
    tracks: dict[int, list[tuple[float, float, str]]] = {}
    last = 0.0
    for row in reader:
        try:
            time = float(row["time"])
            track = int(row["track_id"])
            scores = {label: float(row[label]) for label in labels}
        except (KeyError, TypeError, ValueError):
            continue  # an untracked face, or a row cut short
        if not math.isfinite(time):
            continue
        last = max(last, time)
        tracks.setdefault(track, []).append((time, valence_score(scores), row.get("label") or ""))
    out = []
    for track_id in sorted(tracks):
        rows = tracks[track_id]
        step = max(1, math.ceil(len(rows) / max_points))
        kept = rows[::step]
        out.append(
            {
                "track_id": track_id,
                "times": [round(t, 4) for t, _, _ in kept],
                "valence": [round(v, 4) for _, v, _ in kept],
                "labels": [label for _, _, label in kept],
            }
        )
    return {"last_s": round(last, 4) if tracks else None, "tracks": out}
