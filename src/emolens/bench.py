"""Speed measurements reported by ``emolens bench``."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emolens.errors import DataError, EmolensError
from emolens.info import system_info
from emolens.labels import EMOTIONS
from emolens.runtime.recognizer import Recognizer
from emolens.types import StreamOptions
from emolens.video.pipeline import STAGES, stream

if TYPE_CHECKING:
    from emolens.data.fer2013 import FaceSet
    from emolens.detect.base import Detector
    from emolens.video.source import Source

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaceBench:
    model: str
    tta: str
    faces: int
    face_size: int
    repeats: int
    threads: int | None
    p50_ms: float
    p95_ms: float
    faces_per_s: float
    """Throughput of the median call: ``faces`` over ``p50_ms``."""
    overall_faces_per_s: float
    """All the faces timed over all the time they took. With selective flip the calls differ (a
    batch with more unsure faces mirrors more of them); at batch 1 the median call is a face that
    was not mirrored, so this is the figure that holds for a stream of faces."""
    machine: str
    system: dict[str, Any]
    """``emolens info --json``: the CPU flags and libraries behind the figure."""
    inputs: str = "random"
    """``random`` pixels, or ``real`` faces (a data set's, taken in turn)."""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def machine_description() -> str:
    import os

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


def provenance() -> dict[str, Any]:
    """Where a measurement comes from: the command line that ran it, the date, the machine, and the
    facts of ``emolens info --json`` (CPU model and flags, library versions, int8 scheme)."""
    import shlex
    import sys
    from datetime import datetime

    from emolens.info import system_info

    return {
        "command": shlex.join([sys.executable, *sys.argv]),
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_description(),
        "system": system_info(),
    }


def machine_record() -> dict[str, Any]:
    """The machine's line and the load average while a benchmark measured, for its JSON record:
    ``{"system": ..., "load_average": [1, 5, 15 min]}`` (:func:`describe_machine` prints it)."""
    import os

    from emolens.info import system_line

    return {"system": system_line(), "load_average": list(os.getloadavg())}


def describe_machine(record: dict[str, Any]) -> str:
    """Two lines for a benchmark's output: the machine, and the load average while measuring."""
    import os

    load = record["load_average"]
    return (
        f"{record['system']}\n"
        f"load average while measuring: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs"
    )


def bench_faces(
    recognizer: Recognizer,
    faces: int = 256,
    face_size: int = 48,
    repeats: int = 30,
    warmup: int = 3,
    seed: int = 0,
    images: np.ndarray | None = None,
) -> FaceBench:
    """Time ``predict_faces`` on batches of ``faces`` gray crops: random ones of ``face_size`` pixels,
    or real ones taken in turn from ``images`` (N, H, W). Selective flip TTA costs what the faces
    make it cost (it mirrors only the unsure ones), so time it on real faces."""
    if faces < 1 or repeats < 1 or warmup < 0:
        raise EmolensError(f"a benchmark needs faces and repeats of 1 or more, not {faces} and {repeats}")
    if images is None:
        if not 8 <= face_size <= 1024:
            raise EmolensError(f"face_size must lie in 8-1024 pixels, not {face_size}")
        rng = np.random.default_rng(seed)
        batches = [rng.integers(0, 256, (faces, face_size, face_size), dtype=np.uint8)]
    else:
        if len(images) < faces:
            raise DataError(f"{len(images)} faces given, fewer than a batch of {faces}")
        batches = [images[s : s + faces] for s in range(0, len(images) - faces + 1, faces)]
        face_size = int(images.shape[1])
    for i in range(warmup):
        recognizer.predict_faces(batches[i % len(batches)])
    times = []
    for i in range(repeats):
        batch = batches[i % len(batches)]
        t = time.perf_counter()
        recognizer.predict_faces(batch)
        times.append(time.perf_counter() - t)
    arr = np.array(times)
    p50 = float(np.percentile(arr, 50))
    return FaceBench(
        model=recognizer.meta.name,
        tta=recognizer.tta,
        faces=faces,
        face_size=face_size,
        repeats=repeats,
        threads=recognizer.threads,
        p50_ms=p50 * 1e3,
        p95_ms=float(np.percentile(arr, 95)) * 1e3,
        faces_per_s=faces / p50,
        overall_faces_per_s=faces * repeats / float(arr.sum()),
        machine=machine_description(),
        system=system_info(),
        inputs="random" if images is None else "real",
    )


# ---------------------------------------------------------------------- video

VIDEO_STAGES = (*STAGES, "draw")


@dataclass(frozen=True)
class StageTime:
    """One stage: how often it ran, its p50/p95 per call (None if it never ran), and its total
    divided by the number of frames (what it costs a frame on average, e.g. with ``detect_every``)."""

    calls: int
    p50_ms: float | None
    p95_ms: float | None
    per_frame_ms: float


@dataclass(frozen=True)
class FerBench:
    """The ``fer`` package's ``FER().detect_emotions(frame)`` (its own detector and classifier) on the
    same decoded frames: per-frame p50/p95 and frames per second (decoding not included)."""

    version: str
    frames: int
    p50_ms: float
    p95_ms: float
    fps: float
    faces_per_frame: float


@dataclass(frozen=True)
class VideoBench:
    """What ``emolens bench video`` measures on a clip, timed on the :func:`~emolens.video.pipeline.stream`
    code path through its timing hook.

    ``fps``: frames over the wall time of the whole stream, from opening the source to its end
    (decode, detect, track, preprocess, classify, smooth and the loop itself), drawing excluded (``fps_includes_draw`` is False);
    ``fps_with_draw`` adds the time of ``draw_faces`` on every frame. ``frame_p50_ms`` /
    ``frame_p95_ms``: one frame through the stream, decode included, draw excluded. ``frames`` and
    ``frames_without_face`` count one run; timings pool all ``repeats`` runs.
    """

    source: str
    width: int
    height: int
    model: str
    tta: str
    threads: int | None
    detector: str
    options: dict[str, Any]
    frames: int
    repeats: int
    stages: dict[str, StageTime]
    frame_p50_ms: float
    frame_p95_ms: float
    fps: float
    fps_includes_draw: bool
    fps_with_draw: float
    faces_per_frame: float
    frames_without_face: int
    fer: FerBench | None
    machine: str
    system: dict[str, Any]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _ms(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples), q)) * 1e3


def _stage_time(samples: list[float], frames: int) -> StageTime:
    if not samples:
        return StageTime(0, None, None, 0.0)
    return StageTime(len(samples), _ms(samples, 50), _ms(samples, 95), sum(samples) * 1e3 / max(frames, 1))


def _load_fer() -> tuple[Any, str] | None:
    """``fer.FER()`` and the package version, or None (with a note) when fer cannot be imported."""
    try:
        fer = importlib.import_module("fer")
        model = fer.FER()
    except Exception as e:  # ImportError, or a broken install of its TensorFlow dependency
        log.warning("fer is not available (%s); pip install fer to compare", str(e).splitlines()[0] if str(e) else e)
        return None
    try:
        version = importlib.metadata.version("fer")
    except importlib.metadata.PackageNotFoundError:
        version = str(getattr(fer, "__version__", "unknown"))
    return model, version


def bench_video(
    source: Source,
    recognizer: Recognizer | None = None,
    *,
    detector: str | Detector = "haar",
    options: StreamOptions | None = None,
    repeats: int = 1,
    warmup: int = 3,
    compare_fer: bool = False,
    **changes: Any,
) -> VideoBench:
    """Time every stage of :func:`~emolens.video.pipeline.stream` on ``source``, ``repeats`` times.

    ``options`` and keyword ``changes`` are those of :func:`~emolens.video.pipeline.stream`. The
    stream runs exactly as for users, with its timing hook on; ``draw_faces`` is timed on each
    result outside the stream. The first ``warmup`` frames are run once beforehand and not counted.
    With ``compare_fer``, ``fer``'s ``detect_emotions`` runs on the same frames in the same loop
    (timed apart from ours), or ``fer`` is None when the package cannot be imported.
    """
    from emolens.detect import create_detector
    from emolens.video.draw import draw_faces

    if repeats < 1:
        raise EmolensError(f"repeat must be 1 or more, got {repeats}")
    if warmup < 0:
        raise EmolensError(f"warmup must be 0 or more, got {warmup}")
    opts = (options or StreamOptions()).with_changes(**changes)
    if opts.max_frames == 0:
        raise EmolensError("max_frames must be 1 or more, got 0")
    rec = recognizer if recognizer is not None else Recognizer()
    det = create_detector(detector) if isinstance(detector, str) else detector
    warm = replace(opts, max_frames=warmup)
    with stream(source, rec, det, warm) as vs:  # opens the source: bad input fails here
        if vs.source.live and opts.max_frames is None:
            raise EmolensError("a camera or stream never ends: give max_frames (--max-frames)")
        name, width, height = vs.source.name, vs.source.width, vs.source.height
        first = [r.image for r in vs]
    fer = _load_fer() if compare_fer else None
    if fer is not None:
        for image in first:
            fer[0].detect_emotions(image)

    samples: dict[str, list[float]] = {s: [] for s in VIDEO_STAGES}

    def hook(stage: str, seconds: float) -> None:
        samples[stage].append(seconds)

    per_frame: list[float] = []
    fer_times: list[float] = []
    fer_faces = 0
    loop_s = 0.0
    faces = 0
    frames = 0
    empty = 0
    for run in range(repeats):
        t_open = time.perf_counter()
        with stream(source, rec, det, opts, timing=hook) as vs:
            loop_s += time.perf_counter() - t_open  # opening decodes the first frame
            while True:
                t0 = time.perf_counter()
                result = next(vs, None)
                t1 = time.perf_counter()
                loop_s += t1 - t0
                if result is None:
                    break
                per_frame.append(t1 - t0)
                draw_faces(result.image, result.faces)
                samples["draw"].append(time.perf_counter() - t1)
                faces += len(result.faces)
                if run == 0:
                    frames += 1
                    empty += not result.faces
                if fer is not None:
                    t2 = time.perf_counter()
                    fer_faces += len(fer[0].detect_emotions(result.image))
                    fer_times.append(time.perf_counter() - t2)
    if not per_frame:
        raise EmolensError(f"{name}: no frames to time")
    total = len(per_frame)
    draw_s = sum(samples["draw"])
    fer_res = None
    if fer is not None:
        fer_res = FerBench(
            version=fer[1],
            frames=frames,
            p50_ms=_ms(fer_times, 50),
            p95_ms=_ms(fer_times, 95),
            fps=len(fer_times) / sum(fer_times),
            faces_per_frame=fer_faces / len(fer_times),
        )
    return VideoBench(
        source=name,
        width=width,
        height=height,
        model=rec.meta.name,
        tta=rec.tta,
        threads=rec.threads,
        detector=detector if isinstance(detector, str) else getattr(detector, "name", type(detector).__name__),
        options=asdict(opts),
        frames=frames,
        repeats=repeats,
        stages={s: _stage_time(samples[s], total) for s in VIDEO_STAGES},
        frame_p50_ms=_ms(per_frame, 50),
        frame_p95_ms=_ms(per_frame, 95),
        fps=total / loop_s,
        fps_includes_draw=False,
        fps_with_draw=total / (loop_s + draw_s),
        faces_per_frame=faces / total,
        frames_without_face=empty,
        fer=fer_res,
        machine=machine_description(),
        system=system_info(),
    )


# ---------------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelBench:
    """One shipped model file: its size, parameters, PrivateTest accuracy (None without data) and
    ``predict_faces`` throughput by batch size and thread count: all the faces timed over all the
    time they took (:attr:`FaceBench.overall_faces_per_s`; a median call would hide selective
    flip's mirrored faces at batch 1).

    The accuracy is on FER-2013's labels for a model of FER-2013's seven emotions, and on the FER+
    majority votes (``ferplus.csv`` beside the data; ``test_labels`` says which) for a model of
    FER+'s eight."""

    name: str
    precision: str
    tta: str
    size_mb: float
    params: int | None
    test_accuracy: float | None
    faces_per_s: dict[str, float]
    """Keyed ``"b{batch}t{threads}"``: e.g. ``b1t1`` is one face at a time on one thread."""
    test_labels: str | None = None
    test_faces: int | None = None
    """How many PrivateTest faces the accuracy is over (all 3,589, or a sample; fewer for FER+'s
    majority votes, which drop ties and unclear faces)."""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _test_accuracy(rec: Recognizer, test: FaceSet, data: Path) -> tuple[float | None, str | None, int]:
    """Accuracy of ``rec`` on PrivateTest: FER-2013's labels when it predicts their seven emotions,
    else FER+ majority votes when ``data`` has ``ferplus.csv``; (None, None, 0) when neither applies.
    The last item is the number of faces scored."""
    if set(rec.labels) == set(EMOTIONS) and set(test.classes) <= set(EMOTIONS):
        # by name: a folder of some classes only numbers them its own way
        truth = np.array([rec.labels.index(c) for c in test.classes])[test.labels]
        hits = rec.predict_faces(test.images).argmax(1) == truth
        return float(hits.mean()), "fer2013", len(hits)
    votes = data / "ferplus.csv" if data.is_dir() else data.parent / "ferplus.csv"
    if not votes.is_file():
        return None, None, 0
    from emolens.data.ferplus import ferplus_relabel

    faces, _ = ferplus_relabel(test, votes, rec.labels)
    hits = rec.predict_faces(faces.images).argmax(1) == faces.labels
    return float(hits.mean()), "ferplus-majority", len(hits)


def sample_faces(faces: FaceSet, n: int | None, seed: int = 0) -> FaceSet:
    """``n`` of ``faces`` drawn at random without replacement (the same ones for the same seed), in
    their original order; all of them when ``n`` is None or not smaller."""
    if n is None or n >= len(faces):
        return faces
    if n < 1:
        raise ValueError(f"a sample needs at least one face, not {n}")
    idx = np.sort(np.random.default_rng(seed).choice(len(faces), n, replace=False))
    return replace(faces, images=faces.images[idx], labels=faces.labels[idx], paths=tuple(faces.paths[i] for i in idx))


def bench_models(
    models: list[str] | None = None,
    data: str | None = None,
    batches: tuple[int, ...] = (1, 64),
    threads: tuple[int, ...] = (1, 2),
    repeats: int = 50,
    min_faces: int = 2000,
    test_faces: int | None = None,
) -> list[ModelBench]:
    """Every shipped model file (or ``models``): size, parameters, accuracy on PrivateTest when
    ``data`` is given, and faces/s for each batch size and thread count (with its own TTA; on
    PrivateTest's faces when ``data`` is given, else on random pixels): ``repeats`` calls, or
    more for small batches, so that at least ``min_faces`` faces are timed per setting. Without ``models`` the
    short names that run a file in a mode of their own (``fast``, ``accurate``) get a row too, named so.
    ``test_faces`` scores each model on that many PrivateTest faces drawn at random (seed 0, the
    same faces for every model) instead of all of them: a quicker, rougher accuracy figure."""
    from emolens.models.bundled import ALIASES, WEIGHTS_DIR, available_models

    files = sorted(p.stem for p in WEIGHTS_DIR.glob("*.onnx"))
    own_mode = [a for a in available_models() if a in ALIASES and ALIASES[a].tta is not None]
    names = models if models else files + own_mode
    test, scored = None, None
    if data is not None:
        from emolens.data.fer2013 import load_split

        test = load_split(data, "test")
        if len(test) < max(batches):
            raise DataError(
                f"PrivateTest of {data} has {len(test)} faces, fewer than the largest batch timed ({max(batches)})"
            )
        scored = sample_faces(test, test_faces)
    out = []
    for name in names:
        rec = Recognizer(name)
        if not models and name in own_mode and rec.tta == rec.meta.tta:
            continue  # the file's own row already shows it
        acc, acc_labels, n_scored = None, None, 0
        if scored is not None and data is not None:
            acc, acc_labels, n_scored = _test_accuracy(rec, scored, Path(data))
        speed = {}
        for t in threads:
            timed = Recognizer(name, threads=t)
            for b in batches:
                # batch 1 calls are short: more of them for a steady figure
                res = bench_faces(
                    timed,
                    faces=b,
                    repeats=max(repeats, -(-min_faces // b)),
                    warmup=5,
                    images=None if test is None else test.images,
                )
                speed[f"b{b}t{t}"] = res.overall_faces_per_s
        out.append(
            ModelBench(
                name=name if name in ALIASES else rec.meta.name,
                precision=rec.meta.precision,
                tta=rec.tta,
                size_mb=rec.path.stat().st_size / 1e6,
                params=rec.meta.params or None,
                test_accuracy=acc,
                faces_per_s=speed,
                test_labels=acc_labels,
                test_faces=n_scored or None,
            )
        )
    return out
