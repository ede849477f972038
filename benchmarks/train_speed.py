"""Seconds per training epoch of every architecture on this CPU (or GPU), at each training precision.

Runs the real training step of ``emolens train`` (batched augmentation, channels_last, SGD, the
loss) on FER-2013 Training faces: ``--warmup`` steps untimed, then ``--steps`` timed steps of
``--batch-size``; and the real PublicTest pass of an epoch's end (3,589 faces), timed once.
The epoch figure is projected from those measurements: steps per epoch (28,709 faces //
batch size) x the median step time + the PublicTest pass. Prints a table with the CPU and its
flags, and writes JSON.

``--device cuda`` times the same steps on a GPU (augmentation stays on the CPU, as in ``emolens
train``). ``--synthetic`` times on random faces of FER-2013's sizes instead of the real ones, for a
machine without the data (speed does not depend on the pixels; no accuracy is measured here).

Usage: python benchmarks/train_speed.py [--arch vgg ...] [--precision auto|bf16|fp32|both]
       [--device auto|cpu|cuda] [--steps 10] [--data ../shared/data/fer2013 | --synthetic]
       [--json runs/train_speed.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from emolens.bench import provenance
from emolens.data.fer2013 import load_split
from emolens.info import system_info
from emolens.labels import EMOTIONS
from emolens.models.registry import create_model, list_models, model_config
from emolens.train.config import DEVICES, PRECISIONS, AugmentConfig
from emolens.train.device import resolve_device, resolve_precision
from emolens.train.loop import predict, train_epoch

TRAIN_FACES, VAL_FACES = 28_709, 3_589


def time_arch(
    arch: str, bf16: bool, train: np.ndarray, labels: np.ndarray, val: np.ndarray, args: argparse.Namespace
) -> dict[str, float]:
    mcfg = model_config(arch)
    torch.manual_seed(0)
    device = args.torch_device
    model = create_model(arch, num_classes=len(EMOTIONS)).to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    images = torch.from_numpy(train)
    targets = torch.from_numpy(np.eye(len(EMOTIONS), dtype=np.float32)[labels])
    gen = torch.Generator().manual_seed(0)
    bs = args.batch_size

    def steps(n: int) -> None:
        order = torch.randperm(len(images), generator=gen)[: n * bs]
        train_epoch(
            model, images, targets, order, opt, sched, batch_size=bs, aug=AugmentConfig(), gen=gen,
            mean=mcfg.mean, std=mcfg.std, class_weight=None, smoothing=0.0, bf16=bf16, device=device,
        )  # fmt: skip

    steps(args.warmup)
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        steps(1)
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    predict(model, torch.from_numpy(val), mean=mcfg.mean, std=mcfg.std, bf16=bf16, device=device)
    val_s = time.perf_counter() - t
    step_s = float(np.median(times))
    per_epoch = len(train) // bs
    return {
        "step_s": step_s,
        "step_s_min": float(np.min(times)),
        "val_s": val_s,
        "steps_per_epoch": per_epoch,
        "epoch_s": step_s * per_epoch + val_s,
        "params": sum(p.numel() for p in model.parameters()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", nargs="*", default=None, help="architectures (default: all)")
    ap.add_argument("--precision", default="auto", choices=[*PRECISIONS, "both"])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="auto", choices=DEVICES)
    ap.add_argument("--data", default="../shared/data/fer2013")
    ap.add_argument("--synthetic", action="store_true", help="random faces of FER-2013's sizes instead of --data")
    ap.add_argument("--json", default="runs/train_speed.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    args.torch_device = resolve_device(args.device)
    precisions = (
        ["fp32", "bf16"] if args.precision == "both" else [resolve_precision(args.precision, args.torch_device)]
    )
    if args.synthetic:
        rng = np.random.default_rng(0)
        train_images = rng.integers(0, 256, (TRAIN_FACES, 48, 48), dtype=np.uint8)
        train_labels = rng.integers(0, len(EMOTIONS), TRAIN_FACES)
        val = rng.integers(0, 256, (VAL_FACES, 48, 48), dtype=np.uint8)
    else:
        tr = load_split(args.data, "train")
        train_images, train_labels, val = tr.images, tr.labels, load_split(args.data, "val").images
    info = system_info()
    results = []
    for arch in args.arch or [a for a in list_models() if model_config(a).input_kind == "image"]:  # faces only
        for prec in precisions:
            r = time_arch(arch, prec == "bf16", train_images, train_labels, val, args)
            results.append({"arch": arch, "precision": prec, **r})
            print(
                f"{arch:17s} {prec:5s} {r['params'] / 1e6:6.2f} M params  step {r['step_s']:6.3f} s  "
                f"val pass {r['val_s']:5.1f} s  -> {r['epoch_s']:7.0f} s/epoch", flush=True
            )  # fmt: skip
    print(f"CPU: {info['cpu']['model']}  flags: {' '.join(info['cpu']['flags'])}; torch {info['torch']}, "
          f"{torch.get_num_threads()} threads, auto precision: {info['train_precision']}; device {args.torch_device}"
          f"{'; synthetic faces' if args.synthetic else ''}")  # fmt: skip
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"provenance": provenance(), "system": info, "batch_size": args.batch_size,
                               "steps": args.steps, "device": str(args.torch_device), "synthetic": args.synthetic,
                               "results": results}, indent=2))  # fmt: skip
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
