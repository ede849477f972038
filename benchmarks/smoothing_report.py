"""What temporal smoothing buys and costs on a clip: label switches per second and lag, per track.

Runs ``emolens.stream`` twice on the same clip, once with ``smoothing=None`` (the raw per-frame
top class) and once with the default ``SmoothingOptions``, and compares each track's labels with
``emolens.video.smoothing.smoothing_report``: switches per second raw vs smoothed, and the lag
of the smoothed label behind each sustained change of the raw label (one that holds at least
``--min-duration`` seconds). The smoothed labels are the ones the analyzer serves; for the
comparison with the smoothing of earlier versions, on files and on the live page, see
``benchmarks/flicker.py``.

Usage: python benchmarks/smoothing_report.py [CLIP] [--detector haar] [--max-frames N] [--json FILE]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import Any

import emolens
from emolens.bench import provenance
from emolens.info import system_line
from emolens.io import write_json
from emolens.runtime.recognizer import Recognizer
from emolens.types import SmoothingOptions
from emolens.video.smoothing import smoothing_report

DEFAULT_SMOOTHING = SmoothingOptions()

Labels = dict[int, dict[int, tuple[float, str, str]]]  # track id -> frame index -> (time, label, raw label)


def run(
    clip: str, rec: Recognizer, smoothing: SmoothingOptions | None, detector: str, max_frames: int | None
) -> Labels:
    tracks: Labels = {}
    with emolens.stream(clip, rec, detector, smoothing=smoothing, max_frames=max_frames) as vs:
        for r in vs:
            for f in r.faces:
                if f.track_id is not None:
                    tracks.setdefault(f.track_id, {})[r.index] = (r.time, f.label, f.extra["raw_label"])
    return tracks


def fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("clip", nargs="?", default="../shared/media/fer_woman2.mp4")
    p.add_argument("--detector", default="haar", help="haar, or yunet (after 'emolens fetch yunet')")
    p.add_argument("--max-frames", type=int, default=None, help="only the first N frames")
    p.add_argument("--min-duration", type=float, default=0.5, help="seconds a raw label must hold to be a change")
    p.add_argument("--model", default=None, help="bundled model name or .onnx path")
    p.add_argument("--json", default=None, help="also write the report here")
    args = p.parse_args(argv)

    where = provenance()
    for key in ("date", "machine", "command"):
        print(f"{key}: {where[key]}")
    print(system_line(where["system"]))
    rec = Recognizer(args.model)
    raw = run(args.clip, rec, None, args.detector, args.max_frames)
    smoothed = run(args.clip, rec, DEFAULT_SMOOTHING, args.detector, args.max_frames)
    print(
        f"clip: {args.clip}, model {rec.meta.name}, detector {args.detector}, "
        f"smoothing {DEFAULT_SMOOTHING}, "
        f"sustained change: at least {args.min_duration} s"
    )
    if raw.keys() != smoothed.keys():
        print("warning: the two runs found different tracks; comparing the tracks they share")
    print(
        f"{'track':>5s} {'frames':>6s} {'span s':>7s} {'raw sw/s':>9s} {'smooth sw/s':>11s} "
        f"{'changes':>7s} {'followed':>8s} {'mean lag s':>10s} {'max lag s':>9s}"
    )
    tracks: list[dict[str, Any]] = []
    mismatched = 0
    raw_sw = smooth_sw = span = 0.0
    for tid in sorted(raw.keys() & smoothed.keys()):
        frames = sorted(raw[tid].keys() & smoothed[tid].keys())
        if len(frames) < 2:
            continue
        times = [smoothed[tid][i][0] for i in frames]
        raw_labels = [raw[tid][i][1] for i in frames]
        smooth_labels = [smoothed[tid][i][1] for i in frames]
        mismatched += sum(1 for i in frames if raw[tid][i][1] != smoothed[tid][i][2])  # raw run vs raw_label
        rep = smoothing_report(times, raw_labels, smooth_labels, args.min_duration)
        lags = [x for x in rep.lags_s if x is not None]
        print(
            f"{tid:5d} {rep.frames:6d} {rep.duration_s:7.1f} {rep.raw_switches_per_s:9.2f} "
            f"{rep.smoothed_switches_per_s:11.2f} {len(rep.lags_s):7d} {len(lags):8d} "
            f"{fmt(rep.mean_lag_s):>10s} {fmt(max(lags) if lags else None):>9s}"
        )
        tracks.append({"track_id": tid, **rep.as_dict()})
        raw_sw += rep.raw_switches_per_s * rep.duration_s
        smooth_sw += rep.smoothed_switches_per_s * rep.duration_s
        span += rep.duration_s
    overall = {
        "raw_switches_per_s": raw_sw / span if span else 0.0,
        "smoothed_switches_per_s": smooth_sw / span if span else 0.0,
        "track_seconds": span,
    }
    print(
        f"all tracks: {overall['raw_switches_per_s']:.2f} switches/s raw, "
        f"{overall['smoothed_switches_per_s']:.2f} smoothed, over {span:.1f} track-seconds"
    )
    if mismatched:
        print(f"warning: {mismatched} frames where the raw run's label differs from the smoothed run's raw label")
    if args.json:
        write_json(
            args.json,
            {
                **where,
                "clip": args.clip,
                "model": rec.meta.name,
                "detector": args.detector,
                "max_frames": args.max_frames,
                "min_duration_s": args.min_duration,
                "smoothing": asdict(DEFAULT_SMOOTHING),
                "overall": overall,
                "tracks": tracks,
                "raw_label_mismatches": mismatched,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
