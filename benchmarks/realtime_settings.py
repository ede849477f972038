"""What each real-time setting buys in speed and costs in faces, on the shared clips.

Every setting of ``StreamOptions`` (``detect_every``, ``detect_scale``, ``follow``) runs the Haar
pipeline on each clip, and its face boxes are scored, frame by frame, against those of a stronger
detector, YuNet at full size on every frame (the "truth"; the model comes from ../shared/models):

- ``fps``: frames over the wall time of the stream (decode to smoothed faces; drawing excluded),
- ``found``: share of YuNet's faces that the setting reports on that frame (IoU >= 0.3; Haar's
  square boxes are looser than YuNet's),
- ``false``: boxes per frame that match no YuNet face,
- ``iou``: mean IoU of the matched boxes (how well the boxes sit on the faces).

The first row, Haar on every frame at full size, is the slow setting the others try to keep up with.

Usage: python benchmarks/realtime_settings.py [CLIPS...] [--yunet MODEL] [--json FILE]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from emolens.bench import provenance
from emolens.detect import Detector, create_detector
from emolens.info import system_line
from emolens.io import write_json
from emolens.runtime.recognizer import Recognizer
from emolens.types import Box, StreamOptions
from emolens.video.pipeline import stream
from emolens.video.tracking import greedy_match, iou_matrix

MEDIA = Path("../shared/media")
CLIPS = ["pyfeat_single_face.mp4", "fer_woman2.mp4", "fer_test.mp4", "facerec_short_hamilton_clip.mp4"]
YUNET = Path("../shared/models/face_detection_yunet_2023mar.onnx")
CANDIDATES: list[tuple[str, dict[str, Any]]] = [
    ("every 1, scale 1", {"detect_every": 1, "detect_scale": 1.0, "follow": None}),
    ("every 1, scale 0.5", {"detect_every": 1, "detect_scale": 0.5, "follow": None}),
    ("every 5, scale 1, follow", {"detect_every": 5, "detect_scale": 1.0}),
    ("every 5, scale 0.5, hold", {"detect_every": 5, "detect_scale": 0.5, "follow": None}),
    ("every 5, scale 0.5, follow", {"detect_every": 5, "detect_scale": 0.5}),
    ("every 10, scale 1, follow", {"detect_every": 10, "detect_scale": 1.0}),
    ("every 10, scale 0.5, hold", {"detect_every": 10, "detect_scale": 0.5, "follow": None}),
    ("every 10, scale 0.5, follow", {"detect_every": 10, "detect_scale": 0.5}),
    ("every 15, scale 0.5, follow", {"detect_every": 15, "detect_scale": 0.5}),
    ("defaults", {}),
]


def run(clip: Path, rec: Recognizer, options: StreamOptions, detector: Detector) -> tuple[list[list[Box]], float]:
    """The boxes of every frame and the stream's frames per second."""
    boxes: list[list[Box]] = []
    t = time.perf_counter()
    with stream(clip, rec, detector, options) as vs:
        for r in vs:
            boxes.append([f.box for f in r.faces])
    return boxes, len(boxes) / (time.perf_counter() - t)


def score(truth: list[list[Box]], boxes: list[list[Box]]) -> tuple[float, float, float]:
    """Share of the true faces found, false boxes per frame, mean IoU of the matches."""
    found = total = false = 0
    overlap = 0.0
    for ref, got in zip(truth, boxes, strict=True):
        iou = iou_matrix(ref, got)
        pairs = greedy_match(iou, 0.3)
        found += len(pairs)
        overlap += sum(float(iou[i, j]) for i, j in pairs)
        total += len(ref)
        false += len(got) - len(pairs)
    return (found / total if total else 1.0), false / max(len(truth), 1), overlap / max(found, 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("clips", nargs="*", default=[str(MEDIA / c) for c in CLIPS])
    p.add_argument("--yunet", default=str(YUNET), help="the YuNet model file that gives the true faces")
    p.add_argument("--json", default=None, help="also write the table here")
    args = p.parse_args(argv)
    rec = Recognizer()
    print(system_line())
    yunet = create_detector("yunet", model_path=args.yunet)
    rows: list[dict[str, Any]] = []
    for clip in map(Path, args.clips):
        truth, _ = run(clip, rec, StreamOptions(detect_every=1, detect_scale=1.0, follow=None, smoothing=None), yunet)
        print(f"{clip.name}: {len(truth)} frames, {sum(map(len, truth))} faces found by YuNet on every frame")
        print(f"  {'setting':30s} {'fps':>7s} {'found':>6s} {'false/frame':>11s} {'iou':>5s}")
        for name, changes in CANDIDATES:
            boxes, fps = run(clip, rec, StreamOptions().with_changes(smoothing=None, **changes), create_detector())
            found, false, iou = score(truth, boxes)
            rows.append({"clip": clip.name, "setting": name, "fps": fps, "found": found, "false": false, "iou": iou})
            print(f"  {name:30s} {fps:7.1f} {found:6.3f} {false:11.3f} {iou:5.2f}")
    if args.json:
        write_json(
            args.json,
            {
                **provenance(),
                "defaults": repr(StreamOptions()),
                "rows": rows,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
