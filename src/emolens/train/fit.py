"""The engine of ``emolens train``: data, model, schedule, checkpoints, metrics and curves."""

from __future__ import annotations

import csv
import io
import logging
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emolens.data.fer2013 import FaceSet, load_split
from emolens.errors import EmolensError
from emolens.eval.metrics import compute_metrics
from emolens.eval.report import save_figure
from emolens.io import write_json, write_text_atomic
from emolens.labels import EMOTIONS
from emolens.models.registry import create_model, model_config
from emolens.train import checkpoint
from emolens.train.config import PRECISIONS, TrainConfig
from emolens.train.loop import predict, train_epoch

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class TrainResult:
    out: Path
    best_epoch: int
    best_val_accuracy: float
    epochs_run: int
    seconds: float


def _subset(fs: FaceSet, limit: int, seed: int) -> FaceSet:
    """A class-stratified random subset of at most ``limit`` faces (0 = all)."""
    if limit <= 0 or limit >= len(fs):
        return fs
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.permutation(len(fs))[:limit])
    return FaceSet(fs.images[idx], fs.labels[idx], tuple(fs.paths[i] for i in idx), fs.classes)


def _targets(fs: FaceSet, cfg: TrainConfig) -> np.ndarray:
    if cfg.ferplus:
        from emolens.data.ferplus import load_votes, soft_targets

        if fs.classes != EMOTIONS:
            raise EmolensError(f"--ferplus blends votes into FER-2013's seven emotions; this data has {fs.classes}")
        return soft_targets(fs.paths, fs.labels, load_votes(cfg.ferplus), cfg.ferplus_weight)
    onehot = np.zeros((len(fs), len(fs.classes)), dtype=np.float32)
    onehot[np.arange(len(fs)), fs.labels] = 1
    return onehot


def _class_weights(counts: np.ndarray) -> np.ndarray:
    """Inverse-frequency weights, scaled so that the average weight over faces is 1."""
    counts = np.maximum(counts, 1).astype(np.float64)
    w = counts.sum() / (len(counts) * counts)
    return (w / (w * counts).sum() * counts.sum()).astype(np.float32)


def _lr_lambda(total_steps: int, warmup_steps: int) -> Any:
    def f(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    return f


def _plot_curves(rows: list[dict[str, float]], path: Path, val_name: str = "PublicTest") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [r["epoch"] for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(ep, [r["train_loss"] for r in rows], label="train")
    a1.plot(ep, [r["val_loss"] for r in rows], label=f"val ({val_name})")
    a1.set_xlabel("epoch")
    a1.set_ylabel("loss")
    a1.legend()
    a2.plot(ep, [r["train_acc"] for r in rows], label="train")
    a2.plot(ep, [r["val_acc"] for r in rows], label=f"val ({val_name})")
    a2.plot(ep, [r["val_macro_f1"] for r in rows], label="val macro-F1", linestyle="--")
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy")
    a2.legend()
    fig.tight_layout()
    save_figure(fig, path)


def resolve_precision(requested: str) -> str:
    """``auto`` -> ``bf16`` where the CPU computes bf16 natively (AVX512-BF16 or AMX), else ``fp32``.

    Elsewhere PyTorch emulates bf16 autocast, many times slower than float32 (on an AVX2-only AMD
    EPYC a ``vgg`` batch of 128 took 14.8 s in bf16 against 1.2 s in fp32).
    """
    from emolens.hardware import train_precision

    if requested not in PRECISIONS:
        raise EmolensError(f"unknown --precision {requested!r}; choose one of: {', '.join(PRECISIONS)}")
    return train_precision() if requested == "auto" else requested


def fit(cfg: TrainConfig) -> TrainResult:
    """Train ``cfg.arch`` on the ``train`` split, select on ``val``; checkpoints every epoch.

    Speech data (RAVDESS, or ``train/<class>/`` audio folders) or a speech architecture goes to
    :func:`emolens.train.speech.fit_speech`."""
    from emolens.data.audio import is_audio_data

    if model_config(cfg.arch).input_kind == "audio" or is_audio_data(cfg.data):
        from emolens.train.speech import fit_speech

        return fit_speech(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    # Weight decay drives small values towards denormal floats, which CPUs compute on a slow
    # path; flushing them to zero changes no result that matters and keeps epochs fast.
    torch.set_flush_denormal(True)
    mcfg = model_config(cfg.arch)
    train = _subset(load_split(cfg.data, "train", size=mcfg.input_size), cfg.limit, cfg.seed)
    val = load_split(cfg.data, "val", size=mcfg.input_size, classes=train.classes)
    val = _subset(val, cfg.limit // 4 if cfg.limit else 0, cfg.seed)
    soft: np.ndarray | None = None
    if cfg.label_set == "ferplus":
        from emolens.data.ferplus import ferplus_relabel

        assert cfg.ferplus is not None  # checked by TrainConfig
        train, soft = ferplus_relabel(train, cfg.ferplus)
        val, _ = ferplus_relabel(val, cfg.ferplus)
    classes = train.classes
    log.info("train %d faces, val %d faces, arch %s, %d classes", len(train), len(val), cfg.arch, len(classes))
    precision = resolve_precision(cfg.precision)
    if cfg.precision == "auto":
        reason = "native bf16" if precision == "bf16" else "no native bf16 (AVX512-BF16 or AMX)"
        log.info("precision %s (auto: this CPU has %s)", precision, reason)
    else:
        log.info("precision %s", precision)
    bf16 = precision == "bf16"

    torch.manual_seed(cfg.seed)
    model = create_model(cfg.arch, num_classes=len(classes))
    if cfg.init and not (cfg.resume and (out / checkpoint.LAST).exists()):
        from emolens.train.init import initialize, load_source, restore_batch_norm_statistics
        from emolens.train.loop import to_input

        initialize(model, cfg.arch, classes, load_source(cfg.init))
        sample = torch.from_numpy(train.images[np.random.default_rng(cfg.seed).permutation(len(train))[:2048]])
        restore_batch_norm_statistics(model, to_input(sample, mcfg.mean, mcfg.std))
    from emolens.train.init import freeze_first_convs

    frozen = freeze_first_convs(model, cfg.freeze)
    if frozen or cfg.freeze:
        log.info("the first %d convolutions are frozen", cfg.freeze)
    model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    optimizer = torch.optim.SGD(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        momentum=0.9,
        nesterov=True,
    )
    steps_per_epoch = len(train) // cfg.batch_size
    if steps_per_epoch == 0:
        raise EmolensError(f"only {len(train)} training faces: fewer than one batch of {cfg.batch_size}")
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(steps_per_epoch * cfg.epochs, int(steps_per_epoch * cfg.warmup_epochs))
    )
    gen = torch.Generator().manual_seed(cfg.seed)
    start_epoch, best_acc, best_epoch, rows = 1, -1.0, 0, []
    ema = None
    if cfg.ema:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True)
    last = out / checkpoint.LAST
    if cfg.resume and last.exists():
        state = checkpoint.load(last)
        model.load_state_dict(state["model"])
        if ema is not None and "ema" in state:
            ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        start_epoch, best_acc, best_epoch, rows = (
            state["epoch"] + 1,
            state["best_acc"],
            state["best_epoch"],
            state["rows"],
        )
        log.info("resumed from %s at epoch %d", last, start_epoch)
    write_json(out / "config.json", {**asdict(cfg), "precision_used": precision})

    images = torch.from_numpy(train.images)
    targets = torch.from_numpy(soft if soft is not None else _targets(train, cfg))
    counts = train.class_counts()
    class_weight = torch.from_numpy(_class_weights(counts)) if cfg.balance == "weighted" else None
    sample_p = torch.from_numpy(1.0 / np.maximum(counts, 1)[train.labels]) if cfg.balance == "sampler" else None
    val_images = torch.from_numpy(val.images)
    aug = replace(cfg.aug, photometric_p=cfg.photometric) if cfg.augment else None

    t_run = time.time()
    for epoch in range(start_epoch, cfg.epochs + 1):
        t0 = time.time()
        if sample_p is not None:
            order = torch.multinomial(sample_p, len(train), replacement=True, generator=gen)
        else:
            order = torch.randperm(len(train), generator=gen)
        bar = None
        if cfg.progress:
            from tqdm import tqdm

            bar = tqdm(
                total=steps_per_epoch * cfg.batch_size,
                desc=f"epoch {epoch}/{cfg.epochs}",
                unit="img",
                mininterval=2,
                leave=False,
            )
        train_loss, train_acc = train_epoch(
            model,
            images,
            targets,
            order,
            optimizer,
            scheduler,
            batch_size=cfg.batch_size,
            aug=aug,
            gen=gen,
            mean=mcfg.mean,
            std=mcfg.std,
            class_weight=class_weight,
            smoothing=cfg.label_smoothing,
            bf16=bf16,
            progress=bar.update if bar is not None else None,
            frozen=frozen,
            mixup=cfg.mixup,
            cutmix=cfg.cutmix,
            after_step=(lambda: ema.update_parameters(model)) if ema is not None else None,
        )
        if bar is not None:
            bar.close()
        judged = ema.module if ema is not None else model
        probs = predict(judged, val_images, mean=mcfg.mean, std=mcfg.std, bf16=bf16)
        val_loss = float(-np.log(np.clip(probs[np.arange(len(val)), val.labels], 1e-7, 1)).mean())
        m = compute_metrics(val.labels, probs.argmax(1), labels=classes)
        row = {
            "epoch": epoch,
            "lr": optimizer.param_groups[0]["lr"],
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_loss": val_loss,
            "val_acc": m.accuracy,
            "val_macro_f1": m.macro_f1,
            "seconds": time.time() - t0,
        }
        rows.append(row)
        if m.accuracy > best_acc:
            best_acc, best_epoch = m.accuracy, epoch
            checkpoint.save_atomic(
                {
                    "arch": cfg.arch,
                    "labels": classes,
                    "model": judged.state_dict(),
                    "epoch": epoch,
                    "val_acc": best_acc,
                    "config": asdict(cfg),
                },
                out / checkpoint.BEST,
            )
        checkpoint.save_atomic(
            {
                "arch": cfg.arch,
                "labels": classes,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "generator": gen.get_state(),
                **({"ema": ema.state_dict()} if ema is not None else {}),
                "epoch": epoch,
                "best_acc": best_acc,
                "best_epoch": best_epoch,
                "rows": rows,
                "config": asdict(cfg),
            },
            last,
        )
        table = io.StringIO()
        w = csv.DictWriter(table, fieldnames=list(row), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        write_text_atomic(out / "metrics.csv", table.getvalue())
        _plot_curves(rows, out / "curves.png")
        log.info(
            "epoch %d/%d  loss %.4f  train acc %.4f  val loss %.4f  val acc %.4f  val macro-F1 %.4f  (%.0f s)",
            epoch,
            cfg.epochs,
            train_loss,
            train_acc,
            val_loss,
            m.accuracy,
            m.macro_f1,
            row["seconds"],
        )
    seconds = sum(r["seconds"] for r in rows)
    log.info(
        "best val accuracy %.4f at epoch %d; %.0f s in all (%.0f s this session)",
        best_acc,
        best_epoch,
        seconds,
        time.time() - t_run,
    )
    return TrainResult(out, best_epoch, best_acc, len(rows), seconds)
