"""A cascade of views: mirror the faces the network is unsure of, then shift the ones still unsure.

Selective flip (the default) mirrors a face when its top probability is below one half; the
``shift`` mode averages ten views of every face (the face and four small shifts, each as is and
mirrored) and is more accurate at ten passes a face. The cascade spends the extra passes only where
they may matter: after selective flip, a face whose averaged top probability is still below a second
threshold gets the eight views it lacks, and its probabilities become the mean of all ten.

All views of every face are computed once, so each second threshold's result and cost (passes a
face: 1 + the share mirrored + 8 x the share shifted) come at once. The rule, written before any
cascade was scored (model card, "A cascade of views"): within 1.6 passes a face, the most accurate
threshold on PublicTest is kept only if it reaches 0.7047 (selective flip's 0.7027 + 7 faces);
only then is it scored on PrivateTest (``--split test``).

    python benchmarks/cascade_tta.py --data ../shared/data/fer2013 --json runs/cascade_tta.json
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
from emolens.runtime.recognizer import Recognizer, shift_views, unsure_rows

SECOND_THRESHOLDS = (0.3, 0.35, 0.4, 0.45)
MAX_PASSES = 1.6
BAR = 0.7047


def views(rec: Recognizer, images: np.ndarray) -> np.ndarray:
    """Raw probabilities (10, N, 7) over FER-2013's label order of the ten ``shift`` views in
    :func:`shift_views`' order: view 0 is the face, view 5 its mirror image."""
    order = [rec.labels.index(lab) for lab in EMOTIONS]
    x = rec.prepare(images)
    out = []
    for s in range(0, len(x), 256):
        batch = shift_views(x[s : s + 256])
        out.append(np.stack([rec.run(np.ascontiguousarray(v)) for v in batch]))
    return np.concatenate(out, axis=1)[..., order]


def cascade(probs: np.ndarray, second: float | None) -> tuple[np.ndarray, float, float]:
    """Labels after selective flip and, for faces still below ``second`` (None: none), all ten views;
    with the shares of faces mirrored and shifted."""
    plain, mirror = probs[0], probs[5]
    mirrored = unsure_rows(plain, SELECTIVE_FLIP_BELOW)
    out = np.where(mirrored[:, None], (plain + mirror) * 0.5, plain)
    shifted = np.zeros(len(out), dtype=bool)
    if second is not None:
        shifted = mirrored & unsure_rows(out, second)
        out = np.where(shifted[:, None], probs.mean(axis=0), out)
    return out.argmax(axis=1), float(mirrored.mean()), float(shifted.mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="FER-2013 folder or fer2013.csv")
    ap.add_argument("--model", default="emolens-vgg-fer2013-int8")
    ap.add_argument(
        "--split", default="val", choices=("val", "test"), help="test: only for the threshold the rule kept"
    )
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)

    faces = load_split(args.data, args.split)
    rec = Recognizer(args.model, tta="none", temperature=1.0, threads=args.threads)
    probs = views(rec, faces.images)
    name = "PublicTest" if args.split == "val" else "PrivateTest"
    print(
        f"{rec.meta.name}: {name} ({len(faces.labels)} faces), first stage: selective flip below {SELECTIVE_FLIP_BELOW:g}"
    )
    print(f"  {'views':<30} {'accuracy':>8} {'mirrored':>8} {'shifted':>8} {'passes':>7}")
    rows: list[dict[str, Any]] = []
    shift_acc = float((probs.mean(axis=0).argmax(1) == faces.labels).mean())
    for second in (None, *SECOND_THRESHOLDS):
        pred, mirrored, shifted = cascade(probs, second)
        acc, cost = float((pred == faces.labels).mean()), 1 + mirrored + 8 * shifted
        label = "selective flip" if second is None else f"cascade, shift below {second:g}"
        print(f"  {label:<30} {acc:>8.4f} {mirrored:>8.3f} {shifted:>8.3f} {cost:>7.2f}")
        rows.append({"second": second, "accuracy": acc, "mirrored": mirrored, "shifted": shifted, "passes": cost})
    print(f"  {'shift (ten views, every face)':<30} {shift_acc:>8.4f} {1.0:>8.3f} {1.0:>8.3f} {10.0:>7.2f}")
    within = [r for r in rows if r["second"] is not None and r["passes"] <= MAX_PASSES]
    best = max(within, key=lambda r: r["accuracy"]) if within else None
    if args.split == "val":
        if best is None:
            print(f"rule: no second threshold keeps within {MAX_PASSES} passes a face")
        else:
            verdict = "kept" if best["accuracy"] >= BAR else "not kept"
            print(
                f"rule: within {MAX_PASSES} passes, shift below {best['second']:g} is the most accurate "
                f"({best['accuracy']:.4f}); the bar is {BAR}: {verdict}"
            )
    machine = machine_record()
    print(describe_machine(machine))
    if args.json:
        record = {"model": rec.meta.name, "split": args.split, "rows": rows, "shift": shift_acc, "bar": BAR}
        write_json(args.json, {**record, "max_passes": MAX_PASSES, **machine}, mkdir=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
