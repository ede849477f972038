"""The speech path of ``emolens train``: RAVDESS (or audio folders) -> a speech CRNN, selected on
held-out speakers, checkpointed every epoch, exported to ONNX at the end.

It keeps the face engine's structure and records (:mod:`emolens.train.fit`): the same
:class:`~emolens.train.config.TrainConfig`, warm-up and cosine schedule, precision choice, class
balancing, mixup, weight averaging, ``metrics.csv``, ``curves.png``, ``config.json`` and the
``best.pt`` / ``last.pt`` checkpoints (``--resume`` continues from ``last.pt``), with what differs
for sound: AdamW instead of SGD (recurrent layers), random crops of ``crop_s`` seconds with audio
augmentation (:mod:`emolens.train.speech_features`) for training, whole utterances through the
run-time NumPy features (computed once) for validation, gradient clipping, and ``best.onnx``
written from ``best.pt`` when the run ends. With ``feature_norm="speaker"`` every utterance is
normalised by its speaker's profile (:meth:`AudioSet.speaker_profiles`: all that speaker's clips in
the split, labels unused), in training and in validation alike.

Splits: RAVDESS by actor (train 01-18, select on 19-20; 21-24 are never read here), or the
``train/`` and ``val/`` folders.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from emolens.audio.features import FeatureConfig, SpeakerProfile, features, trim_silence
from emolens.data.audio import AudioSet, load_audio_split
from emolens.errors import EmolensError
from emolens.io import write_json
from emolens.models.registry import create_model, model_config
from emolens.models.speech import SpeechCRNN
from emolens.train import checkpoint
from emolens.train.adversary import SpeakerAdversary, reversal_strength
from emolens.train.config import TrainConfig
from emolens.train.device import Compute, resolve_compute
from emolens.train.fit import (
    Run,
    TrainResult,
    _class_weights,
    epoch_bar,
    epoch_order,
    flushing_denormals,
    log_compute,
    schedule,
    weight_average,
)
from emolens.train.loop import mix_batch, soft_cross_entropy
from emolens.train.speech_features import (
    FREQ_WARP_P,
    SPEAKER_GAIN_DB,
    AudioAugmentConfig,
    SpeakerBatch,
    TorchFeatures,
    augment_waveforms,
    crop_batch,
    crop_samples,
    spec_augment,
    trimmed_crop_length,
    warp_factors,
)

log = logging.getLogger(__name__)

KIND = "speech"
MAX_GRAD_NORM = 5.0
ADAMW_LR_WARNING = 0.01


def _check_options(cfg: TrainConfig) -> None:
    """Refuse the face-only options rather than ignore them."""
    face_only = {
        "--ferplus": cfg.ferplus is not None,
        "--label-set ferplus": cfg.label_set != "data",
        "--photometric": cfg.photometric > 0,
        "--freeze": cfg.freeze > 0,
        "--init": cfg.init is not None,
    }
    used = [k for k, v in face_only.items() if v]
    if used:
        raise EmolensError(f"{', '.join(used)}: not available for speech models (face training only)")
    if model_config(cfg.arch).input_kind != "audio":
        raise EmolensError(f"{cfg.data} is speech data; train a speech architecture on it (--arch speech_crnn)")
    if cfg.speaker_adversary and (cfg.mixup or cfg.cutmix):
        raise EmolensError(
            "--speaker-adversary cannot be combined with --mixup or --cutmix (a mixed utterance has no one speaker)"
        )
    if cfg.freq_warp and not cfg.augment:
        raise EmolensError("--freq-warp is an augmentation: it cannot be combined with --no-augment")
    if cfg.lr > ADAMW_LR_WARNING:
        log.warning("--lr %g is high for AdamW (speech models); about 0.002 is usual", cfg.lr)


def _subset(data: AudioSet, limit: int, seed: int) -> AudioSet:
    """A random subset of at most ``limit`` utterances (0 = all)."""
    if limit <= 0 or limit >= len(data):
        return data
    idx = np.sort(np.random.default_rng(seed).permutation(len(data))[:limit])
    return data.subset(idx)


def utterance_inputs(
    data: AudioSet,
    fcfg: FeatureConfig,
    min_seconds: float = 0.5,
    profiles: dict[str, SpeakerProfile] | None = None,
) -> list[torch.Tensor]:
    """Each utterance whole, through the run-time features: (1, 1, rows, frames) tensors; with
    ``profiles``, normalised by its speaker's."""
    shortest = int(min_seconds * fcfg.sample_rate)
    out = []
    for w, s in zip(data.waveforms, data.speakers, strict=True):
        w = np.pad(w, (0, max(0, shortest - len(w))))
        profile = profiles.get(s) if profiles is not None else None  # an unknown speaker: its own
        out.append(torch.from_numpy(features(w, data.sample_rate, fcfg, profile))[None, None])
    return out


@torch.no_grad()
def predict_utterances(
    model: torch.nn.Module, inputs: list[torch.Tensor], bf16: bool = False, device: torch.device | None = None
) -> np.ndarray:
    """Softmax probabilities (N, K), one utterance at a time (no padding changes what the network hears);
    ``device``: where ``model`` is (None: the CPU)."""
    device = device or torch.device("cpu")
    model.eval()
    rows = []
    for x in inputs:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            x = x.to(device).contiguous(memory_format=torch.channels_last)  # as training feeds it
            rows.append(F.softmax(model(x).float(), dim=1).cpu())
    return torch.cat(rows).numpy()


def _train_epoch(
    model: torch.nn.Module,
    data: AudioSet,
    targets: torch.Tensor,
    order: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    feats: TorchFeatures,
    cfg: TrainConfig,
    aug: AudioAugmentConfig | None,
    gen: torch.Generator,
    class_weight: torch.Tensor | None,
    compute: Compute,
    ema: torch.optim.swa_utils.AveragedModel | None,
    progress: Any,
    profiles: dict[str, SpeakerProfile] | None,
    adversary: _Adversary | None = None,
) -> tuple[float, float]:
    model.train()
    total, correct, seen = 0.0, 0, 0
    if adversary is not None:
        adversary.start_epoch()
    rate = data.sample_rate
    for start in range(0, len(order) - cfg.batch_size + 1, cfg.batch_size):  # the last partial batch dropped
        idx = order[start : start + cfg.batch_size]
        length = crop_samples(cfg.crop_s, rate, gen)
        waves = [data.waveforms[int(i)] for i in idx]
        if feats.cfg.trim_db is not None:  # crops no longer than the trimmed clips: no silence padded in
            length = trimmed_crop_length(length, waves, rate)
        x = crop_batch(waves, length, gen, aug)
        if aug is not None:
            x = augment_waveforms(x, aug, rate, gen)
        batch_profiles = None if profiles is None else SpeakerBatch.of([profiles[data.speakers[int(i)]] for i in idx])
        spec = feats(x, batch_profiles, warp_factors(len(idx), aug, gen))
        if aug is not None:
            spec = spec_augment(spec, aug, gen, bands=feats.cfg.n_mels)
        y = targets[idx]
        spec, y = mix_batch(spec, y, cfg.mixup, cfg.cutmix, gen)
        spec = spec.to(compute.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        y = y.to(compute.device, non_blocking=True)
        if adversary is None:
            with compute.autocast():
                logits = model(spec)
            loss = soft_cross_entropy(logits, y, class_weight, cfg.label_smoothing)
        else:
            assert isinstance(model, SpeechCRNN)  # checked when the run began
            with compute.autocast():
                features_ = model.embed(spec)
            logits = model.classify(features_)
            loss = soft_cross_entropy(logits, y, class_weight, cfg.label_smoothing)
            loss = loss + adversary.loss(features_, idx, scheduler.last_epoch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update_parameters(model)
        total += float(loss.detach()) * len(idx)
        correct += int((logits.argmax(1) == y.argmax(1)).sum())
        seen += len(idx)
        if progress is not None:
            progress.update(len(idx))
    return total / max(seen, 1), correct / max(seen, 1)


class _Adversary:
    """The speaker adversary of a run (``--speaker-adversary``) and its records for the log."""

    def __init__(self, module: SpeakerAdversary, speakers: torch.Tensor, weight: float, total_steps: int) -> None:
        self.module, self.speakers, self.weight, self.total_steps = module, speakers, weight, max(total_steps, 1)
        self.correct = self.seen = 0
        self.strength = 0.0

    def start_epoch(self) -> None:
        self.module.train()
        self.correct = self.seen = 0

    def loss(self, features_: torch.Tensor, idx: torch.Tensor, step: int) -> torch.Tensor:
        self.strength = reversal_strength(step / self.total_steps, self.weight)
        target = self.speakers[idx].to(features_.device)
        loss, correct = self.module.loss(features_, target, self.strength)
        self.correct, self.seen = self.correct + correct, self.seen + len(idx)
        return loss

    def summary(self) -> str:
        return f"speaker adversary: strength {self.strength:.3f}, guessed {self.correct / max(self.seen, 1):.3f} of the speakers"


def fit_speech(cfg: TrainConfig) -> TrainResult:
    """Train ``cfg.arch`` (a speech architecture) on ``cfg.data``'s train speakers, select on val."""
    with flushing_denormals():
        return _fit_speech(cfg)


def _fit_speech(cfg: TrainConfig) -> TrainResult:
    _check_options(cfg)
    teachers: list[str] = []
    if cfg.teacher is not None:
        from emolens.audio.recognizer import resolve_speech_model
        from emolens.train.teacher import parse_teachers

        teachers = parse_teachers(cfg.teacher)
        for name in teachers:
            resolve_speech_model(name)  # an unknown or missing teacher fails before anything is written
    compute = resolve_compute(cfg.device, cfg.precision)  # a GPU that is not there fails before anything is written
    out = Path(cfg.out)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    fcfg = FeatureConfig(n_mels=cfg.n_mels, feature_norm=cfg.feature_norm, pitch=cfg.pitch, trim_db=cfg.trim_db)
    train = _subset(load_audio_split(cfg.data, "train", sample_rate=fcfg.sample_rate), cfg.limit, cfg.seed)
    taught: np.ndarray | None = None
    if teachers:  # on the utterances as they are: a teacher trims them itself if it was made to
        from emolens.train.teacher import speech_teacher_probabilities

        taught = speech_teacher_probabilities(
            teachers, train, train.classes, temperature=cfg.teacher_temperature, threads=cfg.threads
        )
    if fcfg.trim_db is not None:  # the crops are cut from the trimmed clips; validation trims in features()
        train = replace(
            train, waveforms=tuple(trim_silence(w, fcfg.sample_rate, fcfg.trim_db) for w in train.waveforms)
        )
    val = load_audio_split(cfg.data, "val", sample_rate=fcfg.sample_rate, classes=train.classes)
    val = _subset(val, cfg.limit // 4 if cfg.limit else 0, cfg.seed)
    classes = train.classes
    log.info(
        "train %d utterances (%d speakers), val %d (%d speakers), arch %s, %d classes",
        len(train),
        len(set(train.speakers)),
        len(val),
        len(set(val.speakers)),
        cfg.arch,
        len(classes),
    )
    log_compute(compute)

    torch.manual_seed(cfg.seed)
    model = create_model(cfg.arch, num_classes=len(classes), n_mels=fcfg.n_mels, pitch_rows=fcfg.pitch_rows)
    # channels_last: the 2-D front's convolutions and pooling run about a sixth faster on a CPU (oneDNN)
    model = model.to(compute.device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups: list[dict[str, Any]] = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    helpers: dict[str, torch.nn.Module] = {}
    if fcfg.feature_norm == "speaker":
        train.require_speakers("--feature-norm speaker")
    speakers = sorted(set(train.speakers))
    if cfg.speaker_adversary:
        train.require_speakers("--speaker-adversary")
        if len(speakers) < 2:
            raise EmolensError(
                f"--speaker-adversary needs at least two training speakers, {cfg.data} has {len(speakers)}"
            )
        if not isinstance(model, SpeechCRNN):
            raise EmolensError(
                f"--speaker-adversary needs a speech_crnn, speech_crnn_asp, speech_crnn_delta or speech_crnn1d network, not {cfg.arch}"
            )
        helpers["speaker_adversary"] = SpeakerAdversary(model.embed_dim, len(speakers)).to(compute.device)
        groups.append({"params": list(helpers["speaker_adversary"].parameters()), "weight_decay": cfg.weight_decay})
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr)
    steps_per_epoch, scheduler = schedule(optimizer, cfg, len(train), "utterances")
    adversary = None
    if isinstance(module := helpers.get("speaker_adversary"), SpeakerAdversary):
        speaker_ids = torch.tensor([speakers.index(s) for s in train.speakers])
        adversary = _Adversary(module, speaker_ids, cfg.speaker_adversary, steps_per_epoch * cfg.epochs)
        log.info("speaker adversary over %d training speakers, strength up to %g", len(speakers), cfg.speaker_adversary)
    gen = torch.Generator().manual_seed(cfg.seed)
    ema = weight_average(model, cfg.ema)
    common = {"arch": cfg.arch, "kind": KIND, "labels": classes, "features": asdict(fcfg), "crop_s": cfg.crop_s}
    out.mkdir(parents=True, exist_ok=True)  # only now: bad data or settings leave no empty run folder behind
    run = Run(cfg, common, model, optimizer, scheduler, gen, ema, val_name="held-out speakers", helpers=helpers)
    run.resume(kind=KIND)
    aug = AudioAugmentConfig() if cfg.augment else None
    if aug is not None and fcfg.feature_norm == "speaker":
        aug = replace(aug, gain_db=SPEAKER_GAIN_DB)
    if aug is not None and cfg.freq_warp > 0:
        aug = replace(aug, warp_p=FREQ_WARP_P, warp=(1 - cfg.freq_warp, 1 + cfg.freq_warp))
    write_json(
        out / "config.json",
        {
            **asdict(cfg),
            "precision_used": compute.precision,
            "device_used": str(compute.device),
            "features": asdict(fcfg),
            "audio_augment": asdict(aug) if aug else None,
        },
    )

    feats = TorchFeatures(fcfg)
    targets = torch.nn.functional.one_hot(torch.from_numpy(train.labels), len(classes)).float()
    if taught is not None:
        from emolens.train.teacher import blend

        targets = torch.from_numpy(blend(targets.numpy(), taught, cfg.teacher_weight))
    counts = train.class_counts()
    class_weight = torch.from_numpy(_class_weights(counts)).to(compute.device) if cfg.balance == "weighted" else None
    sample_p = torch.from_numpy(1.0 / np.maximum(counts, 1)[train.labels]) if cfg.balance == "sampler" else None
    t_feat = time.time()
    train_profiles = train.speaker_profiles(fcfg) if fcfg.feature_norm == "speaker" else None
    val_profiles = val.speaker_profiles(fcfg) if fcfg.feature_norm == "speaker" else None
    val_inputs = utterance_inputs(val, fcfg, profiles=val_profiles)
    log.debug("validation features in %.1f s", time.time() - t_feat)

    t_run = time.time()
    for epoch in range(run.start_epoch, cfg.epochs + 1):
        t0 = time.time()
        order = epoch_order(len(train), sample_p, gen)
        bar = epoch_bar(cfg, epoch, steps_per_epoch * cfg.batch_size, "utt")
        train_loss, train_acc = _train_epoch(
            model,
            train,
            targets,
            order,
            optimizer,
            scheduler,
            feats,
            cfg,
            aug,
            gen,
            class_weight,
            compute,
            ema,
            bar,
            train_profiles,
            adversary,
        )
        if bar is not None:
            bar.close()
        if adversary is not None:
            log.info("epoch %d %s", epoch, adversary.summary())
        probs = predict_utterances(run.judged, val_inputs, compute.bf16, compute.device)
        run.end_epoch(epoch, t0, train_loss, train_acc, probs, val.labels)
    result = run.finish(t_run)
    if (out / checkpoint.BEST).exists():
        from emolens.export.speech import export_speech_checkpoint

        export_speech_checkpoint(out / checkpoint.BEST, out / "best.onnx", name=f"speech-{cfg.arch}")
    return result
