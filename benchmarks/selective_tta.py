"""Selective flip test-time augmentation: mirror only the faces the network is unsure of.

For each model, one pass without and one with the mirror image over FER-2013 PublicTest give
every threshold's result at once: a face is averaged with its mirror when its top probability
(the network's own, before calibration) is below the threshold. The table shows PublicTest
accuracy and the share of faces mirrored (the extra cost over one pass) for each threshold; the
threshold shipped (``SELECTIVE_FLIP_BELOW``) was chosen on it. PrivateTest is printed for the
three shipped modes only (none, hflip, selective at the shipped threshold), after the check that
``Recognizer(tta="selective")`` gives exactly the labels simulated here.

    python benchmarks/selective_tta.py --data ../shared/data/fer2013 --json runs/selective_tta.json
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from emolens.bench import describe_machine, machine_record
from emolens.data.fer2013 import load_split
from emolens.io import write_json
from emolens.labels import EMOTIONS
from emolens.runtime.metadata import SELECTIVE_FLIP_BELOW
from emolens.runtime.recognizer import Recognizer, unsure_rows

THRESHOLDS = (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9)


def passes(rec: Recognizer, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw probabilities (over FER-2013's label order) of the faces and of their mirror images."""
    order = [rec.labels.index(lab) for lab in EMOTIONS]
    x = rec.prepare(images)
    plain = np.concatenate([rec.run(x[s : s + 512]) for s in range(0, len(x), 512)])
    mirror = np.concatenate([rec.run(np.ascontiguousarray(x[s : s + 512][..., ::-1])) for s in range(0, len(x), 512)])
    return plain[:, order], mirror[:, order]


def selective(plain: np.ndarray, mirror: np.ndarray, below: float) -> tuple[np.ndarray, np.ndarray]:
    """Predicted labels with the mirror averaged in where the top probability is below ``below``,
    and the mask of the faces mirrored."""
    unsure = unsure_rows(plain, below)
    probs = np.where(unsure[:, None], (plain + mirror) * 0.5, plain)
    return probs.argmax(axis=1), unsure


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="FER-2013 folder or fer2013.csv")
    ap.add_argument("--models", nargs="+", default=["emolens-vgg-fer2013-int8", "emolens-vgg-fer2013-fp32"])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)

    val, test = load_split(args.data, "val"), load_split(args.data, "test")
    record: dict[str, Any] = {"shipped_threshold": SELECTIVE_FLIP_BELOW, "models": {}}
    for model in args.models:
        rec = Recognizer(model, tta="none", temperature=1.0, threads=args.threads)
        plain, mirror = passes(rec, val.images)
        none_acc = float((plain.argmax(1) == val.labels).mean())
        flip_acc = float(((plain + mirror).argmax(1) == val.labels).mean())
        print(f"{rec.meta.name}: PublicTest ({len(val.labels)} faces)")
        print(f"  {'mode':<22} {'accuracy':>8} {'mirrored':>8}")
        print(f"  {'none':<22} {none_acc:>8.4f} {0.0:>8.2f}")
        print(f"  {'hflip':<22} {flip_acc:>8.4f} {1.0:>8.2f}")
        rows = []
        for t in THRESHOLDS:
            pred, unsure = selective(plain, mirror, t)
            acc = float((pred == val.labels).mean())
            mark = "  <- shipped" if t == SELECTIVE_FLIP_BELOW else ""
            print(f"  {f'selective, below {t:g}':<22} {acc:>8.4f} {unsure.mean():>8.2f}{mark}")
            rows.append({"threshold": t, "accuracy": acc, "mirrored": float(unsure.mean())})

        plain_t, mirror_t = passes(rec, test.images)
        pred_t, unsure_t = selective(plain_t, mirror_t, SELECTIVE_FLIP_BELOW)
        shipped_rec = Recognizer(model, tta="selective", threads=args.threads)
        order = [shipped_rec.labels.index(lab) for lab in EMOTIONS]
        shipped = shipped_rec.predict_faces(test.images)[:, order]
        if not np.array_equal(shipped.argmax(1), pred_t):
            raise SystemExit(f"{model}: Recognizer(tta='selective') disagrees with the simulation")
        test_acc = {
            "none": float((plain_t.argmax(1) == test.labels).mean()),
            "hflip": float(((plain_t + mirror_t).argmax(1) == test.labels).mean()),
            "selective": float((pred_t == test.labels).mean()),
        }
        print(
            f"  PrivateTest ({len(test.labels)} faces): none {test_acc['none']:.4f}, hflip {test_acc['hflip']:.4f}, "
            f"selective below {SELECTIVE_FLIP_BELOW:g} {test_acc['selective']:.4f} ({unsure_t.mean():.2f} mirrored)"
        )
        record["models"][rec.meta.name] = {
            "publictest": {"none": none_acc, "hflip": flip_acc, "selective": rows},
            "privatetest": test_acc,
            "privatetest_mirrored": float(unsure_t.mean()),
        }
    machine = machine_record()
    print(describe_machine(machine))
    if args.json:
        write_json(args.json, {**record, **machine}, mkdir=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
