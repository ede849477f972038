"""Label flicker and lag on real clips, for files and for the live page: the smoothing before and after.

Each clip goes through two paths, and each confirmed track's raw per-frame probabilities are
smoothed twice, with the per-frame smoothing of earlier versions (``BEFORE``: a weight of 0.35
for the newest frame, margin 0.1, whatever the time between frames) and with today's defaults
(``SmoothingOptions()``: weights in seconds, a new label shown once it has led ``confirm_s``).
Both see the very same frames, boxes and raw scores (smoothing changes nothing upstream), so the
difference is the smoothing alone.

* ``file``: ``emolens.video.pipeline.stream(clip)`` with the default options; frame times from the file.
* ``live@page``: the clip plays as the camera of the live page (``web/static/js/live.js``): the page
  grabs the frame on screen, shrinks it to at most 640 pixels on its longer side, encodes it as a
  JPEG of quality 0.8, sends it and waits for the answer before grabbing the next, so its rate is
  the server's: the time between two grabs is the server's processing time of the frame (measured
  here) plus ``--page-ms`` (grab, encode, network). The server side is the live connection's own
  code (``emolens.web.live.LiveSession``: ``decode_image`` then its analyzer's ``process`` with the
  arrival time).
* ``live@N``: the same, with the page sending N frames a second (each gap drawn within +-``--jitter``
  of 1/N, seeded), as on a slower server or network: the user's page ran at 5 to 10.

Per clip and path the table gives, for the main track (the one with most frames), the label
switches per second of the raw, before and after labels, the sustained changes of the raw label
(it then holds at least ``--min-duration`` s), how many of them the after labels followed, and
the after lag p50 and max in seconds (see ``emolens.video.smoothing.smoothing_report``); the
``served`` column is what the analyzer itself answered, which equals ``after`` once it passes
the frame times to its smoother; ``1st face``: when the first face was reported. Then, per
path, the same over all clips' main tracks. The JSON (default ``runs/flicker.json``) has every
track.

Usage: python benchmarks/flicker.py [CLIP ...] [--live page 5 10] [--detector haar] [--json FILE]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from emolens.bench import provenance
from emolens.info import system_line
from emolens.io import write_json
from emolens.runtime.recognizer import Recognizer
from emolens.types import FrameResult, SmoothingOptions
from emolens.video.smoothing import SmoothingReport, smooth_series, smoothing_report

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"
BEFORE = SmoothingOptions(alpha=0.35, margin=0.1, confirm_s=0.0)
"""The smoothing of earlier versions: the newest frame weighs 0.35 at any frame rate, the label is the
average's top class by a margin of 0.1."""
PAGE_MAX_SIDE = 640  # web/static/js/live.js: MAX_SIDE
PAGE_JPEG_QUALITY = 80  # web/static/js/live.js: JPEG_QUALITY = 0.8
SERVER_MAX_PIXELS = 40_000_000  # far above any page frame: decode_image only checks it


@dataclass
class Series:
    """One track of one run: frame times, raw per-frame probabilities and the labels the analyzer served."""

    track_id: int
    times: list[float] = field(default_factory=list)
    probs: list[np.ndarray] = field(default_factory=list)
    served: list[str] = field(default_factory=list)


@dataclass
class Run:
    clip: str
    path: str
    labels: tuple[str, ...]
    frames: int  # frames analysed
    seconds: float  # of the clip covered
    tracks: dict[int, Series]
    first_face_s: float | None  # when the first face was reported

    def add(self, result: FrameResult, labels: Sequence[str]) -> None:
        self.frames += 1
        for face in result.faces:
            if face.track_id is None:
                continue
            if self.first_face_s is None:
                self.first_face_s = result.time
            s = self.tracks.setdefault(face.track_id, Series(face.track_id))
            s.times.append(result.time)
            s.probs.append(np.array([face.extra["raw_scores"][lab] for lab in labels], np.float32))
            s.served.append(face.label)


def read_clip(clip: Path) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(clip))
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 30.0
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    if not frames:
        raise SystemExit(f"{clip}: no frames")
    return frames, fps


def file_run(clip: Path, rec: Recognizer, detector: str) -> Run:
    """The file path: ``stream(clip)`` with the default options."""
    from emolens.video.pipeline import stream

    run = Run(clip.name, "file", tuple(rec.labels), 0, 0.0, {}, None)
    with stream(clip, rec, detector) as vs:
        for r in vs:
            run.add(r, rec.labels)
            run.seconds = r.time
    return run


def page_jpeg(image: np.ndarray) -> bytes:
    """The frame as the live page sends it: at most PAGE_MAX_SIDE pixels on its longer side, JPEG quality 0.8."""
    h, w = image.shape[:2]
    scale = min(1.0, PAGE_MAX_SIDE / max(h, w))
    if scale < 1.0:
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, PAGE_JPEG_QUALITY])
    assert ok
    return bytes(buf.tobytes())


def live_analyzer(rec: Recognizer, detector: str) -> Any:
    """The analyzer a live connection of the server makes for itself (``LiveSession``'s own)."""
    from emolens.web.live import LiveSession

    session = LiveSession(None, rec, detector, SERVER_MAX_PIXELS)  # type: ignore[arg-type]  # no socket needed
    try:
        return session._get_analyzer()
    finally:
        session._executor.shutdown(wait=False)


def live_run(
    clip: Path,
    rec: Recognizer,
    detector: str,
    rate: str = "page",
    page_ms: float = 30.0,
    jitter: float = 0.3,
    seed: int = 0,
) -> Run:
    """The live path: the clip as the page's camera, sent one frame at a time (see the module's doc)."""
    from emolens.web.decode import decode_image

    frames, fps = read_clip(clip)
    analyzer = live_analyzer(rec, detector)
    rng = np.random.default_rng(seed)
    run = Run(clip.name, f"live@{rate}", tuple(rec.labels), 0, 0.0, {}, None)
    t = 0.0  # the clip's clock: the camera
    sent = 0
    while (k := math.floor(t * fps + 1e-6)) < len(frames):
        data = page_jpeg(frames[k])
        start = time.perf_counter()
        image = decode_image(data, SERVER_MAX_PIXELS)
        result = analyzer.process(image, sent, t)
        busy = time.perf_counter() - start
        run.add(result, rec.labels)
        run.seconds = t
        sent += 1
        if rate == "page":
            t += busy + page_ms / 1000.0
        else:
            t += (1.0 + jitter * float(rng.uniform(-1.0, 1.0))) / float(rate)
    return run


@dataclass(frozen=True)
class Measure:
    before: SmoothingReport
    after: SmoothingReport
    served_switches_per_s: float

    def row(self) -> dict[str, Any]:
        after_lags = [x for x in self.after.lags_s if x is not None]
        before_lags = [x for x in self.before.lags_s if x is not None]
        return {
            "frames": self.after.frames,
            "duration_s": self.after.duration_s,
            "raw_switches_per_s": self.after.raw_switches_per_s,
            "before_switches_per_s": self.before.smoothed_switches_per_s,
            "after_switches_per_s": self.after.smoothed_switches_per_s,
            "served_switches_per_s": self.served_switches_per_s,
            "changes": len(self.after.lags_s),
            "after_followed": len(after_lags),
            "after_lag_p50_s": float(np.median(after_lags)) if after_lags else None,
            "after_lag_max_s": max(after_lags) if after_lags else None,
            "before_followed": len(before_lags),
            "before_lag_p50_s": float(np.median(before_lags)) if before_lags else None,
            "before_lag_max_s": max(before_lags) if before_lags else None,
            "after_lags_s": list(self.after.lags_s),
            "change_times_s": list(self.after.change_times_s),
        }


def measure(
    series: Series,
    labels: Sequence[str],
    after: SmoothingOptions | None = None,
    before: SmoothingOptions = BEFORE,
    min_duration_s: float = 0.5,
) -> Measure:
    """Smooth one track's raw probabilities both ways and compare each with its raw labels."""
    after = after or SmoothingOptions()
    raw = [labels[int(np.argmax(p))] for p in series.probs]

    def smoothed(options: SmoothingOptions) -> list[str]:
        return [labels[s.label] for s in smooth_series(series.probs, series.times, options)]

    rb = smoothing_report(series.times, raw, smoothed(before), min_duration_s)
    ra = smoothing_report(series.times, raw, smoothed(after), min_duration_s)
    served = smoothing_report(series.times, raw, series.served, min_duration_s).smoothed_switches_per_s
    return Measure(rb, ra, served)


def main_track(run: Run) -> Series | None:
    tracks = [s for s in run.tracks.values() if len(s.times) >= 2]
    return max(tracks, key=lambda s: (len(s.times), -s.track_id)) if tracks else None


def summarise(run: Run, after: SmoothingOptions | None = None, min_duration_s: float = 0.5) -> dict[str, Any]:
    """The run's figures: its main track's and every track's (see :func:`measure`)."""
    main = main_track(run)
    tracks = {
        tid: measure(s, run.labels, after, min_duration_s=min_duration_s).row()
        for tid, s in sorted(run.tracks.items())
        if len(s.times) >= 2
    }
    return {
        "clip": run.clip,
        "path": run.path,
        "frames_analysed": run.frames,
        "seconds": run.seconds,
        "frames_per_s": (run.frames - 1) / run.seconds if run.seconds > 0 else None,
        "first_face_s": run.first_face_s,
        "confirmed_tracks": sorted(run.tracks),
        "main_track": None if main is None else main.track_id,
        "main": None if main is None else tracks[main.track_id],
        "tracks": tracks,
    }


def flicker(
    clips: Iterable[Path],
    rec: Recognizer,
    detector: str = "haar",
    live: Sequence[str] = ("page", "5"),
    page_ms: float = 30.0,
    jitter: float = 0.3,
    after: SmoothingOptions | None = None,
    min_duration_s: float = 0.5,
    with_file: bool = True,
) -> list[dict[str, Any]]:
    """Every clip through the file path and the live rates asked for: one summary per clip and path."""
    rows = []
    for clip in clips:
        runs = [file_run(clip, rec, detector)] if with_file else []
        runs += [live_run(clip, rec, detector, rate, page_ms, jitter) for rate in live]
        rows += [summarise(r, after, min_duration_s) for r in runs]
    return rows


def totals(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per path, over the clips' main tracks: switches per second before and after (over all their
    seconds), the sustained changes, how many the after labels followed, and their lag p50 and max."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        m = r["main"]
        if m is None:
            continue
        t = out.setdefault(r["path"], {"seconds": 0.0, "before": 0.0, "after": 0.0, "changes": 0, "lags": []})
        t["seconds"] += m["duration_s"]
        t["before"] += m["before_switches_per_s"] * m["duration_s"]
        t["after"] += m["after_switches_per_s"] * m["duration_s"]
        t["changes"] += m["changes"]
        t["lags"] += [x for x in m["after_lags_s"] if x is not None]
    return {
        path: {
            "track_seconds": t["seconds"],
            "before_switches_per_s": t["before"] / t["seconds"] if t["seconds"] else 0.0,
            "after_switches_per_s": t["after"] / t["seconds"] if t["seconds"] else 0.0,
            "ratio": t["after"] / t["before"] if t["before"] else None,
            "changes": t["changes"],
            "followed": len(t["lags"]),
            "lag_p50_s": float(np.median(t["lags"])) if t["lags"] else None,
            "lag_max_s": max(t["lags"]) if t["lags"] else None,
        }
        for path, t in out.items()
    }


def fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def table(rows: Sequence[dict[str, Any]]) -> str:
    head = (
        f"{'clip':<32s} {'path':<10s} {'fr/s':>5s} {'tracks':>6s} {'raw sw/s':>8s} {'before':>7s} {'after':>6s} "
        f"{'ratio':>5s} {'changes':>7s} {'followed':>8s} {'lag p50':>7s} {'lag max':>7s} {'served':>6s} {'1st face':>8s}"
    )
    lines = [head]
    for r in rows:
        m = r["main"]
        if m is None:
            lines.append(f"{r['clip']:<32s} {r['path']:<10s} {fmt(r['frames_per_s'], '.1f'):>5s} no face")
            continue
        before, after = m["before_switches_per_s"], m["after_switches_per_s"]
        ratio = after / before if before else None
        lines.append(
            f"{r['clip']:<32s} {r['path']:<10s} {fmt(r['frames_per_s'], '.1f'):>5s} {len(r['confirmed_tracks']):6d} "
            f"{m['raw_switches_per_s']:8.2f} {before:7.2f} {after:6.2f} {fmt(ratio):>5s} {m['changes']:7d} "
            f"{m['after_followed']:8d} {fmt(m['after_lag_p50_s']):>7s} {fmt(m['after_lag_max_s']):>7s} "
            f"{m['served_switches_per_s']:6.2f} {fmt(r['first_face_s']):>8s}"
        )
    lines.append("")
    lines.append(
        f"{'all clips':<32s} {'path':<10s} {'track s':>7s} {'before':>7s} {'after':>6s} {'ratio':>5s} "
        f"{'changes':>7s} {'followed':>8s} {'lag p50':>7s} {'lag max':>7s}"
    )
    for path, t in totals(rows).items():
        lines.append(
            f"{'':<32s} {path:<10s} {t['track_seconds']:7.1f} {t['before_switches_per_s']:7.2f} "
            f"{t['after_switches_per_s']:6.2f} {fmt(t['ratio']):>5s} {t['changes']:7d} {t['followed']:8d} "
            f"{fmt(t['lag_p50_s']):>7s} {fmt(t['lag_max_s']):>7s}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("clips", nargs="*", type=Path, help="video files (default: every .mp4 of ../shared/media)")
    p.add_argument("--live", nargs="*", default=["page", "5", "10"], help="live rates: page, or frames a second")
    p.add_argument("--page-ms", type=float, default=30.0, help="the page's own time per frame: grab, encode, network")
    p.add_argument("--jitter", type=float, default=0.3, help="spread of the gaps at a fixed live rate (fraction)")
    p.add_argument("--detector", default="haar", help="haar, or yunet (after 'emolens fetch yunet')")
    p.add_argument("--model", default=None, help="bundled model name or .onnx path")
    p.add_argument("--min-duration", type=float, default=0.5, help="seconds a raw label must hold to be a change")
    p.add_argument("--json", type=Path, default=Path("runs/flicker.json"), help="where to write the figures")
    args = p.parse_args(argv)
    clips = args.clips or sorted(MEDIA.glob("*.mp4"))
    if not clips:
        raise SystemExit(f"no clips given and none in {MEDIA}")

    where = provenance()
    for key in ("date", "machine", "command"):
        print(f"{key}: {where[key]}")
    print(system_line(where["system"]))
    rec = Recognizer(args.model)
    after = SmoothingOptions()
    print(
        f"model {rec.meta.name}, detector {args.detector}; before: per frame, alpha {BEFORE.alpha}, margin "
        f"{BEFORE.margin}; after: {after}; "
        f"a sustained change holds at least {args.min_duration} s; page overhead {args.page_ms} ms"
    )
    rows = flicker(clips, rec, args.detector, args.live, args.page_ms, args.jitter, after, args.min_duration)
    print(table(rows))
    write_json(
        args.json,
        {
            **where,
            "model": rec.meta.name,
            "detector": args.detector,
            "before": asdict(BEFORE),
            "after": asdict(after),
            "min_duration_s": args.min_duration,
            "page_ms": args.page_ms,
            "jitter": args.jitter,
            "rows": rows,
            "totals": totals(rows),
        },
        mkdir=True,
    )
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
