"""Write the model card of the shipped default model from the files its build left behind.

Reads RUN/config.json, RUN/metrics.csv, RUN/eval/*.json (benchmarks/default_model.sh) and the
seed-paper runs' eval-*.json (benchmarks/seed_models.sh); prints the card, or writes it.

Usage: python benchmarks/model_card.py [--run runs/vgg-default] [--runs runs] [--out FILE]
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
from pathlib import Path
from typing import Any

MODEL = "emolens-vgg-fer2013"


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def train_command(cfg: dict[str, Any]) -> str:
    """The ``emolens train`` command line that reproduces a run from its config.json."""
    parts = ["emolens", "train", "--data", cfg["data"], "--arch", cfg["arch"], "--epochs", str(cfg["epochs"])]
    parts += ["--lr", str(cfg["lr"]), "--label-smoothing", str(cfg["label_smoothing"])]
    if cfg["balance"] != "none":
        parts += ["--balance", cfg["balance"]]
    if cfg["threads"]:
        parts += ["--threads", str(cfg["threads"])]
    parts += ["--seed", str(cfg["seed"]), "--out", cfg["out"]]
    return shlex.join(parts)


def score_row(name: str, ev_dir: Path, model: str, tta: str) -> str:
    v = load(ev_dir / f"{model}-{tta}-val.json")
    t = load(ev_dir / f"{model}-{tta}-test.json")
    b = load(ev_dir / f"bench-{model}-{tta}.json")
    return (
        f"| {name} | {tta} | {v['accuracy']:.4f} | {t['accuracy']:.4f} | {t['macro_f1']:.4f} | "
        f"{t['valence_accuracy']:.4f} | {b['faces_per_s']:.0f} |"
    )


def card(run: Path, runs: Path) -> str:
    cfg = load(run / "config.json")
    with (run / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    best = max(rows, key=lambda r: float(r["val_acc"]))
    secs = [float(r["seconds"]) for r in rows]
    minutes = sum(secs) / 60
    ev = run / "eval"
    main = load(ev / f"{MODEL}-hflip-test.json")
    bench = load(ev / f"bench-{MODEL}-hflip.json")
    lines = [
        f"# Model card: {MODEL}",
        "",
        "The default model of emolens: a VGG-style CNN (`vgg`: 4 stages of 2 conv-BN-ReLU,",
        "32-64-128-256 channels, 1.4 M parameters) trained from scratch on FER-2013, exported to ONNX",
        "and quantized to int8 (QDQ, per-channel weights, calibrated on 512 training faces). It",
        "classifies 48x48 gray faces into angry, disgust, fear, happy, sad, surprise, neutral and",
        "averages each face with its mirror image (flip test-time augmentation, inside `predict_faces`).",
        f"`{MODEL}-fp32` is the same network in float32.",
        "",
        "## Data and protocol",
        "",
        "FER-2013 (image-folder release, `../shared/data/fer2013`): trained on the 28,709 Training",
        f"faces, the epoch selected on PublicTest (3,589 faces; best epoch {best['epoch']} of {len(rows)}), reported",
        "once on PrivateTest (3,589 faces). FER-2013 labels (not FER+).",
        "",
        "## Training",
        "",
        "```bash",
        train_command(cfg),
        "bash benchmarks/default_model.sh " + str(run),
        "```",
        "",
        f"SGD with Nesterov momentum 0.9, peak learning rate {cfg['lr']}, {cfg['warmup_epochs']:g} warm-up epochs then cosine",
        f"decay, batch {cfg['batch_size']}, weight decay {cfg['weight_decay']:g}, label smoothing {cfg['label_smoothing']:g}, no class",
        "re-weighting; bf16 autocast and channels_last on the CPU; batched augmentation (rotation +-15 deg,",
        "scale +-15%, shift +-12%, horizontal flip, random erasing p=0.5); seed 0.",
        f"Training took {minutes:.0f} minutes on 2 cores of an Intel Xeon (AMX, AVX512-BF16), no GPU;",
        f"epochs took {min(secs):.0f}-{max(secs):.0f} s (the slow ones shared the cores with other work).",
        "It was stopped once after epoch 33 and continued with `--resume`. Curves: `curves.png` of the",
        "run folder (loss and accuracy per epoch).",
        "",
        "## Results",
        "",
        "Measured by `bash benchmarks/default_model.sh` (ONNX Runtime, the shipped files). Throughput:",
        "`emolens bench faces` on 256 faces, 2 cores.",
        "",
        "| model | TTA | PublicTest acc | PrivateTest acc | PrivateTest macro-F1 | valence acc | faces/s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for model in (MODEL, f"{MODEL}-fp32"):
        for tta in ("hflip", "none"):
            lines.append(score_row(model, ev, model, tta))
    lines += [
        "",
        f"Shipped setting (int8, flip TTA): PrivateTest accuracy **{main['accuracy']:.4f}**, macro-F1",
        f"**{main['macro_f1']:.4f}**, {bench['faces_per_s']:.0f} faces/s ({bench['machine']}).",
        "",
        "Per class on PrivateTest (shipped setting):",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---:|---:|---:|---:|",
    ]
    for lab, c in main["per_class"].items():
        lines.append(f"| {lab} | {c['precision']:.4f} | {c['recall']:.4f} | {c['f1']:.4f} | {c['support']} |")
    lines += [
        "",
        "Confusion matrix on PrivateTest, counts and row-normalised",
        f"(`benchmarks/default_model.sh` writes it as `{run}/eval/{MODEL}-hflip-test.png`; a copy is",
        "`docs/images/confusion-emolens-vgg-fer2013.png`, and the training curves are",
        "`docs/images/curves-emolens-vgg-fer2013.png`):",
        "",
        "```",
        "true\\pred  " + " ".join(f"{lab[:7]:>8s}" for lab in main["labels"]),
    ]
    for lab, row in zip(main["labels"], main["confusion"], strict=True):
        lines.append(f"{lab:10s} " + " ".join(f"{v:8d}" for v in row))
    lines += ["```", ""]
    seed_runs = [runs / n for n in ("seed-classic", "seed-regularized", "seed-classic-weighted")]
    if all((r / "eval-test.json").is_file() for r in seed_runs):
        lines += [
            "## The seed paper's CNNs, trained by the same pipeline",
            "",
            "`bash benchmarks/seed_models.sh` (same data, augmentation, optimiser and schedule; fewer epochs;",
            "fp32 ONNX, no TTA). The paper reports 52% (classic) and 64% (regularised).",
            "",
            "| model | balance | epochs | PublicTest acc | PrivateTest acc | PrivateTest macro-F1 | disgust F1 |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for r in seed_runs:
            c = load(r / "config.json")
            v, t = load(r / "eval-val.json"), load(r / "eval-test.json")
            lines.append(
                f"| {c['arch']} | {c['balance']} | {c['epochs']} | {v['accuracy']:.4f} | {t['accuracy']:.4f} | "
                f"{t['macro_f1']:.4f} | {t['per_class']['disgust']['f1']:.4f} |"
            )
        lines.append(
            f"| vgg (this model, fp32, no TTA) | none | {len(rows)} | "
            f"{load(ev / f'{MODEL}-fp32-none-val.json')['accuracy']:.4f} | "
            f"{load(ev / f'{MODEL}-fp32-none-test.json')['accuracy']:.4f} | "
            f"{load(ev / f'{MODEL}-fp32-none-test.json')['macro_f1']:.4f} | "
            f"{load(ev / f'{MODEL}-fp32-none-test.json')['per_class']['disgust']['f1']:.4f} |"
        )
        lines.append("")
    lines += [
        "## Limits",
        "",
        "FER-2013 faces are small, gray, frontal-ish web images; accuracy on other faces, lighting,",
        "ages and cultures is not measured here. Disgust is rare in the training data (436 faces) and",
        "recognised worst. Emotion labels describe expressions, not inner states.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="runs/vgg-default")
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    text = card(Path(a.run), Path(a.runs))
    if a.out:
        Path(a.out).write_text(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
