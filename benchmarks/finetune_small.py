"""Fine-tuning against training from scratch on a small data set of your own: 8 FER+ emotions
(with contempt, which the shipped model never saw) and 20 training faces per class.

Builds the data set as folders (``OUT/data/{train,val,test}/<class>/``) from ../shared: FER+
majority labels over the 8 emotions (ties, and faces whose votes go mostly to unknown or
not-a-face, dropped); train = ``--per-class`` Training faces per class, val = up to 50 PublicTest
faces per class, test = every labelled PrivateTest face. Then trains ``vgg`` on it three ways with
the same schedule: from scratch, ``--init`` the shipped model, and ``--init`` with the first
``--freeze`` convolutions frozen; each is exported and evaluated on the test folder.

Usage: python benchmarks/finetune_small.py [--per-class 20] [--epochs 40] [--out runs/finetune-small]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from emolens.bench import provenance
from emolens.data.ferplus import FERPLUS8_COLUMNS
from emolens.eval.report import evaluate
from emolens.export.onnx import export_checkpoint
from emolens.info import system_line
from emolens.train.config import TrainConfig
from emolens.train.fit import fit

FER = Path("../shared/data/fer2013")
FERPLUS = FERPLUS8_COLUMNS


def majority_labels(votes_csv: Path) -> dict[str, str]:
    """path -> the FER+ majority emotion, for faces with a clear one."""
    out = {}
    with votes_csv.open(newline="") as fh:
        for row in csv.DictReader(fh):
            v = np.array([float(row[c] or 0) for c in FERPLUS])
            top = v.max()
            if top == 0 or (v == top).sum() > 1:
                continue  # no emotion votes, or a tie
            if max(float(row["unknown"] or 0), float(row["NF"] or 0)) >= top:
                continue  # mostly unknown or not a face
            out[row["path"]] = FERPLUS[list(FERPLUS)[int(v.argmax())]]
    return out


def build(root: Path, data: Path, per_class: int, seed: int) -> dict[str, dict[str, int]]:
    labels = majority_labels(data / "ferplus.csv")
    rng = np.random.default_rng(seed)
    picks: dict[str, dict[str, list[str]]] = {"train": {}, "val": {}, "test": {}}
    prefix = {"train": "train/", "val": "test/", "test": "test/"}
    usage = {"train": "Training_", "val": "PublicTest_", "test": "PrivateTest_"}
    for split in picks:
        for cls in FERPLUS.values():
            paths = sorted(
                p for p, lab in labels.items() if lab == cls and p.startswith(prefix[split]) and usage[split] in p
            )
            if split == "train":
                paths = list(rng.choice(paths, size=min(per_class, len(paths)), replace=False))
            elif split == "val":
                paths = list(rng.choice(paths, size=min(50, len(paths)), replace=False))
            picks[split][cls] = paths
    if root.exists():
        shutil.rmtree(root)
    for split, classes in picks.items():
        for cls, paths in classes.items():
            d = root / split / cls
            d.mkdir(parents=True, exist_ok=True)
            for p in paths:
                img = cv2.imread(str(data / p), cv2.IMREAD_GRAYSCALE)
                cv2.imwrite(str(d / Path(p).with_suffix(".png").name), img)
    return {s: {c: len(p) for c, p in cl.items()} for s, cl in picks.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(FER))
    ap.add_argument("--per-class", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--freeze", type=int, default=4)
    ap.add_argument("--init", default="emolens-vgg-fer2013")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/finetune-small")
    args = ap.parse_args()
    out = Path(args.out)
    counts = build(out / "data", Path(args.data), args.per_class, args.seed)
    print("faces per class:", json.dumps(counts))
    runs = {
        "from scratch": {},
        f"--init {args.init}": {"init": args.init},
        f"--init {args.init} --freeze {args.freeze}": {"init": args.init, "freeze": args.freeze},
    }
    results = []
    for name, extra in runs.items():
        run = out / name.replace(" ", "_").replace("-", "")
        cfg = TrainConfig(
            data=str(out / "data"),
            arch="vgg",
            out=str(run),
            epochs=args.epochs,
            batch_size=32,
            lr=args.lr,
            warmup_epochs=2,
            label_smoothing=0.1,
            seed=args.seed,
            progress=False,
            **extra,  # type: ignore[arg-type]
        )
        res = fit(cfg)
        onnx = export_checkpoint(run / "best.pt", run / "model.onnx", name="finetune-small", tta="hflip").path
        ev = evaluate(onnx, out / "data", "test")
        results.append({"run": name, "best_epoch": res.best_epoch, "val_acc": res.best_val_accuracy, **ev.as_dict()})
    print(system_line())
    print(f"{'run':50s} {'val acc':>7s} {'test acc':>8s} {'macro-F1':>8s} {'contempt F1':>11s}")
    for r in results:
        print(
            f"{r['run']:50s} {r['val_acc']:7.4f} {r['accuracy']:8.4f} {r['macro_f1']:8.4f} "
            f"{r['per_class']['contempt']['f1']:11.4f}"
        )
    (out / "results.json").write_text(json.dumps({**provenance(), "counts": counts, "runs": results}, indent=2))


if __name__ == "__main__":
    main()
