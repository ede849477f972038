"""The work of one batch worker: a recognizer and a detector made once, then one video after another.

:class:`WorkerState` holds what a worker process makes once (a :class:`~emolens.runtime.recognizer.Recognizer`
with one ONNX Runtime thread, the face detector, OpenCV's own thread pool limited to one thread);
:func:`analyze_one` runs :func:`~emolens.video.pipeline.analyze_video` on one video and writes its
per-frame table (``<id>.csv``) and per-track summary (``<id>.json``) in the run's videos folder,
each through an :class:`~emolens.io.AtomicFile`. Any error of the video is returned as the
result's ``error``, never raised: one broken video does not stop the run. :func:`cached_state`
keeps one state per process for backends that reuse processes between tasks (Ray).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from emolens.batch.types import VideoJob, VideoResult, WorkerConfig

if TYPE_CHECKING:
    from emolens.audio.recognizer import VoiceRecognizer
    from emolens.detect.base import Detector
    from emolens.runtime.recognizer import Recognizer

log = logging.getLogger(__name__)

__all__ = ["WorkerState", "analyze_one", "cached_state", "output_paths", "peak_rss_mb"]

PROGRESS_EVERY_S = 0.5
"""How often a worker reports the frames it has analysed."""


def output_paths(videos_dir: str | Path, video_id: str) -> tuple[Path, Path]:
    """The per-frame table and the per-track summary of video ``video_id``."""
    d = Path(videos_dir)
    return d / f"{video_id}.csv", d / f"{video_id}.json"


def peak_rss_mb() -> float | None:
    """This process's peak resident memory in MiB (None where the OS does not say).

    On Linux the high-water mark of its own memory (``VmHWM``): ``ru_maxrss`` would also count the
    parent's memory at the fork that started it (Linux keeps it across ``exec``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError):
        pass
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1 << 20 if sys.platform == "darwin" else 1 << 10), 1)


class WorkerState:
    """What a worker makes once: the recognizer (one ONNX Runtime thread), the detector, and the
    speech model when the run hears the sound."""

    def __init__(self, config: WorkerConfig) -> None:
        os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # OpenCV's and FFmpeg's own warnings: the reason
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # of a failure is recorded (as the CLI does)
        import cv2

        from emolens.detect import create_detector
        from emolens.runtime.recognizer import Recognizer

        cv2.setNumThreads(1)  # the pool already keeps each core busy
        self.config = config
        self.recognizer: Recognizer = Recognizer(config.model, threads=1, tta=config.tta)
        self.detector: Detector = create_detector(config.detector, config.detector_options)
        self.voice: VoiceRecognizer | None = None
        if config.speech_model is not None:
            from emolens.audio.recognizer import VoiceRecognizer

            self.voice = VoiceRecognizer(config.speech_model, threads=1)


_CACHE: dict[WorkerConfig, WorkerState] = {}


def cached_state(config: WorkerConfig) -> WorkerState:
    """The state of ``config`` in this process, made on first use (one per process and config)."""
    state = _CACHE.get(config)
    if state is None:
        _CACHE.clear()
        state = _CACHE[config] = WorkerState(config)
    return state


def _one_line(e: BaseException) -> str:
    from emolens.errors import EmolensError

    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if isinstance(e, EmolensError):
        return text or type(e).__name__
    if isinstance(e, OSError) and e.strerror:
        return f"cannot read {e.filename or 'the video'}: {e.strerror}"
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def analyze_one(state: WorkerState, job: VideoJob, on_frames: Callable[[int], None] | None = None) -> VideoResult:
    """Analyse the video of ``job`` and write its outputs; its failure is the result's ``error``.

    ``on_frames(n)`` is called now and then with the frames analysed since its last call.
    KeyboardInterrupt and SystemExit pass through (the outputs of the video are discarded).
    """
    from emolens.video.pipeline import analyze_video

    csv, js = output_paths(state.config.videos_dir, job.id)
    t0 = time.perf_counter()
    c0 = time.process_time()
    reported = 0
    last = t0

    def on_frame(done: int, total: int | None) -> None:
        nonlocal reported, last
        now = time.perf_counter()
        if on_frames is not None and now - last >= PROGRESS_EVERY_S:
            on_frames(done - reported)
            reported, last = done, now

    try:
        summary = analyze_video(
            job.path,
            state.recognizer,
            detector=state.detector,
            options=state.config.options,
            csv=csv,
            json=js,
            progress=False,
            audio=False,
            voice=state.voice if state.voice is not None else False,
            on_frame=on_frame,
        )
    except Exception as e:  # a broken video is a result, never the end of the run
        log.debug("%s failed", job.path, exc_info=True)
        reason = _one_line(e).replace(job.path, "the file")  # the path is said beside the reason
        return VideoResult(
            job.id,
            job.path,
            error=reason,
            seconds=time.perf_counter() - t0,
            cpu_seconds=time.process_time() - c0,
            peak_rss_mb=peak_rss_mb(),
        )
    frames = int(summary["frames"])
    if on_frames is not None and frames > reported:
        on_frames(frames - reported)
    fps = summary.get("fps")
    return VideoResult(
        job.id,
        job.path,
        frames=frames,
        faces=int(summary["faces"]),
        tracks=len(summary["tracks"]),
        fps=float(fps) if fps else None,
        seconds=time.perf_counter() - t0,
        cpu_seconds=time.process_time() - c0,
        peak_rss_mb=peak_rss_mb(),
    )
