"""A batch run from start to end: find the videos, skip those already done, analyse the others on a
pool or on Ray, record each in the manifest, then write the data set, the table and the overview.

The output folder ``out`` holds:

- ``videos/<id>.csv``: each video's per-frame table (one row per face per frame, as ``emolens video --csv``),
- ``videos/<id>.json``: its per-track summary (as ``emolens video --json``),
- ``faces.parquet``: all those tables as one data set, with a ``video_id`` column,
- ``videos.csv``: one row per video (state, reason of a failure, figures, share of each emotion),
- ``overview.html``: videos done and failed, time, the emotions of each video,
- ``manifest.sqlite``: what became of each video, with the fingerprints of its file and of the options.

A video is skipped when the manifest has it done with the same file fingerprint
(:func:`~emolens.batch.inputs.input_key`: size, modification time, hash of the first and last
MiB) and the same options (:meth:`WorkerConfig.key`: model file, TTA, detector, stream options),
and both its outputs are there; otherwise (new, failed before, changed, outputs deleted, other
options) it is analysed again. Every file is written through an :class:`~emolens.io.AtomicFile`,
and one run at a time may use a folder (a lock file), so an interrupted run leaves no partial
file and the next one resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from emolens.batch.dataset import require_pyarrow, write_dataset, write_video_table
from emolens.batch.inputs import VIDEO_EXTENSIONS, VideoInput, discover, input_key
from emolens.batch.manifest import DONE, Manifest, Record
from emolens.batch.overview import write_overview
from emolens.batch.ray_backend import ray_address
from emolens.batch.types import BatchSummary, Failure, VideoJob, VideoResult, WorkerConfig
from emolens.batch.worker import output_paths
from emolens.errors import EmolensError
from emolens.types import DetectorOptions, StreamOptions

log = logging.getLogger(__name__)

__all__ = ["DATASET", "MANIFEST", "OVERVIEW", "TABLE", "VIDEOS", "analyze_videos", "make_config"]

MANIFEST = "manifest.sqlite"
DATASET = "faces.parquet"
TABLE = "videos.csv"
OVERVIEW = "overview.html"
VIDEOS = "videos"
LOCK = ".lock"

_TEMP = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp(\.[^.]*)?$")
"""The name of an :class:`~emolens.io.AtomicFile` temporary file."""


def cores() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_config(
    model: str | Path | None,
    tta: str | None,
    detector: str,
    options: StreamOptions,
    videos_dir: Path,
    *,
    audio: bool = False,
    speech_model: str | Path | None = None,
    detector_options: DetectorOptions | None = None,
) -> WorkerConfig:
    """The workers' config: the model resolved once here (a bundled family to the variant this machine
    prefers, named so that every worker of a cluster loads the same file), and its hash; a short name's
    test-time augmentation (``accurate``: ten views) goes with it unless ``tta`` overrides it.
    ``audio``: hear each video's sound too, with ``speech_model`` (a name, a path, or None for the
    bundled one), resolved here to its absolute path and hashed."""
    from emolens.detect import DETECTORS
    from emolens.models.bundled import WEIGHTS_DIR, alias_tta, resolve_model

    if detector not in DETECTORS:
        raise EmolensError(f"unknown detector {detector!r}; available: {', '.join(DETECTORS)}")
    path = resolve_model(model)
    bundled = path.parent.resolve() == WEIGHTS_DIR.resolve()
    name = path.stem if bundled else str(path.absolute())
    tta = tta if tta is not None else alias_tta(model)
    speech: str | None = None
    speech_sha: str | None = None
    if audio:
        from emolens.audio.recognizer import resolve_speech_model

        found = resolve_speech_model(speech_model)
        speech, speech_sha = str(found.absolute()), _sha256(found)
    return WorkerConfig(
        name,
        _sha256(path),
        tta,
        detector,
        options,
        str(videos_dir.absolute()),
        speech,
        speech_sha,
        detector_options or DetectorOptions(),
    )


def check_config(config: WorkerConfig) -> None:
    """Load the model and make the detector once here, so a bad one fails before any worker starts."""
    from emolens.detect import create_detector
    from emolens.runtime.recognizer import Recognizer

    Recognizer(config.model, threads=1, tta=config.tta)
    create_detector(config.detector, config.detector_options)
    if config.speech_model is not None:
        from emolens.audio.recognizer import VoiceRecognizer

        VoiceRecognizer(config.speech_model, threads=1)


@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock file: a second run on the same folder is an EmolensError."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        yield
        return
    fh = open(out / LOCK, "a+")  # noqa: SIM115 - closed below
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise EmolensError(f"another batch run is using {out}; wait for it or use another --out") from None
        yield
    finally:
        fh.close()


def _sweep(folder: Path) -> None:
    """Remove the temporary files a killed run left in ``folder`` (the lock says no run is writing them)."""
    for p in folder.iterdir():
        if _TEMP.match(p.name) and p.is_file():
            log.debug("removing %s, left by an interrupted run", p)
            p.unlink(missing_ok=True)


def _key_problem(e: OSError) -> str:
    if isinstance(e, FileNotFoundError):
        return "video not found (or a broken link)"
    if isinstance(e, IsADirectoryError):
        return "is a folder, not a video file"
    return f"cannot read it: {e.strerror or e}"


class _Plan:
    """What to do with each video: skip it (done), analyse it (a job), or record it failed at once."""

    def __init__(
        self, inputs: list[VideoInput], records: dict[str, Record], options_key: str, videos_dir: Path
    ) -> None:
        self.jobs: list[VideoJob] = []
        self.keys: dict[str, str] = {}
        self.failed: list[VideoResult] = []
        self.skipped = 0
        for v in inputs:
            if v.problem is not None:
                self.failed.append(VideoResult(v.id, v.path, error=v.problem))
                continue
            try:
                key = input_key(v.path)
            except OSError as e:
                self.failed.append(VideoResult(v.id, v.path, error=_key_problem(e)))
                continue
            self.keys[v.id] = key
            rec = records.get(v.id)
            if (
                rec is not None
                and rec.state == DONE
                and rec.input_key == key
                and rec.options_key == options_key
                and all(p.is_file() for p in output_paths(videos_dir, v.id))
            ):
                self.skipped += 1
            else:
                self.jobs.append(VideoJob(v.id, v.path))


class _Progress:
    """Two tqdm bars on stderr, videos (with the ETA) and frames (with the rate); nothing when disabled."""

    def __init__(self, videos: int, enabled: bool) -> None:
        self.videos: Any = None
        self.frames: Any = None
        if enabled and videos:
            from tqdm import tqdm

            kw: dict[str, Any] = {"file": sys.stderr, "dynamic_ncols": True, "mininterval": 0.5}
            self.videos = tqdm(total=videos, unit="video", position=0, **kw)
            self.frames = tqdm(unit="frame", position=1, leave=False, **kw)

    def add_frames(self, n: int) -> None:
        if self.frames is not None:
            self.frames.update(n)

    def add_video(self, failed: int) -> None:
        if self.videos is not None:
            self.videos.set_postfix(failed=failed, refresh=False)
            self.videos.update(1)

    def close(self) -> None:
        for bar in (self.frames, self.videos):
            if bar is not None:
                bar.close()


def _drop_outputs(videos_dir: Path, video_id: str) -> None:
    """Remove a failed video's outputs of an earlier run, and the temporary files of a worker that
    died writing them (no worker writes them any more once its result is in)."""
    for p in output_paths(videos_dir, video_id):
        p.unlink(missing_ok=True)
        for tmp in videos_dir.glob(f".{glob.escape(p.name)}.*.tmp{p.suffix}"):
            if _TEMP.match(tmp.name):
                tmp.unlink(missing_ok=True)


def _voice_of(summary_path: Path) -> dict[str, Any] | None:
    """The ``voice`` section of a video's summary (None when it has none or cannot be read)."""
    try:
        voice = json.loads(summary_path.read_text(encoding="utf-8")).get("voice")
    except (OSError, ValueError, AttributeError):
        return None
    return voice if isinstance(voice, dict) else None


def _inputs(paths: str | Path | Iterable[str | Path]) -> list[str | Path]:
    return [paths] if isinstance(paths, str | Path) else list(paths)


def analyze_videos(
    paths: str | Path | Iterable[str | Path],
    *,
    out: str | Path,
    workers: int | None = None,
    ray: bool | str | None = False,
    model: str | Path | None = None,
    tta: str | None = None,
    detector: str = "haar",
    options: StreamOptions | None = None,
    detector_options: DetectorOptions | None = None,
    progress: bool = False,
    audio: bool = False,
    speech_model: str | Path | None = None,
    **changes: Any,
) -> BatchSummary:
    """Analyse every video of ``paths`` (files, folders searched recursively, list files of paths)
    into the folder ``out``, skipping those an earlier run already did; see :mod:`emolens.batch.run`
    for what is written, and :class:`~emolens.batch.types.BatchSummary` for what is returned.

    ``workers``: processes of the local pool (default: one per core), or with Ray the most tasks
    at once (default: the cluster's CPUs). ``ray``: False for the local pool; True (or
    ``"local"``) for a Ray on this machine; ``"auto"``, ``"HOST:PORT"`` or ``"ray://HOST:PORT"`` to
    join a cluster; an initialised Ray is used as it is. ``model``, ``tta``, ``detector``,
    ``detector_options``, ``options`` and keyword ``changes`` (fields of :class:`~emolens.types.StreamOptions`) are those
    of :func:`~emolens.video.pipeline.analyze_video`; each worker runs ONNX Runtime on one thread.
    ``progress``: bars of videos and frames on stderr. ``audio``: hear each video's sound too, with
    ``speech_model`` (default: the bundled one), as ``emolens video --audio``: each video's table
    and the data set gain the voice and fused columns, its JSON a ``voice`` section (a video
    without sound is analysed by its faces, and its JSON says why).

    A video that cannot be analysed is recorded as failed with its reason (in the summary, the
    table and the overview); it does not stop the run. An EmolensError is raised, before any
    video is analysed, for a bad input, model, detector or option. On KeyboardInterrupt the
    workers are stopped, the videos finished so far stay recorded, and the exception is raised
    again: the next run resumes.
    """
    t0 = time.perf_counter()
    opts = (options or StreamOptions()).with_changes(**changes)
    address = ray_address(ray)
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise EmolensError(f"workers must be 1 or more, not {workers!r}")
    if speech_model is not None and not audio:
        raise EmolensError("a speech model is used only when the sound is heard too (--audio)")
    require_pyarrow()
    inputs = discover(_inputs(paths))
    if not inputs:
        raise EmolensError(f"no video found in the inputs (looked for {', '.join(VIDEO_EXTENSIONS)})")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise EmolensError(f"--out {out} is a file; give a folder")
    videos_dir = out / VIDEOS
    try:
        videos_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EmolensError(f"cannot create {videos_dir}: {e.strerror or e}") from None
    with _lock(out), Manifest(out / MANIFEST) as manifest:
        _sweep(out)
        _sweep(videos_dir)
        config = make_config(
            model,
            tta,
            detector,
            opts,
            videos_dir,
            audio=audio,
            speech_model=speech_model,
            detector_options=detector_options,
        )
        okey = config.key()
        plan = _Plan(inputs, manifest.records(), okey, videos_dir)
        log.info(
            "%d videos: %d already done, %d to analyse, %d unusable",
            len(inputs), plan.skipped, len(plan.jobs), len(plan.failed),
        )  # fmt: skip
        failures: list[Failure] = []
        counts = {"analysed": 0, "frames": 0, "finished": 0}
        peak: list[float] = []

        def on_result(result: VideoResult) -> None:
            manifest.record(result, input_key=plan.keys.get(result.id, ""), options_key=okey)
            if result.ok:
                counts["analysed"] += 1
                counts["frames"] += result.frames
            else:
                _drop_outputs(videos_dir, result.id)
                failures.append(Failure(result.path, result.error or ""))
                log.warning("failed: %s: %s", result.path, result.error)
            counts["finished"] += 1
            if result.peak_rss_mb is not None:
                peak.append(result.peak_rss_mb)
            bars.add_video(len(failures))

        bars = _Progress(len(plan.jobs) + len(plan.failed), progress)
        used = 0
        try:
            for r in plan.failed:
                on_result(r)
            counts["finished"] = 0
            if plan.jobs:
                check_config(config)
                used = _run_jobs(plan.jobs, config, address, workers, on_result, bars.add_frames, progress)
        except KeyboardInterrupt:
            bars.close()
            # the workers are gone; one stopped between creating a temporary file and guarding it leaves it
            _sweep(videos_dir)
            left = len(plan.jobs) - counts["finished"]
            log.warning("interrupted: %d videos analysed, %d left; run again to resume", counts["analysed"], left)
            raise
        finally:
            bars.close()
        records = manifest.records()
        listed = [records[v.id] for v in inputs if v.id in records]
        done = [(r.id, output_paths(videos_dir, r.id)[0]) for r in listed if r.state == DONE]
        stats = write_dataset(done, out / DATASET, voice=config.speech_model is not None)
        voices = {vid: _voice_of(output_paths(videos_dir, vid)[1]) for vid, _ in done} if stats.voice else None
        write_video_table(listed, stats, out / TABLE, voices)
        summary = BatchSummary(
            out=out,
            videos=len(inputs),
            analysed=counts["analysed"],
            skipped=plan.skipped,
            failed=len(failures),
            failures=tuple(failures),
            frames=counts["frames"],
            rows=stats.rows,
            seconds=round(time.perf_counter() - t0, 3),
            backend="ray" if address is not None else "local",
            workers=used,
            peak_rss_mb=max(peak) if peak else None,
            manifest=out / MANIFEST,
            dataset=out / DATASET,
            table=out / TABLE,
            overview=out / OVERVIEW,
        )
        write_overview(out / OVERVIEW, listed, stats, summary, voices)
    return summary


def _run_jobs(
    jobs: list[VideoJob],
    config: WorkerConfig,
    address: str | None,
    workers: int | None,
    on_result: Callable[[VideoResult], None],
    on_frames: Callable[[int], None],
    progress: bool,
) -> int:
    """Run ``jobs`` on the chosen backend; the number of workers (or Ray tasks at once) used."""
    redirect: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if progress:
        from tqdm.contrib.logging import logging_redirect_tqdm

        redirect = logging_redirect_tqdm()
    with redirect:
        if address is None:
            from emolens.batch.local import run_local

            n = min(workers or cores(), len(jobs))
            run_local(jobs, config, n, on_result, on_frames)
            return n
        from emolens.batch.ray_backend import run_ray

        return run_ray(jobs, config, address, workers, on_result, on_frames)
