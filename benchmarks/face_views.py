"""Multi-view test-time augmentation for a face model: does averaging shifted and zoomed views pay?

The face models are trained with shifts (+-12%), scaling (+-15%) and mirroring, and ship with flip
test-time augmentation (``hflip``, or ``selective``: only unsure faces mirrored). This script scores
on FER-2013 PublicTest (``--split val``, the selection split) the model's own modes and the mean
probabilities (one pass each, no calibration) over sets of views:

* ``shift5``: the face and four shifts of ``--shift`` pixels (edge pixels repeated), each as is and
  mirrored (10 views);
* ``zoom``: the face and a centre zoom of ``--zoom``, each as is and mirrored (4 views);
* ``shift5+zoom``: both (12 views).

    python benchmarks/face_views.py --data ../shared/data/fer2013 --model emolens-vgg-fer2013-fp32
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import cv2
import numpy as np
from bench_report import finish_benchmark

from emolens.data.fer2013 import load_split
from emolens.runtime.recognizer import Recognizer

View = Callable[[np.ndarray], np.ndarray]


def shifted(dx: int, dy: int) -> View:
    """Faces (N, H, W) moved by (dx, dy) pixels, the edge pixels repeated into the gap."""

    def view(faces: np.ndarray) -> np.ndarray:
        m = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
        h, w = faces.shape[1:3]
        return np.stack([cv2.warpAffine(f, m, (w, h), borderMode=cv2.BORDER_REPLICATE) for f in faces])

    return view


def zoomed(factor: float) -> View:
    """Faces (N, H, W) enlarged by ``factor`` about their centre, cut back to (H, W)."""

    def view(faces: np.ndarray) -> np.ndarray:
        h, w = faces.shape[1:3]
        m = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), 0.0, factor)
        return np.stack(
            [cv2.warpAffine(f, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) for f in faces]
        )

    return view


def mirrored(view: View) -> View:
    return lambda faces: view(faces)[:, :, ::-1].copy()


def view_sets(shift: int, zoom: float) -> dict[str, list[View]]:
    base: list[View] = [shifted(0, 0)] + [
        shifted(dx, dy) for dx, dy in ((shift, 0), (-shift, 0), (0, shift), (0, -shift))
    ]
    zooms: list[View] = [shifted(0, 0), zoomed(zoom)]
    sets = {"shift5": base, "zoom": zooms, "shift5+zoom": base + zooms[1:]}
    return {name: views + [mirrored(v) for v in views] for name, views in sets.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="val", choices=("val", "test"))
    ap.add_argument("--model", default=None)
    ap.add_argument("--shift", type=int, default=2, help="pixels of each shift")
    ap.add_argument("--zoom", type=float, default=1.1, help="the zoomed view's factor")
    ap.add_argument("--sets", nargs="+", default=None, help="only these view sets (default: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    rec = Recognizer(args.model, threads=args.threads, tta="none")
    data = load_split(args.data, args.split, classes=rec.labels)
    results: dict[str, float] = {}
    for tta in ("none", "hflip", "selective"):
        probs = Recognizer(args.model, threads=args.threads, tta=tta).predict_faces(data.images)
        results[f"tta={tta}"] = float(np.mean(probs.argmax(1) == data.labels))
    for name, views in view_sets(args.shift, args.zoom).items():
        if args.sets and name not in args.sets:
            continue
        total = np.zeros((len(data.labels), len(rec.labels)))
        for view in views:
            total += rec.run(rec.prepare(view(data.images)))
        results[f"{name} ({len(views)} views)"] = float(np.mean(total.argmax(1) == data.labels))
    print(f"{rec.meta.name} ({rec.path.name}) on {args.split} ({len(data.labels)} faces)")
    for name, acc in results.items():
        print(f"  {name:<24} {acc:.4f}")
    finish_benchmark("face_views", argv, args.json, {"model": str(rec.path), "split": args.split, "accuracy": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
