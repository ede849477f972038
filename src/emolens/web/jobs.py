"""Video jobs: each upload in a private folder, analysed one at a time by a background thread.

A :class:`JobManager` holds the jobs. :meth:`~JobManager.new_folder` gives an upload its own
temporary folder; :meth:`~JobManager.submit` queues it; one worker thread runs
:func:`emolens.video.pipeline.analyze_video` on each job in turn, writing ``frames.csv`` and
``annotated.mp4`` beside the upload. A job is ``queued``, ``running``, then ``done`` or
``failed``; :meth:`~JobManager.delete` cancels it (the analysis stops at the next frame) and
removes its folder. Folders are deleted ``keep_s`` seconds after their job ends, and all of them
when the manager closes. Every method is thread-safe.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emolens.errors import EmolensError

if TYPE_CHECKING:
    from emolens.audio.recognizer import VoiceRecognizer
    from emolens.runtime.recognizer import Recognizer
    from emolens.types import DetectorOptions

log = logging.getLogger(__name__)

STATUSES = ("queued", "running", "done", "failed", "deleted")
CSV_NAME = "frames.csv"
VIDEO_NAME = "annotated.mp4"


class JobsFull(EmolensError):
    """Too many jobs are queued or running."""


class _Cancelled(Exception):
    """Raised from the frame callback to stop the analysis of a deleted job."""


class _TooLong(EmolensError):
    """A video without a declared length turned out longer than the limit."""


@dataclass
class Job:
    """One video job. Its fields change under the manager's lock; read them through :meth:`JobManager.info`."""

    id: str
    folder: Path
    upload: Path
    filename: str
    duration_s: float | None
    fps: float | None
    voice: bool = False
    """Also hear the video's sound and fuse it with the faces."""
    created: float = field(default_factory=time.time)
    status: str = "queued"
    frames_done: int = 0
    frames_total: int | None = None
    ended: float | None = None  # time.monotonic() when it ended
    summary: dict[str, Any] | None = None
    error: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")


class JobManager:
    """The video jobs of one server: one worker thread, expiry after ``keep_s`` seconds, cleanup on close.

    ``max_pixels``: a job fails on a video with a frame larger than this, whatever its header
    announces (see :class:`~emolens.video.source.FrameSource`; None: no limit). ``voice``: gives
    the speech model that hears the jobs that ask for it (None: no job may).
    """

    def __init__(
        self,
        recognizer: Recognizer,
        *,
        detector: str = "haar",
        detector_options: DetectorOptions | None = None,
        max_jobs: int = 4,
        keep_s: float = 600.0,
        max_video_s: float = 600.0,
        max_pixels: int | None = None,
        voice: Callable[[], VoiceRecognizer] | None = None,
    ) -> None:
        self.recognizer = recognizer
        self.voice = voice
        self.detector = detector
        self.detector_options = detector_options
        self.max_jobs = max_jobs
        self.keep_s = keep_s
        self.max_video_s = max_video_s
        self.max_pixels = max_pixels
        self.root = Path(tempfile.mkdtemp(prefix="emolens-web-"))
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._sweeper: threading.Thread | None = None
        self._closed = False
        self._uploading = 0  # uploads holding a place (see reserve)

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Start the worker and the expiry sweep (once)."""
        if self._worker is not None:
            return
        self._worker = threading.Thread(target=self._work, name="emolens-video-jobs", daemon=True)
        self._sweeper = threading.Thread(target=self._sweep_loop, name="emolens-job-expiry", daemon=True)
        self._worker.start()
        self._sweeper.start()

    def close(self, timeout: float = 10.0) -> None:
        """Cancel every job, stop the threads, and delete every folder."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for job in self._jobs.values():
                job.cancel.set()
        self._stop.set()
        self._queue.put(None)
        for thread in (self._worker, self._sweeper):
            if thread is not None:
                thread.join(timeout)
        with self._lock:
            self._jobs.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------------ jobs

    def check_capacity(self) -> None:
        """Raise :class:`JobsFull` when no new job can be queued now."""
        with self._lock:
            self._check_capacity()

    @contextlib.contextmanager
    def reserve(self) -> Iterator[None]:
        """Hold a place for one upload while it arrives, so that uploads in progress count against
        ``max_jobs`` (and the disk they take is bounded); :meth:`submit` inside it takes the place."""
        with self._lock:
            self._check_capacity()
            self._uploading += 1
        try:
            yield
        finally:
            with self._lock:
                self._uploading -= 1

    def _check_capacity(self, own_place: bool = False) -> None:
        if self._closed:
            raise JobsFull("the server is shutting down")
        active = sum(job.active for job in self._jobs.values()) + self._uploading - own_place
        if active >= self.max_jobs:
            raise JobsFull(
                f"{active} videos are already arriving, queued or being analysed (the limit); try again later"
            )

    def new_folder(self) -> Path:
        """A fresh private folder for an upload (remove it with :meth:`discard_folder` if it is not submitted)."""
        return Path(tempfile.mkdtemp(prefix="job-", dir=self.root))

    @staticmethod
    def discard_folder(folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)

    def submit(
        self,
        folder: Path,
        upload: Path,
        filename: str,
        *,
        duration_s: float | None = None,
        fps: float | None = None,
        frames: int | None = None,
        reserved: bool = False,
        voice: bool = False,
    ) -> dict[str, Any]:
        """Queue the video ``upload`` (inside ``folder``, which the job now owns); its :meth:`info`.

        ``duration_s``, ``fps``, ``frames``: what the file announces (None: unknown; a video of unknown
        length is stopped, and fails, once it passes ``max_video_s``). ``reserved``: called inside
        :meth:`reserve`, whose place this job takes. ``voice``: hear the sound too (fused with the
        faces; the summary gains a ``voice`` section, the CSV the voice and fused columns)."""
        if voice and self.voice is None:
            raise EmolensError("this server has no speech model for video jobs")
        job = Job(uuid.uuid4().hex, folder, upload, filename, duration_s, fps, voice, frames_total=frames)
        with self._lock:
            self._check_capacity(own_place=reserved)
            self._jobs[job.id] = job
            info = self._info(job)
        self._queue.put(job)
        log.info("video job %s queued: %s", job.id, filename)
        return info

    def info(self, job_id: str) -> dict[str, Any] | None:
        """The status of a job as the API shows it, or None when it is unknown, deleted or expired."""
        self.sweep()
        with self._lock:
            job = self._jobs.get(job_id)
            return self._info(job) if job is not None else None

    def output(self, job_id: str, name: str) -> tuple[str, Path | None] | None:
        """``(status, path of output `name` when done)`` for a job, or None when it is unknown."""
        self.sweep()
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            return job.status, (job.folder / name if job.status == "done" else None)

    def delete(self, job_id: str, wait_s: float = 5.0) -> bool:
        """Cancel a job and delete its folder; False when it is unknown. Waits (up to ``wait_s``) for a
        running analysis to stop, so that the folder is gone when this returns."""
        with self._lock:
            job = self._jobs.pop(job_id, None)
            if job is None:
                return False
            running = job.status == "running"
            job.cancel.set()
            if job.status == "queued":
                job.status = "deleted"
                job.finished.set()
        if running and not job.finished.wait(wait_s):
            log.warning("video job %s: still stopping after %.0f s; its folder goes when it stops", job_id, wait_s)
            return True
        self.discard_folder(job.folder)
        log.info("video job %s deleted", job_id)
        return True

    def counts(self) -> dict[str, int]:
        """Jobs held, by status."""
        with self._lock:
            out = dict.fromkeys(STATUSES[:4], 0)
            for job in self._jobs.values():
                out[job.status] += 1
            return out

    def active(self) -> int:
        """Jobs queued or running."""
        counts = self.counts()
        return counts["queued"] + counts["running"]

    # ------------------------------------------------------------------ expiry

    def sweep(self) -> int:
        """Delete the jobs that ended more than ``keep_s`` seconds ago; how many went."""
        now = time.monotonic()
        with self._lock:
            old = [j for j in self._jobs.values() if j.ended is not None and now - j.ended >= self.keep_s]
            for job in old:
                del self._jobs[job.id]
        for job in old:
            self.discard_folder(job.folder)
            log.info("video job %s expired; its files are deleted", job.id)
        return len(old)

    def _sweep_loop(self) -> None:
        interval = min(1.0, max(0.05, self.keep_s / 4))
        while not self._stop.wait(interval):
            try:
                self.sweep()
            except Exception:  # pragma: no cover - never let the sweep thread die
                log.exception("the expiry sweep failed")

    # ------------------------------------------------------------------ the worker

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                self._run(job)
            except Exception:  # pragma: no cover - _run catches everything itself
                log.exception("video job %s: unexpected failure", job.id)
            finally:
                job.finished.set()

    def _run(self, job: Job) -> None:
        from emolens.detect import create_detector
        from emolens.video.pipeline import analyze_video

        with self._lock:
            if job.cancel.is_set() or job.status != "queued":
                return
            job.status = "running"
        log.info("video job %s running", job.id)
        # the limit holds whatever the file's header says about its length (a header can lie)
        max_frames = int(self.max_video_s * (job.fps or 30.0)) + 1

        def on_frame(done: int, total: int | None) -> None:
            if job.cancel.is_set():
                raise _Cancelled
            if done > max_frames:
                raise _TooLong(f"the video is longer than the limit of {self.max_video_s:g} s")
            with self._lock:
                job.frames_done = done
                job.frames_total = total

        status, summary, error = "failed", None, None
        t0 = time.perf_counter()
        try:
            summary = analyze_video(
                job.upload,
                self.recognizer,
                detector=create_detector(self.detector, self.detector_options),
                csv=job.folder / CSV_NAME,
                out=job.folder / VIDEO_NAME,
                json=None,
                progress=False,
                on_frame=on_frame,
                max_pixels=self.max_pixels,
                voice=self.voice() if job.voice and self.voice is not None else False,
            )
            summary["source"] = job.filename  # not the server's temporary path
            voice = summary.get("voice")
            if isinstance(voice, dict) and isinstance(voice.get("reason"), str):
                voice["reason"] = voice["reason"].replace(str(job.upload), job.filename)
            status = "done"
        except _Cancelled:
            status = "deleted"
        except EmolensError as e:
            error = str(e).replace(str(job.upload), job.filename)
        except Exception as e:  # a bug or an OpenCV failure: the job fails, the server goes on
            log.exception("video job %s failed", job.id)
            error = f"the analysis failed: {type(e).__name__}"
        with self._lock:
            job.status = status
            job.summary = summary
            job.error = error
            job.ended = time.monotonic()
            if status == "done":
                job.frames_total = job.frames_done
            gone = job.id not in self._jobs
        if gone:  # deleted while it ran
            self.discard_folder(job.folder)
        log.info(
            "video job %s %s after %.1f s%s", job.id, status, time.perf_counter() - t0, f": {error}" if error else ""
        )

    # ------------------------------------------------------------------ views

    def _info(self, job: Job) -> dict[str, Any]:
        total = job.frames_total
        if job.status == "done":
            progress = 1.0
        elif total:
            progress = min(1.0, job.frames_done / total)
        else:
            progress = 0.0
        expires = None if job.ended is None else max(0.0, self.keep_s - (time.monotonic() - job.ended))
        base = f"/api/v1/videos/{job.id}"
        return {
            "id": job.id,
            "status": job.status,
            "progress": round(progress, 4),
            "frames_done": job.frames_done,
            "frames_total": total,
            "created": datetime.fromtimestamp(job.created, timezone.utc).isoformat(timespec="seconds"),
            "expires_in_s": None if expires is None else round(expires, 1),
            "filename": job.filename,
            "duration_s": None if job.duration_s is None else round(job.duration_s, 3),
            "voice": job.voice,
            "summary": job.summary,
            "error": job.error,
            "links": {
                "frames_csv": f"{base}/frames.csv",
                "annotated_mp4": f"{base}/annotated.mp4",
                "timeline": f"{base}/timeline",
            },
        }
