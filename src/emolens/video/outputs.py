"""What a video run writes: per-face CSV, a JSON summary per track, an annotated video, a timeline plot.

Each output has a writer, found by name in :data:`WRITERS` (:func:`get_writer`): ``csv``,
``json``, ``video`` (H.264 MP4, VP9 WebM; see :mod:`emolens.video.encode`) and ``timeline``
(PNG, SVG, PDF). A writer takes the frames one by one (:meth:`OutputWriter.write`), completes
its file at the end of the run (:meth:`OutputWriter.finish`), then moves it into place
(:meth:`OutputWriter.commit`), or removes it (:meth:`OutputWriter.discard`): it works on an
:class:`~emolens.io.AtomicFile` beside its destination, so a failed or interrupted run leaves no
partial file. :class:`VideoOutputs` drives the writers of one run.
"""

from __future__ import annotations

import csv as csvlib
import io
import json as jsonlib
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np

from emolens.errors import EmolensError
from emolens.io import AtomicFile, Committable
from emolens.labels import EMOTIONS, valence_of
from emolens.types import Face, FrameResult
from emolens.video.draw import COLORS, draw_faces, track_color
from emolens.video.encode import VIDEO_SUFFIXES, VideoEncoder
from emolens.video.smoothing import smoothing_report, switches_per_second

logger = logging.getLogger(__name__)

__all__ = [
    "TIMELINE_SUFFIXES",
    "UNTRACKED",
    "VIDEO_SUFFIXES",
    "WRITERS",
    "AnnotatedVideoWriter",
    "CsvWriter",
    "JsonWriter",
    "OutputWriter",
    "TimelineWriter",
    "TrackLog",
    "TrackSeries",
    "VideoOutputs",
    "get_writer",
    "render_timeline",
    "summarize",
    "write_timeline",
]

UNTRACKED = 0
"""The track id used for faces that carry none (trackers number from 1)."""

TIMELINE_SUFFIXES = (".png", ".svg", ".pdf")


@dataclass
class TrackSeries:
    """One track over time: frame times, smoothed and raw labels, smoothed probabilities."""

    times: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    raw_labels: list[str] = field(default_factory=list)
    probs: list[list[float]] = field(default_factory=list)
    fused_labels: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class VoicePoint:
    """One voice window for the summary and the timeline: its span, label, and probabilities over
    the face's labels (None for silence and non-speech)."""

    start_s: float
    end_s: float
    label: str
    probs: list[float] | None


class TrackLog:
    """Everything the summary and the timeline need, gathered frame by frame (no images kept)."""

    def __init__(self, labels: Sequence[str] = EMOTIONS) -> None:
        self.labels = tuple(labels)
        self.tracks: dict[int, TrackSeries] = {}
        self.frames = 0
        self.faces = 0
        self.first_time: float | None = None
        self.voice: list[VoicePoint] | None = None
        """The voice windows of the run, when it listened (set by the caller)."""
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
            fused = f.extra.get("fused")
            if fused is not None:
                s.fused_labels.append(fused.label)
            self.faces += 1


def summarize(
    log: TrackLog,
    *,
    source: str | None = None,
    fps: float | None = None,
    model: str | None = None,
    detector: str | None = None,
) -> dict[str, Any]:
    """Per track: its colour (``#rrggbb``, as drawn on the video), dominant emotion, share of its
    frames in each emotion, mean scores, first and last time, frames, and label stability
    (switches per second, raw and smoothed)."""
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
                "color": track_color(tid),
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
                **_fused_share(s, log.labels),
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


def _fused_share(s: TrackSeries, labels: Sequence[str]) -> dict[str, Any]:
    """With the voice: the track's dominant fused emotion and the share of its frames in each."""
    if not s.fused_labels:
        return {}
    counts = Counter(s.fused_labels)
    n = len(s.fused_labels)
    return {
        "fused_dominant": max(labels, key=lambda lab: counts[lab]),
        "fused_share": {lab: round(counts[lab] / n, 5) for lab in labels},
    }


def _rgb(label: str) -> tuple[float, float, float]:
    b, g, r = COLORS.get(label, (128, 128, 128))
    return (r / 255.0, g / 255.0, b / 255.0)


def _voice_row(ax: Any, voice: Sequence[VoicePoint], colors: Sequence[tuple[float, float, float]]) -> None:
    """The voice's emotions (over the face's labels) at each window's centre; silence left blank."""
    speech = [v for v in voice if v.probs is not None]
    ax.set_ylabel("voice", rotation=0, ha="right", va="center")
    if not speech:
        ax.text(0.5, 0.5, "no speech", ha="center", va="center", transform=ax.transAxes)
        return
    hop = min(
        (b.start_s - a.start_s for a, b in zip(voice, voice[1:], strict=False) if b.start_s > a.start_s), default=0.5
    )
    for v in speech:
        mid = (v.start_s + v.end_s) / 2
        bottom = 0.0
        for p, c in zip(v.probs or (), colors, strict=False):
            ax.bar(mid, p, width=hop, bottom=bottom, color=c, linewidth=0)
            bottom += p


def render_timeline(log: TrackLog, fmt: str = "png", max_tracks: int = 12) -> bytes:
    """A plot of each track's (smoothed) emotion probabilities over time, stacked, one row per track,
    and a last row for the voice when the run listened (its windows' emotions, silence blank).

    The ``max_tracks`` longest tracks are drawn, in id order, each row edged in its track's colour.
    ``fmt``: ``png``, ``svg`` or ``pdf``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    ids = sorted(sorted(log.tracks, key=lambda t: -len(log.tracks[t].times))[:max_tracks])
    if len(log.tracks) > len(ids):
        logger.info("timeline: drawing the %d longest of %d tracks", len(ids), len(log.tracks))
    rows = max(1, len(ids)) + (1 if log.voice is not None else 0)
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
        if log.voice is not None and k == rows - 1:
            _voice_row(ax, log.voice, colors)
            continue
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
        ax.spines["left"].set_color(track_color(ids[k]))
        ax.spines["left"].set_linewidth(6)
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


# ---------------------------------------------------------------------- writers


class OutputWriter(Committable):
    """One output file, written through an :class:`~emolens.io.AtomicFile` beside ``path``.

    Every writer takes the same keywords (each uses those it needs): ``labels`` (the probability
    columns), ``fps`` (the video's frame rate), ``audio`` (a source file whose sound the video
    keeps). Call :meth:`write` on each frame, :meth:`finish` at the end, then :meth:`commit`; or
    :meth:`discard` at any time. As a context manager it commits on success, discards on error.
    """

    name: ClassVar[str] = ""
    suffixes: ClassVar[tuple[str, ...]] = ()
    """The file name endings this writer takes (empty: any)."""

    def __init__(
        self,
        path: str | Path,
        *,
        labels: Sequence[str] = EMOTIONS,
        fps: float = 30.0,
        audio: str | Path | None = None,
        voice: bool = False,
    ) -> None:
        self.check_name(path)
        self.labels = tuple(labels)
        self._tmp = AtomicFile(path)

    @classmethod
    def check_name(cls, path: str | Path) -> None:
        """Raise an EmolensError when ``path`` does not end in one of :attr:`suffixes`."""
        if cls.suffixes and Path(path).suffix.lower() not in cls.suffixes:
            raise EmolensError(f"{path}: use a {cls.name} file name ending in {', '.join(cls.suffixes)}")

    @property
    def dest(self) -> Path:
        return self._tmp.dest

    def write(self, result: FrameResult) -> None:
        """Take one frame (the writers that need only the whole run ignore it)."""

    def finish(self, log: TrackLog, summary: Mapping[str, Any]) -> None:
        """Complete the temporary file, from the run's ``log`` and ``summary`` where needed."""
        self._close()

    def _close(self) -> None:
        """Complete what :meth:`write` began (idempotent)."""

    def commit(self) -> None:
        """Move the completed file onto its destination."""
        self._close()
        self._tmp.commit()

    def discard(self) -> None:
        """Remove the temporary file; the destination is left as it was."""
        self._tmp.discard()


class CsvWriter(OutputWriter):
    """One row per face per frame: frame, time, track_id, x, y, w, h, one column per label, label, valence.

    The probability columns hold the (smoothed) scores of each face.
    """

    name = "csv"

    def __init__(
        self,
        path: str | Path,
        *,
        labels: Sequence[str] = EMOTIONS,
        fps: float = 30.0,
        audio: str | Path | None = None,
        voice: bool = False,
    ) -> None:
        super().__init__(path, labels=labels)
        self.voice = voice
        self._fh: IO[str] = open(self._tmp.path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in _close
        self._csv = csvlib.writer(self._fh)
        header = ["frame", "time", "track_id", "x", "y", "w", "h", *self.labels, "label", "valence"]
        if voice:
            header += ["voice_label", "voice_speech", *(f"fused_{lab}" for lab in self.labels), "fused_label"]
        self._csv.writerow(header)
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
                    *(self._voice_columns(f) if self.voice else ()),
                ]
            )
            self.rows += 1

    def _voice_columns(self, f: Face) -> list[str]:
        """The voice's window at this frame (empty outside the sound) and the fused scores."""
        fused = f.extra.get("fused")
        label = f.extra.get("voice_label")
        speech = f.extra.get("voice_speech")
        return [
            label or "",
            "" if speech is None else f"{speech:.4f}",
            *(("" if fused is None else f"{fused.probs.get(lab, 0.0):.5f}") for lab in self.labels),
            "" if fused is None else fused.label,
        ]

    def _close(self) -> None:
        self._fh.close()

    def discard(self) -> None:
        self._fh.close()
        super().discard()


class JsonWriter(OutputWriter):
    """The run's summary (:func:`summarize`), as indented JSON."""

    name = "json"
    _done = False

    def finish(self, log: TrackLog, summary: Mapping[str, Any]) -> None:
        self._tmp.path.write_text(jsonlib.dumps(summary, indent=2) + "\n", encoding="utf-8")
        self._done = True

    def commit(self) -> None:
        if not self._done:
            raise EmolensError(f"{self.dest}: nothing to write yet (call finish first)")
        super().commit()


class TimelineWriter(OutputWriter):
    """The plot of :func:`render_timeline`, in the format its name ends in."""

    name = "timeline"
    suffixes = TIMELINE_SUFFIXES
    _done = False

    def finish(self, log: TrackLog, summary: Mapping[str, Any]) -> None:
        self._tmp.path.write_bytes(render_timeline(log, fmt=self.dest.suffix.lstrip(".").lower()))
        self._done = True

    def commit(self) -> None:
        if not self._done:
            raise EmolensError(f"{self.dest}: nothing to write yet (call finish first)")
        super().commit()


class AnnotatedVideoWriter(OutputWriter):
    """The frames with their faces drawn (:func:`~emolens.video.draw.draw_faces`), encoded by
    :class:`~emolens.video.encode.VideoEncoder`: H.264 MP4 (or MOV, MKV, AVI), VP9 WebM, with
    the sound of ``audio`` when given.

    The frame size is that of the first frame; later frames of another size are resized to it.
    A run without frames writes no file (logged).
    """

    name = "video"
    suffixes = VIDEO_SUFFIXES

    def __init__(
        self,
        path: str | Path,
        *,
        labels: Sequence[str] = EMOTIONS,
        fps: float = 30.0,
        audio: str | Path | None = None,
        voice: bool = False,
    ) -> None:
        super().__init__(path, labels=labels)
        try:
            self.encoder = VideoEncoder(self._tmp.path, fps, audio=audio, name=self.dest)
        except BaseException:
            self._tmp.discard()
            raise

    @property
    def frames(self) -> int:
        return self.encoder.frames

    def write(self, result: FrameResult) -> None:
        self.encoder.write(draw_faces(result.image, result.faces), result.time)

    def _close(self) -> None:
        self.encoder.close()

    def commit(self) -> None:
        self._close()
        if self.frames == 0:
            logger.warning("no frames: %s not written", self.dest)
            self._tmp.discard()
            return
        self._tmp.commit()

    def discard(self) -> None:
        self.encoder.abort()
        super().discard()


WRITERS: dict[str, type[OutputWriter]] = {
    "csv": CsvWriter,
    "json": JsonWriter,
    "timeline": TimelineWriter,
    "video": AnnotatedVideoWriter,
}
"""Every output writer by name."""


def get_writer(name: str) -> type[OutputWriter]:
    """The writer class called ``name`` (see :data:`WRITERS`); an unknown name is an EmolensError."""
    try:
        return WRITERS[name]
    except KeyError:
        raise EmolensError(f"unknown output {name!r}; choose from {', '.join(sorted(WRITERS))}") from None


def write_timeline(path: str | Path, log: TrackLog) -> None:
    """Write the timeline of ``log`` to ``path`` (PNG, SVG or PDF, by its name)."""
    with TimelineWriter(path, labels=log.labels) as w:
        w.finish(log, {})


class VideoOutputs:
    """The writers of one run: ``out`` (annotated video), ``csv``, ``json`` (summary) and
    ``timeline``, each None when not asked for, fed frame by frame and completed together.

    ``audio``: the source file whose sound the annotated video keeps (None: silent). ``voice``:
    the faces carry the voice's window and the fused scores (:mod:`emolens.fusion`), which the CSV
    gets as columns.
    """

    def __init__(
        self,
        labels: Sequence[str],
        *,
        fps: float,
        out: str | Path | None = None,
        csv: str | Path | None = None,
        json: str | Path | None = None,
        timeline: str | Path | None = None,
        audio: str | Path | None = None,
        voice: bool = False,
    ) -> None:
        self.log = TrackLog(labels)
        self.writers: dict[str, OutputWriter] = {}
        try:
            for name, path in (("csv", csv), ("json", json), ("timeline", timeline), ("video", out)):
                if path is not None:
                    self.writers[name] = get_writer(name)(path, labels=labels, fps=fps, audio=audio, voice=voice)
        except BaseException:
            self.discard()
            raise

    def add(self, result: FrameResult) -> None:
        self.log.add(result)
        for w in self.writers.values():
            w.write(result)

    def commit(self, summary: Mapping[str, Any] | None = None) -> None:
        """Complete every file first (``summary``: the JSON's content, default :func:`summarize`),
        then move each into place. A failure completing any of them discards them all."""
        data = summary if summary is not None else summarize(self.log)
        try:
            for w in self.writers.values():
                w.finish(self.log, data)
        except BaseException:
            self.discard()
            raise
        for w in self.writers.values():
            w.commit()

    def discard(self) -> None:
        for w in self.writers.values():
            w.discard()
