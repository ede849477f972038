"""Faces found and non-faces taken for faces by the Haar detector at several sensitivities, on the
shared photos whose faces were checked by eye (``TRUE_FACES`` in ``tests/test_detect.py``).

Six photos are too few to choose a default on (and they are the examples every check of this
project sees), so this prints what ``--haar-min-neighbors`` trades, for the README; it sets nothing.
A box counts as a face found when it overlaps a true face with IoU >= 0.3 (Haar's square boxes are
looser than the annotations), and as a false detection otherwise.

Usage: python benchmarks/detector_sensitivity.py [--media DIR] [--neighbors 3 5 8 12 16] [--json FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from emolens.bench import provenance
from emolens.detect import create_detector
from emolens.imageio import read_image
from emolens.info import system_line
from emolens.io import write_json
from emolens.types import DetectorOptions
from emolens.video.tracking import greedy_match, iou_matrix

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from test_detect import TRUE_FACES  # noqa: E402  (the annotations live with the tests that use them)


def score(media: Path, neighbors: int) -> dict[str, Any]:
    """Faces found and false detections over the annotated photos at one ``haar_min_neighbors``."""
    detector = create_detector("haar", DetectorOptions(haar_min_neighbors=neighbors))
    per_photo = {}
    for photo, truth in sorted(TRUE_FACES.items()):
        boxes = detector.detect(read_image(media / photo))
        found = len(greedy_match(iou_matrix(truth, boxes), 0.3))
        per_photo[photo] = {"faces": len(truth), "found": found, "false": len(boxes) - found}
    return {
        "haar_min_neighbors": neighbors,
        "faces": sum(p["faces"] for p in per_photo.values()),
        "found": sum(p["found"] for p in per_photo.values()),
        "false": sum(p["false"] for p in per_photo.values()),
        "photos": per_photo,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--media", type=Path, default=ROOT.parent / "shared" / "media")
    ap.add_argument("--neighbors", type=int, nargs="+", default=[3, 5, 8, 12, 16])
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rows = [score(args.media, n) for n in args.neighbors]
    default = DetectorOptions().haar_min_neighbors
    print(f"{'--haar-min-neighbors':>21s} {'faces found':>12s} {'false detections':>17s}")
    for r in rows:
        mark = " (default)" if r["haar_min_neighbors"] == default else ""
        print(f"{r['haar_min_neighbors']:>21d} {r['found']:>5d} of {r['faces']:<3d} {r['false']:>17d}{mark}")
    print(system_line(provenance()["system"]))
    if args.json:
        write_json(args.json, {"rows": rows, **provenance()})


if __name__ == "__main__":
    main()
