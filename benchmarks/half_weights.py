"""A float32 model against its copy with weights stored in float16 (``emolens halve``).

For each split asked for: accuracy of both under one test-time augmentation, the share of faces
whose top label they agree on, and the largest change of any probability; then both files' sizes
and ``predict_faces`` throughput (256 real faces, median of ``--runs`` runs; 0: none). Prints a table and
writes the same as JSON with the command, the date and the machine.

Usage: python benchmarks/half_weights.py FULL.onnx HALF.onnx [--data ../shared/data/fer2013]
       [--splits val] [--tta shift] [--runs 3] [--json runs/half/half.json]
PrivateTest (``--splits val test``) only for a file already chosen: it is the report split.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from emolens.bench import bench_faces, provenance
from emolens.data.fer2013 import load_split
from emolens.io import write_text_atomic
from emolens.runtime.recognizer import Recognizer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("full")
    ap.add_argument("half")
    ap.add_argument("--data", default="../shared/data/fer2013")
    ap.add_argument("--splits", nargs="+", default=["val"], choices=["val", "test"])
    ap.add_argument("--tta", default="shift")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    recs = {"full": Recognizer(args.full, tta=args.tta), "half": Recognizer(args.half, tta=args.tta)}
    result: dict[str, object] = {"provenance": provenance(), "tta": args.tta, "splits": {}}
    for split in args.splits:
        data = load_split(args.data, split)
        probs = {k: r.predict_faces(data.images) for k, r in recs.items()}
        labels = {k: p.argmax(1) for k, p in probs.items()}
        row = {
            "faces": len(data.labels),
            "accuracy_full": float((labels["full"] == data.labels).mean()),
            "accuracy_half": float((labels["half"] == data.labels).mean()),
            "agreement": float((labels["full"] == labels["half"]).mean()),
            "max_prob_diff": float(np.abs(probs["full"] - probs["half"]).max()),
        }
        result["splits"][split] = row  # type: ignore[index]
        print(
            f"{split}: {row['faces']} faces, accuracy full {row['accuracy_full']:.4f} half {row['accuracy_half']:.4f}, "
            f"same label {row['agreement']:.4f}, largest probability change {row['max_prob_diff']:.1e}"
        )
    faces = load_split(args.data, args.splits[0]).images
    for key, rec in recs.items() if args.runs > 0 else ():
        speed = [bench_faces(rec, faces=256, repeats=10, seed=r, images=faces).faces_per_s for r in range(args.runs)]
        size = Path(rec.path).stat().st_size
        result[key] = {"path": str(rec.path), "bytes": size, "faces_per_s": float(np.median(speed))}
        print(f"{key}: {rec.path} {size / 1e6:.1f} MB, {np.median(speed):.0f} faces/s ({args.tta}, 256 faces)")
    if args.json:
        write_text_atomic(args.json, json.dumps(result, indent=2) + "\n", mkdir=True)


if __name__ == "__main__":
    main()
