"""Accuracy of single models and of their probability average on FER-2013 PublicTest and PrivateTest.

Each model's probabilities are mapped onto FER-2013's seven labels by name (a FER+ model's
``contempt`` is dropped and the rest renormalised), then averaged with equal weights. The
ensemble is chosen on PublicTest; PrivateTest is printed for the record.

    python benchmarks/ensemble_eval.py --data ../shared/data/fer2013 \
        --models emolens-vgg-fer2013-fp32 emolens-vgg2-ferplus-fp32 runs/vgg-ft7-s1/export/model.onnx
"""

from __future__ import annotations

import argparse
import itertools
import sys

import numpy as np

from emolens.bench import describe_machine, machine_record
from emolens.data.fer2013 import load_split
from emolens.labels import EMOTIONS
from emolens.runtime.recognizer import Recognizer
from emolens.train.teacher import to_classes


def seven(rec: Recognizer, probs: np.ndarray) -> np.ndarray:
    """``probs`` over ``rec.labels`` as probabilities over FER-2013's seven labels."""
    return to_classes(probs, rec.labels, EMOTIONS, str(rec.path))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--tta", default="hflip")
    args = ap.parse_args(argv)
    splits = {s: load_split(args.data, s) for s in ("val", "test")}
    probs: dict[str, dict[str, np.ndarray]] = {}
    for name in args.models:
        rec = Recognizer(name, tta=args.tta)
        probs[name] = {s: seven(rec, rec.predict_faces(fs.images)) for s, fs in splits.items()}
    print(f"{'models':<90} {'PublicTest':>10} {'PrivateTest':>11}")
    best: tuple[float, tuple[str, ...]] = (-1.0, ())
    for k in range(1, len(args.models) + 1):
        for combo in itertools.combinations(args.models, k):
            acc = {}
            for s, fs in splits.items():
                avg = np.mean([probs[m][s] for m in combo], axis=0)
                acc[s] = float((avg.argmax(1) == fs.labels).mean())
            print(f"{' + '.join(combo):<90} {acc['val']:>10.4f} {acc['test']:>11.4f}")
            best = max(best, (acc["val"], combo))
    print(f"best on PublicTest: {' + '.join(best[1])} ({best[0]:.4f})")
    print(describe_machine(machine_record()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
