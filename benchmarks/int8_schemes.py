"""Which int8 scheme keeps a model's accuracy on every CPU, and how fast each one is here.

Quantizes a float32 model with every scheme of ``emolens.export.quantize.SCHEMES`` (512
calibration faces from FER-2013 Training, as ``emolens quantize`` does), then measures on this
machine: PublicTest and PrivateTest accuracy, agreement of the top label with the float32 model
on PrivateTest, and ``predict_faces`` throughput (256 faces, median of ``--runs`` runs of
``--repeats`` calls). Prints a table with the CPU model and its int8-relevant flags, and writes
the same as JSON.

Usage: python benchmarks/int8_schemes.py [--model emolens-vgg-fer2013-fp32] [--data ../shared/data/fer2013]
       [--tta hflip] [--out runs/int8] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from emolens.bench import bench_faces, provenance
from emolens.data.fer2013 import load_split
from emolens.export.quantize import SCHEMES, quantize_model
from emolens.info import system_info
from emolens.runtime.recognizer import Recognizer


def measure(
    path: Path, tta: str, splits: dict[str, np.ndarray], labels: dict[str, np.ndarray], runs: int, repeats: int
):  # type: ignore[no-untyped-def]
    rec = Recognizer(path, tta=tta)
    preds = {s: rec.predict_faces(x).argmax(1) for s, x in splits.items()}
    speed = [bench_faces(rec, faces=256, repeats=repeats, seed=r).faces_per_s for r in range(runs)]
    return {
        "val_acc": float((preds["val"] == labels["val"]).mean()),
        "test_acc": float((preds["test"] == labels["test"]).mean()),
        "faces_per_s": float(np.median(speed)),
        "faces_per_s_runs": speed,
    }, preds["test"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="emolens-vgg-fer2013-fp32")
    ap.add_argument("--data", default="../shared/data/fer2013")
    ap.add_argument("--tta", default="hflip", choices=["none", "hflip"])
    ap.add_argument("--out", default="runs/int8")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--calibration", type=int, default=512)
    args = ap.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train = load_split(args.data, "train").images
    pick = np.sort(np.random.default_rng(0).permutation(len(train))[: args.calibration])
    sets = {s: load_split(args.data, s) for s in ("val", "test")}
    splits = {s: fs.images for s, fs in sets.items()}
    labels = {s: fs.labels for s, fs in sets.items()}
    fp32 = Recognizer(args.model)
    rows: dict[str, dict[str, object]] = {}
    row, ref = measure(fp32.path, args.tta, splits, labels, args.runs, args.repeats)
    rows["fp32"] = {**row, "agree_fp32": 1.0}
    for name in SCHEMES:
        q = quantize_model(fp32.path, out / f"{name}.onnx", train[pick], int8=name)
        row, pred = measure(q, args.tta, splits, labels, args.runs, args.repeats)
        rows[name] = {**row, "agree_fp32": float((pred == ref).mean())}

    info = system_info()
    print(f"CPU: {info['cpu']['model']}  flags: {' '.join(info['cpu']['flags'])}")  # type: ignore[index]
    print(f"onnxruntime {info['onnxruntime']}, model {args.model}, tta={args.tta}, {len(pick)} calibration faces")
    print(f"{'variant':8s} {'PublicTest':>10s} {'PrivateTest':>11s} {'vs fp32':>8s} {'agree':>7s} {'faces/s':>8s}")
    base = float(rows["fp32"]["test_acc"])  # type: ignore[arg-type]
    for name, r in rows.items():
        print(
            f"{name:8s} {r['val_acc']:10.4f} {r['test_acc']:11.4f} {100 * (float(r['test_acc']) - base):+7.2f}p "  # type: ignore[arg-type]
            f"{r['agree_fp32']:7.4f} {r['faces_per_s']:8.0f}"
        )
    report = {"provenance": provenance(), "system": info, "model": args.model, "tta": args.tta, "variants": rows}
    (out / "int8_schemes.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {out / 'int8_schemes.json'}")


if __name__ == "__main__":
    main()
