"""What a video run writes: per-face CSV, a JSON summary per track, an annotated video, a timeline plot.

Every writer works on a temporary file beside its destination and moves it into place only on
``commit()``; ``discard()`` removes it. A failed or interrupted run therefore leaves no partial file.
"""

from __future__ import annotations

import csv as csvlib
import io
import logging
import os
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import cv2
import numpy as np

from emolens.errors import EmolensError
from emolens.imageio import check_writable, write_bytes_atomic
from emolens.labels import EMOTIONS, valence_of
from emolens.video.draw import COLORS, draw_faces
from emolens.video.pipeline import FrameResult
from emolens.video.smoothing import smoothing_report, switches_per_second

logger = logging.getLogger(__name__)

UNTRACKED = 0
"""The track id used for faces that carry none (trackers number from 1)."""


class TempFile:
    """A temporary file beside ``dest`` (same suffix), moved onto ``dest`` by :meth:`commit`."""

    def __init__(self, dest: str | Path) -> None:
        self.dest = Path(dest)
        check_writable(self.dest)
        # O_EXCL with mode 0o666: a fresh name, and the umask's permissions (mkstemp would give 0600)
        for _ in range(100):
            path = self.dest.parent / f".{self.dest.name}.{secrets.token_hex(4)}.tmp{self.dest.suffix}"
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            except FileExistsError:
                continue
            self.path = path
            return
        raise EmolensError(f"cannot create a temporary file beside {self.dest}")  # pragma: no cover

    def commit(self) -> None:
        os.replace(self.path, self.dest)

    def discard(self) -> None:
        if self.path.exists():
            self.path.unlink()


class CsvWriter:
    """One row per face per frame: frame, time, track_id, x, y, w, h, one column per label, label, valence.

    The probability columns hold the (smoothed) scores of each face.
    """

    def __init__(self, path: str | Path, labels: Sequence[str] = EMOTIONS) -> None:
        self.labels = tuple(labels)
        self._tmp = TempFile(path)
        self._fh: IO[str] = open(self._tmp.path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in commit/discard
        self._csv = csvlib.writer(self._fh)
        self._csv.writerow(["frame", "time", "track_id", "x", "y", "w", "h", *self.labels, "label", "valence"])
        self.rows = 0

    def write(self, result: FrameResult) -> None:
        for f in result.faces:
            self._csv.writerow(
                [
                    result.index,
                    f"{result.time:.4f}",
                    f.track_id if f.track_id is not None else "",
                    *f.box,
                    *(f"{f.scores.get(lab, 0.0):.5f}" for lab in self.labels),
                    f.label,
                    f.valence,
                ]
            )
            self.rows += 1

    def commit(self) -> None:
        self._fh.close()
        self._tmp.commit()

    def discard(self) -> None:
        self._fh.close()
        self._tmp.discard()

    def __enter__(self) -> CsvWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


class AnnotatedVideoWriter:
    """The frames with their faces drawn, encoded by ``cv2.VideoWriter`` (``mp4v`` by default).

    The frame size is that of the first frame; later frames of another size are resized to it.
    """

    def __init__(self, path: str | Path, fps: float, fourcc: str = "mp4v") -> None:
        if fps <= 0:
            raise EmolensError(f"the video frame rate must be positive, got {fps}")
        self.fps = fps
        self.fourcc = fourcc
        self._tmp = TempFile(path)
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] = (0, 0)
        self.frames = 0

    def write(self, result: FrameResult) -> None:
        img = draw_faces(result.image, result.faces)
        if self._writer is None:
            self._size = (img.shape[1], img.shape[0])
            self._writer = cv2.VideoWriter(
                str(self._tmp.path), cv2.VideoWriter.fourcc(*self.fourcc), self.fps, self._size
            )
            if not self._writer.isOpened():
                raise EmolensError(f"cannot write the video {self._tmp.dest}: OpenCV has no {self.fourcc} encoder")
        elif (img.shape[1], img.shape[0]) != self._size:
            img = cv2.resize(img, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(img)
        self.frames += 1

    def _release(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def commit(self) -> None:
        self._release()
        if self.frames == 0:
            logger.warning("no frames: %s not written", self._tmp.dest)
            self._tmp.discard()
            return
        self._tmp.commit()

    def discard(self) -> None:
        self._release()
        self._tmp.discard()


@dataclass
class TrackSeries:
    """One track over time: frame times, smoothed and raw labels, smoothed probabilities."""

    times: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    raw_labels: list[str] = field(default_factory=list)
    probs: list[list[float]] = field(default_factory=list)


class TrackLog:
    """Everything the summary and the timeline need, gathered frame by frame (no images kept)."""

    def __init__(self, labels: Sequence[str] = EMOTIONS) -> None:
        self.labels = tuple(labels)
        self.tracks: dict[int, TrackSeries] = {}
        self.frames = 0
        self.faces = 0
        self.first_time: float | None = None
        self.last_time: float | None = None

    def add(self, result: FrameResult) -> None:
        self.frames += 1
        if self.first_time is None:
            self.first_time = result.time
        self.last_time = result.time
        for f in result.faces:
            tid = f.track_id if f.track_id is not None else UNTRACKED
            s = self.tracks.setdefault(tid, TrackSeries())
            s.times.append(result.time)
            s.labels.append(f.label)
            s.raw_labels.append(str(f.extra.get("raw_label", f.label)))
            s.probs.append([f.scores.get(lab, 0.0) for lab in self.labels])
            self.faces += 1


def summarize(
    log: TrackLog,
    *,
    source: str | None = None,
    fps: float | None = None,
    model: str | None = None,
    detector: str | None = None,
) -> dict[str, Any]:
    """Per track: dominant emotion, share of its frames in each emotion, mean scores, first and
    last time, frames, and label stability (switches per second, raw and smoothed)."""
    tracks = []
    for tid in sorted(log.tracks):
        s = log.tracks[tid]
        n = len(s.labels)
        counts = Counter(s.labels)
        mean = np.asarray(s.probs, dtype=np.float64).mean(axis=0)
        mean_scores = {lab: round(float(v), 5) for lab, v in zip(log.labels, mean, strict=True)}
        dominant = max(log.labels, key=lambda lab: (counts[lab], mean_scores[lab]))
        valence = Counter(valence_of(lab) for lab in s.labels if lab in EMOTIONS)
        rep = smoothing_report(s.times, s.raw_labels, s.labels)
        tracks.append(
            {
                "track_id": tid,
                "frames": n,
                "first_s": round(s.times[0], 4),
                "last_s": round(s.times[-1], 4),
                "dominant": dominant,
                "dominant_valence": valence_of(dominant) if dominant in EMOTIONS else None,
                "share": {lab: round(counts[lab] / n, 5) for lab in log.labels},
                "valence_share": {v: round(c / n, 5) for v, c in sorted(valence.items())},
                "mean_scores": mean_scores,
                "label_switches_per_s": round(switches_per_second(s.times, s.labels), 4),
                "raw_label_switches_per_s": round(rep.raw_switches_per_s, 4),
                "smoothing_lags_s": [None if x is None else round(x, 4) for x in rep.lags_s],
            }
        )
    return {
        "source": source,
        "model": model,
        "detector": detector,
        "fps": fps,
        "frames": log.frames,
        "faces": log.faces,
        "first_s": log.first_time,
        "last_s": log.last_time,
        "labels": list(log.labels),
        "tracks": tracks,
    }


def _rgb(label: str) -> tuple[float, float, float]:
    b, g, r = COLORS.get(label, (128, 128, 128))
    return (r / 255.0, g / 255.0, b / 255.0)


def render_timeline(log: TrackLog, fmt: str = "png", max_tracks: int = 12) -> bytes:
    """A plot of each track's (smoothed) emotion probabilities over time, stacked, one row per track.

    The ``max_tracks`` longest tracks are drawn, in id order. Needs matplotlib, imported here only.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
    except ImportError:
        raise EmolensError("the timeline needs matplotlib: pip install matplotlib (or emolens[train])") from None
    ids = sorted(sorted(log.tracks, key=lambda t: -len(log.tracks[t].times))[:max_tracks])
    if len(log.tracks) > len(ids):
        logger.info("timeline: drawing the %d longest of %d tracks", len(ids), len(log.tracks))
    rows = max(1, len(ids))
    fig = Figure(figsize=(10, 1.2 + 1.4 * rows))
    FigureCanvasAgg(fig)
    t0 = log.first_time or 0.0
    t1 = log.last_time if log.last_time is not None and log.last_time > t0 else t0 + 1.0
    colors = [_rgb(lab) for lab in log.labels]
    for k in range(rows):
        ax = fig.add_subplot(rows, 1, k + 1)
        ax.set_xlim(t0, t1)
        ax.set_ylim(0, 1)
        ax.set_yticks([])
        if not ids:
            ax.text(0.5, 0.5, "no faces", ha="center", va="center", transform=ax.transAxes)
            continue
        s = log.tracks[ids[k]]
        p = np.asarray(s.probs, dtype=np.float64).T
        times = np.asarray(s.times, dtype=np.float64)
        # gaps (frames where the track was not seen) break the plot instead of being bridged
        step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
        breaks = np.nonzero(np.diff(times) > 3 * step + 1e-6)[0] + 1 if step > 0 else np.zeros(0, np.int64)
        for seg in np.split(np.arange(len(times)), breaks):
            if len(seg) == 1:
                seg = np.array([seg[0], seg[0]])
            ax.stackplot(times[seg], p[:, seg], colors=colors, linewidth=0)
        top = Counter(s.labels).most_common(1)[0][0]
        ax.set_ylabel(f"track {ids[k]}\n{top}", rotation=0, ha="right", va="center")
        if k < rows - 1:
            ax.set_xticklabels([])
    fig.axes[-1].set_xlabel("time (s)")
    fig.legend(
        handles=[Patch(color=c, label=lab) for c, lab in zip(colors, log.labels, strict=True)],
        loc="upper center",
        ncol=len(log.labels),
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / (1.2 + 1.4 * rows)))
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=100)
    return buf.getvalue()


def write_timeline(path: str | Path, log: TrackLog) -> None:
    path = Path(path)
    write_bytes_atomic(path, render_timeline(log, fmt=path.suffix.lstrip(".").lower() or "png"))


class VideoOutputs:
    """The CSV and annotated video written while frames come, and the summary and timeline at the end."""

    def __init__(
        self,
        labels: Sequence[str],
        *,
        fps: float,
        out: str | Path | None = None,
        csv: str | Path | None = None,
    ) -> None:
        self.log = TrackLog(labels)
        self._csv: CsvWriter | None = None
        self._video: AnnotatedVideoWriter | None = None
        try:
            self._csv = CsvWriter(csv, labels) if csv is not None else None
            self._video = AnnotatedVideoWriter(out, fps) if out is not None else None
        except BaseException:
            self.discard()
            raise

    def add(self, result: FrameResult) -> None:
        self.log.add(result)
        if self._csv is not None:
            self._csv.write(result)
        if self._video is not None:
            self._video.write(result)

    def commit(
        self,
        *,
        json: str | Path | None = None,
        timeline: str | Path | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        """Render everything first, then move every file into place."""
        import json as jsonlib

        blobs: list[tuple[Path, bytes]] = []
        if json is not None:
            obj = summary if summary is not None else summarize(self.log)
            blobs.append((Path(json), (jsonlib.dumps(obj, indent=2) + "\n").encode()))
        if timeline is not None:
            path = Path(timeline)
            blobs.append((path, render_timeline(self.log, fmt=path.suffix.lstrip(".").lower() or "png")))
        if self._video is not None:
            self._video.commit()
        if self._csv is not None:
            self._csv.commit()
        for path, data in blobs:
            write_bytes_atomic(path, data)

    def discard(self) -> None:
        if self._video is not None:
            self._video.discard()
        if self._csv is not None:
            self._csv.discard()
