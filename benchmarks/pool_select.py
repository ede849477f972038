"""Greedy forward selection of a face ensemble on FER-2013 PublicTest, under a budget of parameters.

Each unit (a checkpoint, an ``.onnx`` file or a bundled name) is scored alone on PublicTest with its
float32 probabilities under one test-time augmentation; then, from nothing, the unit that raises the
accuracy of the members' mean probabilities most is added, among those that keep the whole within
``--max-params``, until none raises it (a tie goes to fewer parameters). A unit written ``NAME@K``
holds K networks and weighs K times one network in the mean (an ensemble file of K). Checkpoints are
exported to ``--work`` first. PrivateTest is never read.

    python benchmarks/pool_select.py --data ../shared/data/fer2013 --work runs/gpu-pool/select \\
        --units emolens-vgg4-fer2013-fp32@4 runs/gpu-pool/runs/*/best.pt --max-params 12.4e6
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from emolens.bench import describe_machine, machine_record
from emolens.data.fer2013 import load_split
from emolens.export.onnx import export_checkpoint
from emolens.io import write_json
from emolens.models.bundled import resolve_model
from emolens.runtime.recognizer import Recognizer


def unit_file(spec: str, work: Path) -> Path:
    """The ONNX file of a unit: a checkpoint is exported once (kept in ``work``), else resolved."""
    if spec.endswith(".pt"):
        path = Path(spec)
        out = work / f"{path.parent.name}.onnx"
        if not out.exists():
            export_checkpoint(path, out, tta="hflip")
        return out
    return Path(spec) if spec.endswith(".onnx") else resolve_model(spec)


def greedy(
    probs: dict[str, np.ndarray], weight: dict[str, int], params: dict[str, int], labels: np.ndarray, max_params: float
) -> list[tuple[str, float]]:
    """The units chosen in order, each with the ensemble's accuracy once it was added."""
    chosen: list[str] = []
    total = np.zeros_like(next(iter(probs.values())))
    best_acc, used, path = 0.0, 0, []
    while True:
        step: tuple[float, int, str] | None = None
        for u in probs:
            if u in chosen or used + params[u] > max_params:
                continue
            acc = float(((total + weight[u] * probs[u]).argmax(1) == labels).mean())
            key = (acc, -params[u], u)
            if step is None or key[:2] > step[:2]:
                step = key
        if step is None or step[0] <= best_acc:
            return path
        best_acc, u = step[0], step[2]
        chosen.append(u)
        used += params[u]
        total = total + weight[u] * probs[u]
        path.append((u, best_acc))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--units", nargs="+", required=True, help="checkpoints, .onnx files or bundled names; NAME@K")
    ap.add_argument("--work", required=True, help="folder for the exported checkpoints and the result")
    ap.add_argument("--tta", default="hflip")
    ap.add_argument("--max-params", type=float, required=True)
    args = ap.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    val = load_split(args.data, "val")
    probs: dict[str, np.ndarray] = {}
    weight: dict[str, int] = {}
    params: dict[str, int] = {}
    for spec in args.units:
        name, _, k = spec.partition("@")
        path = unit_file(name, work)
        rec = Recognizer(str(path), tta=args.tta)
        if tuple(rec.labels) != tuple(val.classes):
            raise SystemExit(f"{name}: labels {rec.labels} are not the data's {val.classes}")
        probs[name] = rec.predict_faces(val.images)
        if not rec.meta.params:
            raise SystemExit(f"{name}: its file does not record its parameter count")
        weight[name], params[name] = int(k or 1), rec.meta.params
        acc = float((probs[name].argmax(1) == val.labels).mean())
        print(
            f"{name:<45} networks {weight[name]}  params {params[name] / 1e6:6.2f} M  PublicTest {acc:.4f}", flush=True
        )
    path = greedy(probs, weight, params, val.labels, args.max_params)
    print(f"greedy selection on PublicTest ({args.tta}, float32):")
    for u, acc in path:
        print(f"  + {u:<43} {acc:.4f}")
    total = sum(params[u] for u, _ in path)
    print(f"chosen: {len(path)} units, {sum(weight[u] for u, _ in path)} networks, {total / 1e6:.2f} M parameters")
    write_json(work / "selection.json", {"tta": args.tta, "path": path, "params": total, "units": list(probs)})
    print(describe_machine(machine_record()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
