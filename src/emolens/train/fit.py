"""The engine of ``emolens train``: data, model, schedule, checkpoints, metrics and curves."""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
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
from emolens.train.config import SPEECH_N_MELS, TrainConfig
from emolens.train.device import Compute, resolve_compute
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


def schedule(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, n_train: int, unit: str
) -> tuple[int, torch.optim.lr_scheduler.LambdaLR]:
    """The steps of an epoch over ``n_train`` training examples (``unit``: what they are, for the error
    when they are fewer than a batch) and ``optimizer``'s warm-up and cosine schedule over the run."""
    steps_per_epoch = n_train // cfg.batch_size
    if steps_per_epoch == 0:
        raise EmolensError(f"only {n_train} training {unit}: fewer than one batch of {cfg.batch_size}")
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(steps_per_epoch * cfg.epochs, int(steps_per_epoch * cfg.warmup_epochs))
    )
    return steps_per_epoch, scheduler


def log_compute(compute: Compute) -> None:
    """Log the device (a GPU by name) and the precision a run trains in, and why."""
    log.info("device %s", compute.name)
    if compute.reason:
        log.info("precision %s (%s)", compute.precision, compute.reason)
    else:
        log.info("precision %s", compute.precision)


def weight_average(model: torch.nn.Module, decay: float) -> torch.optim.swa_utils.AveragedModel | None:
    """An exponential moving average of ``model``'s weights and buffers (``--ema``); None when ``decay`` is 0."""
    if not decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def epoch_bar(cfg: TrainConfig, epoch: int, total: int, unit: str, **options: Any) -> Any:
    """With ``--progress``, a progress bar of the epoch's ``total`` examples (``unit``: what they are;
    ``options``: more of tqdm's); else None."""
    if not cfg.progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=f"epoch {epoch}/{cfg.epochs}", unit=unit, leave=False, **options)


def epoch_order(n: int, sample_p: torch.Tensor | None, gen: torch.Generator) -> torch.Tensor:
    """The order of an epoch's ``n`` examples: drawn with replacement by ``sample_p`` (``--balance
    sampler``), else a permutation."""
    if sample_p is not None:
        return torch.multinomial(sample_p, n, replacement=True, generator=gen)
    return torch.randperm(n, generator=gen)


@dataclass
class Run:
    """A training run's objects and its records so far: what ``last.pt`` saves every epoch and
    ``--resume`` restores. ``common`` begins both checkpoints (arch, labels, ...; its ``labels``
    name the classes); ``val_name`` names the validation set in ``curves.png``."""

    cfg: TrainConfig
    common: dict[str, Any]
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    gen: torch.Generator
    ema: torch.optim.swa_utils.AveragedModel | None
    val_name: str = "PublicTest"
    start_epoch: int = 1
    best_acc: float = -1.0
    best_epoch: int = 0
    rows: list[dict[str, float]] = field(default_factory=list)
    helpers: dict[str, torch.nn.Module] = field(default_factory=dict)
    """Modules trained beside the model but not part of it (a speaker adversary): saved in ``last.pt``
    and restored by :meth:`resume`, never in ``best.pt``."""

    @property
    def judged(self) -> torch.nn.Module:
        """The model that validation scores and ``best.pt`` keeps: the weight average with ``--ema``."""
        return self.ema.module if self.ema is not None else self.model

    def resume(self, kind: str | None = None) -> None:
        """With ``--resume``, restore the state ``last.pt`` holds, if there is one, into the model, its
        weight average, the optimiser, the schedule and the generator, and take up its records. With
        ``kind``, a checkpoint of another kind is refused."""
        last = Path(self.cfg.out) / checkpoint.LAST
        if not (self.cfg.resume and last.exists()):
            return
        state = checkpoint.load(last)
        if kind is not None and state.get("kind") != kind:
            raise EmolensError(f"{last} is not a {kind} checkpoint; give another --out")
        if state.get("features") != self.common.get("features"):
            raise EmolensError(
                f"{last} was trained on other input features ({state.get('features')}); "
                "resume with its options or give another --out"
            )
        saved = state.get("helpers", {})
        if set(saved) != set(self.helpers):
            raise EmolensError(
                f"{last} was trained with {', '.join(sorted(saved)) or 'no helper modules'}, this run with "
                f"{', '.join(sorted(self.helpers)) or 'none'}; resume with its options or give another --out"
            )
        self.model.load_state_dict(state["model"])
        if self.ema is not None and "ema" in state:
            self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.gen.set_state(state["generator"])
        for name, module in self.helpers.items():
            module.load_state_dict(saved[name])
        self.start_epoch, self.best_acc, self.best_epoch, self.rows = (
            state["epoch"] + 1,
            state["best_acc"],
            state["best_epoch"],
            state["rows"],
        )
        log.info("resumed from %s at epoch %d", last, self.start_epoch)

    def end_epoch(
        self, epoch: int, t0: float, train_loss: float, train_acc: float, probs: np.ndarray, val_labels: np.ndarray
    ) -> None:
        """The records of an epoch that began at ``t0``: scores the validation probabilities
        ``probs`` against ``val_labels``, adds the epoch's row, saves ``best.pt`` (the judged model)
        when the accuracy is the best yet and ``last.pt`` (all a resume needs), rewrites
        ``metrics.csv`` and ``curves.png``, and logs the epoch."""
        cfg, out, judged, ema = self.cfg, Path(self.cfg.out), self.judged, self.ema
        val_loss = float(-np.log(np.clip(probs[np.arange(len(val_labels)), val_labels], 1e-7, 1)).mean())
        m = compute_metrics(val_labels, probs.argmax(1), labels=self.common["labels"])
        row = {
            "epoch": epoch,
            "lr": self.optimizer.param_groups[0]["lr"],
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_loss": val_loss,
            "val_acc": m.accuracy,
            "val_macro_f1": m.macro_f1,
            "seconds": time.time() - t0,
        }
        self.rows.append(row)
        if m.accuracy > self.best_acc:
            self.best_acc, self.best_epoch = m.accuracy, epoch
            checkpoint.save_atomic(
                {
                    **self.common,
                    "model": judged.state_dict(),
                    "epoch": epoch,
                    "val_acc": self.best_acc,
                    "config": asdict(cfg),
                },
                out / checkpoint.BEST,
            )
        checkpoint.save_atomic(
            {
                **self.common,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "generator": self.gen.get_state(),
                **({"ema": ema.state_dict()} if ema is not None else {}),
                **({"helpers": {k: m.state_dict() for k, m in self.helpers.items()}} if self.helpers else {}),
                "epoch": epoch,
                "best_acc": self.best_acc,
                "best_epoch": self.best_epoch,
                "rows": self.rows,
                "config": asdict(cfg),
            },
            out / checkpoint.LAST,
        )
        table = io.StringIO()
        w = csv.DictWriter(table, fieldnames=list(row), lineterminator="\n")
        w.writeheader()
        w.writerows(self.rows)
        write_text_atomic(out / "metrics.csv", table.getvalue())
        _plot_curves(self.rows, out / "curves.png", val_name=self.val_name)
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

    def finish(self, t_run: float) -> TrainResult:
        """Log the best epoch and the time taken (in all, and since ``t_run`` in this session); the result."""
        seconds = sum(r["seconds"] for r in self.rows)
        log.info(
            "best val accuracy %.4f at epoch %d; %.0f s in all (%.0f s this session)",
            self.best_acc,
            self.best_epoch,
            seconds,
            time.time() - t_run,
        )
        return TrainResult(Path(self.cfg.out), self.best_epoch, self.best_acc, len(self.rows), seconds)


@contextlib.contextmanager
def flushing_denormals() -> Iterator[None]:
    """Flush denormal floats to zero while a model trains, then put the default back.

    Weight decay drives small values towards denormal floats, which CPUs compute on a slow path;
    flushing them changes no result that matters and keeps epochs fast. The setting belongs to the
    calling thread and would otherwise outlive the run (a program that trains, then computes with
    tiny floats, would get zeros)."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def fit(cfg: TrainConfig) -> TrainResult:
    """Train ``cfg.arch`` on the ``train`` split, select on ``val``; checkpoints every epoch.

    Speech data (RAVDESS, or ``train/<class>/`` audio folders) or a speech architecture goes to
    :func:`emolens.train.speech.fit_speech`."""
    with flushing_denormals():
        return _fit(cfg)


def _fit(cfg: TrainConfig) -> TrainResult:
    from emolens.data.audio import is_audio_data

    if model_config(cfg.arch).input_kind == "audio" or is_audio_data(cfg.data):
        from emolens.train.speech import fit_speech

        return fit_speech(cfg)
    if cfg.feature_norm != "utterance":
        raise EmolensError("--feature-norm is for speech models; faces have no speaker profile")
    if cfg.n_mels != SPEECH_N_MELS:
        raise EmolensError("--n-mels is for speech models; faces have no spectrogram")
    if cfg.pitch:
        raise EmolensError("--pitch is for speech models; faces have no voice")
    if cfg.speaker_adversary:
        raise EmolensError("--speaker-adversary is for speech models; face data name no speakers")
    if cfg.trim_db is not None:
        raise EmolensError("--trim-db is for speech models; a face has no silence to trim")
    if cfg.freq_warp:
        raise EmolensError("--freq-warp is for speech models; a face has no spectrum to warp")
    teachers: list[str] = []
    if cfg.teacher is not None:
        from emolens.models.bundled import resolve_model
        from emolens.train.teacher import parse_teachers

        teachers = parse_teachers(cfg.teacher)
        for name in teachers:
            resolve_model(name)  # an unknown or missing teacher fails before anything is written
    compute = resolve_compute(cfg.device, cfg.precision)  # a GPU that is not there fails before anything is written
    device, bf16 = compute.device, compute.bf16
    out = Path(cfg.out)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
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
    log_compute(compute)

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
    model = model.to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
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
    steps_per_epoch, scheduler = schedule(optimizer, cfg, len(train), "faces")
    gen = torch.Generator().manual_seed(cfg.seed)
    ema = weight_average(model, cfg.ema)
    out.mkdir(parents=True, exist_ok=True)  # only now: bad data or settings leave no empty run folder behind
    run = Run(cfg, {"arch": cfg.arch, "labels": classes}, model, optimizer, scheduler, gen, ema)
    run.resume()
    write_json(out / "config.json", {**asdict(cfg), "precision_used": compute.precision, "device_used": str(device)})

    images = torch.from_numpy(train.images)
    target_array = soft if soft is not None else _targets(train, cfg)
    if teachers:
        from emolens.train.teacher import blend, teacher_probabilities

        taught = teacher_probabilities(
            teachers,
            train.images,
            classes,
            labels=train.labels,
            temperature=cfg.teacher_temperature,
            threads=cfg.threads,
        )
        target_array = blend(target_array, taught, cfg.teacher_weight)
    targets = torch.from_numpy(target_array)
    counts = train.class_counts()
    class_weight = torch.from_numpy(_class_weights(counts)).to(device) if cfg.balance == "weighted" else None
    sample_p = torch.from_numpy(1.0 / np.maximum(counts, 1)[train.labels]) if cfg.balance == "sampler" else None
    val_images = torch.from_numpy(val.images)
    aug = replace(cfg.aug, photometric_p=cfg.photometric) if cfg.augment else None

    t_run = time.time()
    for epoch in range(run.start_epoch, cfg.epochs + 1):
        t0 = time.time()
        order = epoch_order(len(train), sample_p, gen)
        bar = epoch_bar(cfg, epoch, steps_per_epoch * cfg.batch_size, "img", mininterval=2)
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
            device=device,
        )
        if bar is not None:
            bar.close()
        probs = predict(run.judged, val_images, mean=mcfg.mean, std=mcfg.std, bf16=bf16, device=device)
        run.end_epoch(epoch, t0, train_loss, train_acc, probs, val.labels)
    return run.finish(t_run)
