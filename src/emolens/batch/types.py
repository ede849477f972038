"""The records of a batch run, passed between the driver and its workers: light (no NumPy, OpenCV or ONNX Runtime).

A :class:`VideoJob` is one video to analyse, a :class:`VideoResult` what a worker made of it,
:class:`WorkerConfig` what every worker needs (the same for all the videos of a run), and
:class:`BatchSummary` what :func:`emolens.analyze_videos` returns. All are frozen and picklable,
so they travel unchanged to a process pool or to Ray.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from emolens.types import DetectorOptions, StreamOptions

__all__ = ["BATCH_FORMAT", "BatchSummary", "Failure", "VideoJob", "VideoResult", "WorkerConfig"]

BATCH_FORMAT = 1
"""The version of what a run writes per video; part of :meth:`WorkerConfig.key`, so a change redoes every video."""


@dataclass(frozen=True)
class WorkerConfig:
    """What each worker needs, the same for every video of a run.

    ``model``: a bundled model's full name (its variant: ``...-int8`` or ``...-fp32``, chosen once
    by the driver, so every worker of a cluster uses the same file) or an ``.onnx`` path.
    ``model_sha256``: the model file's hash (part of :meth:`key`). ``videos_dir``: where each
    video's outputs go (on a cluster: storage every node sees at this path). ``speech_model``:
    the path of the speech model that also hears each video's sound (None: the faces alone), and
    ``speech_sha256`` its hash.
    """

    model: str
    model_sha256: str
    tta: str | None
    detector: str
    options: StreamOptions
    videos_dir: str
    speech_model: str | None = None
    speech_sha256: str | None = None
    detector_options: DetectorOptions = DetectorOptions()

    def key(self) -> str:
        """A hash of everything that shapes a video's outputs (not where they go)."""
        what = {
            "format": BATCH_FORMAT,
            "model_sha256": self.model_sha256,
            "tta": self.tta,
            "detector": self.detector,
            "options": asdict(self.options),
        }
        if self.speech_model is not None:  # runs without the voice keep the keys they always had
            what["speech_sha256"] = self.speech_sha256
        if self.detector_options.changed():  # and so do runs with the detector's default sensitivity
            what["detector_options"] = asdict(self.detector_options)
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class VideoJob:
    """One video to analyse: its id (the name of its outputs) and its path."""

    id: str
    path: str


@dataclass(frozen=True)
class VideoResult:
    """What a worker made of one video. ``error`` (one line) is set when it failed.

    ``frames``: frames analysed; ``faces``: rows of its per-frame table (one per face per frame);
    ``tracks``: confirmed tracks; ``fps``: the video's frame rate; ``seconds``: the time the
    worker spent on it; ``cpu_seconds``: the CPU time it used meanwhile (all its threads: the
    cores it kept busy); ``peak_rss_mb``: the worker process's peak memory so far.
    """

    id: str
    path: str
    error: str | None = None
    frames: int = 0
    faces: int = 0
    tracks: int = 0
    fps: float | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss_mb: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Failure:
    """A video that could not be analysed, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class BatchSummary:
    """What :func:`emolens.analyze_videos` did.

    ``videos``: the videos found in the inputs; ``analysed``: those analysed by this run;
    ``skipped``: those already done by an earlier run with the same inputs and options (not redone);
    ``failed``/``failures``: those that could not be analysed, with the reason; ``frames``: frames
    analysed by this run; ``rows``: rows of the dataset (one per face per frame of every video
    done); ``seconds``: this run's wall time; ``backend``: ``"local"`` or ``"ray"``; ``workers``:
    processes (or Ray's CPUs) used; ``peak_rss_mb``: the largest peak memory of a worker this run.
    The paths are the run's outputs in ``out``.
    """

    out: Path
    videos: int
    analysed: int
    skipped: int
    failed: int
    failures: tuple[Failure, ...]
    frames: int
    rows: int
    seconds: float
    backend: str
    workers: int
    peak_rss_mb: float | None
    manifest: Path
    dataset: Path
    table: Path
    overview: Path

    @property
    def ok(self) -> bool:
        """True when no video failed."""
        return self.failed == 0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, Path):
                d[k] = str(v)
        d["failures"] = [asdict(f) for f in self.failures]
        return d
