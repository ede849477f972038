"""Judge a speech training recipe on folds of the training actors, not on two selection speakers.

RAVDESS's selection split (actors 19-20) is 120 utterances of two people: one utterance is 0.8
point, and candidates that differ there by a few utterances fall apart on other speakers (model
card, section "A second convolutional front"). This script compares recipes on all 1,200
utterances of actors 01-20 instead: each of four folds holds out five actors (01-05, 06-10, 11-15,
16-20; two or three of each sex) and trains on the other fifteen; every utterance is judged once,
by the network that never heard its speaker. Actors 21-24 are never read.

    # the fold folders (train/<class>/ and val/<class>/ of links to the RAVDESS files):
    python benchmarks/speech_folds.py make --data ../shared/data/ravdess-speech-16k --out runs/folds
    # one training per fold and recipe, e.g. emolens train --data runs/folds/fold0 ... --out runs/f-base-0
    # then every recipe's held-out predictions, side by side, the paired test between the first two and,
    # as information, the first two as one model (the mean of their probabilities):
    python benchmarks/speech_folds.py score --folds runs/folds --arm base=runs/f-base-{k} --arm warp=runs/f-warp-{k}
    # several paired tests from one judging: --compare B:A, once per pair
    # each fold's networks of a recipe as one teacher file for distillation (emolens train --teacher),
    # the mean of their probabilities, asking for crops, no temperature (T = 1): runs/teach-G-{k}.onnx
    python benchmarks/speech_folds.py teacher --runs runs/f-2d-{k}+runs/f-delta-{k} --tta crops --out runs/teach-G-{k}.onnx
    # a finished run's last.pt down to its weight average, to keep it in checkpoints/ (2.4 MB, not 9.5):
    python benchmarks/speech_folds.py slim runs/f-base-0

Each fold's network is judged with the weights of its **last** epoch (the weight average with
``--ema``): choosing an epoch on the held-out actors would be choosing on what is being measured.
Utterances are judged whole in one pass, as training's validation does, unless a run's folder ends
in ``@crops`` (e.g. ``--arm crops=runs/f-2d-{k}@crops``): then its networks judge them as the shipped
file does, whole and by their 2 s crops (``VoiceRecognizer(tta="crops")``), or ``@crops-only``,
``@crops-multi``, ``@crops-dense``, ``@crops-speeds`` (:data:`VARIANTS`, not in the library). Networks
trained with ``--feature-norm speaker`` hear each utterance with its speaker's profile from all of that
speaker's held-out utterances (labels unused), as ``emolens evaluate`` does. The paired test is an
exact two-sided sign test on the utterances that one recipe gets right and the other wrong.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from speech_crops import sped_up

from emolens.audio.evaluate import split_probabilities
from emolens.audio.features import to_mono
from emolens.audio.labels import RAVDESS_CODES
from emolens.audio.recognizer import CROP_HOP_S, CROP_S, VoiceRecognizer, crops_of
from emolens.data.audio import RAVDESS_FILE, load_audio_split
from emolens.eval.metrics import compute_metrics
from emolens.export.speech import export_speech_checkpoint
from emolens.io import write_bytes_atomic
from emolens.runtime.metadata import SPEECH_TTA_MODES

FOLDS: tuple[tuple[int, ...], ...] = ((1, 2, 3, 4, 5), (6, 7, 8, 9, 10), (11, 12, 13, 14, 15), (16, 17, 18, 19, 20))
"""The held-out actors of each fold; actors 21-24 (the test speakers) are in none."""


def make_folds(data: Path, out: Path) -> None:
    """``out/fold{k}/train/<class>/`` and ``val/<class>/``: links to the RAVDESS speech files."""
    files = sorted(data.glob("Actor_*/*"))
    used = 0
    for k, held in enumerate(FOLDS):
        for f in files:
            m = RAVDESS_FILE.fullmatch(f.name)
            if m is None or m.group(2) != "01":
                continue
            actor = int(m.group(7))
            if actor > max(max(fold) for fold in FOLDS):
                continue
            split = "val" if actor in held else "train"
            link = out / f"fold{k}" / split / RAVDESS_CODES[m.group(3)] / f.name
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(f.resolve())
            used += k == 0
    print(f"{len(FOLDS)} folds of {used} utterances (actors 01-20) in {out}")


def last_epoch_state(run: Path) -> dict[str, object]:
    """The judged weights of a run's last epoch (its EMA when it has one), as a speech checkpoint."""
    state = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    if "ema" in state:
        prefix = "module."
        weights = {k[len(prefix) :]: v for k, v in state["ema"].items() if k.startswith(prefix)}
    else:
        weights = state["model"]
    keep = ("arch", "kind", "labels", "features", "crop_s", "config", "epoch")
    return {**{k: state[k] for k in keep if k in state}, "model": weights}


SLIM_DROPS = ("model", "optimizer", "scheduler", "generator")
"""What :func:`slim_run` takes out of a finished run's ``last.pt``: all but the weight average it is
judged by, its settings and its records (a 9.5 MB file of ``speech_crnn`` becomes 2.4 MB)."""


def slim_run(run: Path) -> None:
    """Rewrite a finished run's ``last.pt`` with its weight average alone, for keeping in
    ``checkpoints/``: what :func:`last_epoch_state` reads is unchanged; it can no longer resume."""
    path = run / "last.pt"
    state = torch.load(path, map_location="cpu", weights_only=True)
    epochs = state.get("config", {}).get("epochs")
    if "ema" not in state:
        sys.exit(f"{path}: no weight average (--ema) to keep; nothing changed")
    if state.get("epoch") != epochs:
        sys.exit(f"{path}: epoch {state.get('epoch')} of {epochs}, not finished; nothing changed")
    before = last_epoch_state(run)
    tmp = path.with_suffix(".slim.tmp")
    torch.save({k: v for k, v in state.items() if k not in SLIM_DROPS}, tmp)
    tmp.replace(path)
    after = last_epoch_state(run)
    assert before.keys() == after.keys() and all(
        torch.equal(before["model"][k], after["model"][k]) for k in before["model"]
    )  # type: ignore[index]
    print(f"{path}: {path.stat().st_size:,} bytes, the weight average of epoch {epochs} kept")


@dataclass(frozen=True)
class Judged:
    """One recipe's held-out predictions over every fold."""

    correct: np.ndarray
    labels: np.ndarray
    preds: np.ndarray
    probs: np.ndarray
    actors: np.ndarray
    folds: np.ndarray
    classes: tuple[str, ...]


TTA_SUFFIX = "@"
"""``RUNS@crops``: the runs' networks judge with that test-time augmentation (default ``none``)."""


def crop_mean(rec: VoiceRecognizer, x: np.ndarray, crop_s: float, hop_s: float) -> np.ndarray:
    """Mean probabilities of the ``crop_s`` crops of ``x`` (every ``hop_s``, the last ending with it;
    ``x`` itself when it is no longer than a crop). ``x``: mono samples at the model's rate."""
    rate = rec.features.sample_rate
    parts = crops_of(x, rate, crop_s, hop_s) if len(x) > crop_s * rate else [x]
    return np.asarray(rec.run(np.concatenate([rec.prepare(c, rate) for c in parts])).mean(axis=0))


def _whole(rec: VoiceRecognizer, x: np.ndarray) -> np.ndarray:
    return np.asarray(rec.run(rec.prepare(x, rec.features.sample_rate))[0])


def _whole_and_crops(rec: VoiceRecognizer, x: np.ndarray, hop_s: float = CROP_HOP_S) -> np.ndarray:
    """The library's ``tta="crops"`` with crops every ``hop_s``: the whole and its 2 s crops' mean."""
    return (_whole(rec, x) + crop_mean(rec, x, CROP_S, hop_s)) / 2


def _crops_only(rec: VoiceRecognizer, x: np.ndarray) -> np.ndarray:
    return crop_mean(rec, x, CROP_S, CROP_HOP_S)


def _crops_multi(rec: VoiceRecognizer, x: np.ndarray) -> np.ndarray:
    return (_whole(rec, x) + np.mean([crop_mean(rec, x, c, CROP_HOP_S) for c in (2.0, 2.5, 3.0)], axis=0)) / 2


def _crops_dense(rec: VoiceRecognizer, x: np.ndarray) -> np.ndarray:
    return _whole_and_crops(rec, x, CROP_HOP_S / 2)


def _crops_speeds(rec: VoiceRecognizer, x: np.ndarray) -> np.ndarray:
    return np.asarray(np.mean([_whole_and_crops(rec, v) for v in (x, sped_up(x, 0.95), sped_up(x, 1.05))], axis=0))


VARIANTS: dict[str, Callable[[VoiceRecognizer, np.ndarray], np.ndarray]] = {
    "crops-only": _crops_only,
    "crops-multi": _crops_multi,
    "crops-dense": _crops_dense,
    "crops-speeds": _crops_speeds,
}
"""Test-time augmentations the library does not have, judged here: ``crops-only`` the mean of the
2 s crops (every 0.5 s) without the whole; ``crops-multi`` the whole and the mean of the crop means
of 2, 2.5 and 3 s; ``crops-dense`` the whole and 2 s crops every 0.25 s; ``crops-speeds`` the
library's crops averaged over the utterance and copies of it played 0.95 and 1.05 times as fast."""


def judge(folds: Path, pattern: str) -> Judged:
    correct: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    preds: list[np.ndarray] = []
    probs: list[np.ndarray] = []
    actors: list[int] = []
    fold_of: list[int] = []
    classes: tuple[str, ...] = ()
    pattern, _, tta = pattern.partition(TTA_SUFFIX)
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(len(FOLDS)):
            run = Path(pattern.format(k=k))
            ckpt, onnx = Path(tmp) / f"{k}.pt", Path(tmp) / f"{k}.onnx"
            torch.save(last_epoch_state(run), ckpt)
            export_speech_checkpoint(str(ckpt), onnx)
            rec = VoiceRecognizer(onnx, tta="none" if tta in VARIANTS else tta or "none", threads=2)
            classes = rec.labels
            rate = rec.features.sample_rate
            ds = load_audio_split(folds / f"fold{k}", "val", sample_rate=rate, classes=rec.labels)
            if tta in VARIANTS:
                if rec.uses_profile:
                    sys.exit(f"{run}: @{tta} is for networks without speaker profiles")
                prob = np.stack([VARIANTS[tta](rec, to_mono(w)) for w in ds.waveforms])
            else:
                prob = split_probabilities(rec, ds)
            p = prob.argmax(axis=1)
            names = [Path(path).name for path in ds.paths]
            actors.extend(int(RAVDESS_FILE.fullmatch(n).group(7)) for n in names)  # type: ignore[union-attr]
            correct.append(p == ds.labels)
            labels.append(ds.labels)
            preds.append(p)
            probs.append(prob)
            fold_of.extend([k] * len(p))
    return Judged(
        np.concatenate(correct),
        np.concatenate(labels),
        np.concatenate(preds),
        np.concatenate(probs),
        np.array(actors),
        np.array(fold_of),
        classes,
    )


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided p of ``wins`` against ``losses`` if either were as likely (ties dropped)."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail: float = sum(math.comb(n, i) for i in range(min(wins, losses) + 1)) / 2**n
    return min(1.0, 2 * tail)


def averaged(parts: list[Judged]) -> Judged:
    """Several recipes' networks as one model per fold: the mean of their probabilities."""
    probs = np.mean([j.probs for j in parts], axis=0)
    preds = probs.argmax(axis=1)
    one = parts[0]
    return Judged(preds == one.labels, one.labels, preds, probs, one.actors, one.folds, one.classes)


def build_teachers(runs: str, out: str, tta: str) -> None:
    """For each fold ``k``: the last-epoch weight averages of ``runs`` (``+``-separated patterns with
    ``{k}``) as one speech file at ``out`` (with ``{k}``), the mean of their probabilities, asking for
    ``tta``. Each fold's networks heard only that fold's training actors, so the file may teach a
    network of that fold (``emolens train --data runs/folds/foldK --teacher ...``) without its
    held-out actors reaching the student."""
    import onnx

    from emolens.runtime.metadata import PREFIX, set_props

    for k in range(len(FOLDS)):
        target = Path(out.format(k=k))
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            ckpts: list[str | Path] = []
            for i, pattern in enumerate(runs.split("+")):
                ckpt = Path(tmp) / f"{i}.pt"
                torch.save(last_epoch_state(Path(pattern.format(k=k))), ckpt)
                ckpts.append(ckpt)
            raw = Path(tmp) / "raw.onnx"
            export_speech_checkpoint(ckpts if len(ckpts) > 1 else ckpts[0], raw)
            proto = onnx.load(str(raw))
            props = {p.key: p.value for p in proto.metadata_props}
            props[PREFIX + "tta"] = tta
            set_props(proto, props)
            write_bytes_atomic(target, proto.SerializeToString())
        print(f"{target}: {len(ckpts)} networks of fold {k}, tta {tta}")


def score(folds: Path, arms: list[tuple[str, str]], compare: list[tuple[str, str]] | None = None) -> None:
    """Print each arm's figures and the paired test of each (B, A) in ``compare`` (default: the second arm
    against the first)."""
    runs: dict[str, Judged] = {}  # each run pattern judged once, however many arms name it
    for _, patterns in arms:
        for pattern in patterns.split("+"):
            if pattern not in runs:
                runs[pattern] = judge(folds, pattern)
    judged = {name: averaged([runs[p] for p in patterns.split("+")]) for name, patterns in arms}
    first = next(iter(judged.values()))
    for j in judged.values():
        if not np.array_equal(j.labels, first.labels) or not np.array_equal(j.actors, first.actors):
            sys.exit("the recipes were judged on different utterances")
    rows = dict(judged)
    if len(arms) >= 2:
        (a_name, a), (b_name, b) = list(judged.items())[:2]
        rows[f"{a_name}+{b_name} (mean)"] = averaged([a, b])
    print("recipe | utterances right | accuracy | macro-F1 | " + " | ".join(f"fold {k}" for k in range(len(FOLDS))))
    for name, j in rows.items():
        m = compute_metrics(j.labels, j.preds, labels=j.classes)
        per_fold = " | ".join(f"{j.correct[j.folds == k].mean():.4f}" for k in range(len(FOLDS)))
        print(
            f"{name} | {int(j.correct.sum())} of {j.correct.size} | {j.correct.mean():.4f} | {m.macro_f1:.4f} | {per_fold}"
        )
    print("\nper actor: " + " ".join(f"{a:02d}" for a in np.unique(first.actors)))
    for name, j in rows.items():
        print(f"{name}: " + " ".join(f"{j.correct[j.actors == a].mean():.2f}" for a in np.unique(first.actors)))
    pairs = compare if compare is not None else ([(b_name, a_name)] if len(arms) >= 2 else [])
    if pairs:
        print()
    for b_name, a_name in pairs:
        a, b = judged[a_name], judged[b_name]
        wins, losses = int((b.correct & ~a.correct).sum()), int((a.correct & ~b.correct).sum())
        diff = int(b.correct.sum()) - int(a.correct.sum())
        p = sign_test(wins, losses)
        print(
            f"{b_name} against {a_name}: {diff:+d} utterances ({diff / a.correct.size * 100:+.2f} points); "
            f"{wins} right only by {b_name}, {losses} only by {a_name}; sign test p {'< 0.0001' if p < 0.0001 else f'= {p:.4f}'}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    mk = sub.add_parser("make", help="write the fold folders")
    mk.add_argument("--data", type=Path, required=True, help="the RAVDESS folder (Actor_XX/)")
    mk.add_argument("--out", type=Path, required=True)
    sc = sub.add_parser("score", help="judge recipes on their held-out folds")
    sc.add_argument("--folds", type=Path, required=True, help="what `make` wrote")
    sc.add_argument(
        "--arm",
        action="append",
        required=True,
        metavar="NAME=RUNS",
        help="a recipe: its runs' folders, {k} the fold; RUNS+RUNS: several runs per fold as one model "
        "(their mean); RUNS@crops: judged with crop test-time augmentation",
    )
    sc.add_argument(
        "--compare",
        action="append",
        metavar="B:A",
        help="the paired test of arm B against arm A (repeat for more pairs; default: the second arm against the first)",
    )
    te = sub.add_parser("teacher", help="each fold's networks of a recipe as one file, to distil from")
    te.add_argument("--runs", required=True, help="RUNS[+RUNS...], {k} the fold, as in --arm")
    te.add_argument("--out", required=True, help="the file per fold, with {k}")
    te.add_argument("--tta", default="crops", choices=SPEECH_TTA_MODES, help="the test-time augmentation it asks for")
    sl = sub.add_parser("slim", help="keep only the weight average in finished runs' last.pt (for checkpoints/)")
    sl.add_argument("runs", type=Path, nargs="+")
    args = ap.parse_args()
    if args.command == "make":
        make_folds(args.data, args.out)
    elif args.command == "teacher":
        if any("{k}" not in r for r in [*args.runs.split("+"), args.out]):
            sys.exit("--runs RUNS[+RUNS...] and --out FILE, each with {k} where the fold goes")
        build_teachers(args.runs, args.out, args.tta)
    elif args.command == "slim":
        for run in args.runs:
            slim_run(run)
    else:
        parts = [a.split("=", 1) for a in args.arm]
        if any(len(a) != 2 or any("{k}" not in r for r in a[1].split("+")) for a in parts):
            sys.exit("--arm NAME=RUNS[+RUNS...], with {k} in each RUNS where the fold goes")
        ttas = {r.partition(TTA_SUFFIX)[2] or "none" for a in parts for r in a[1].split("+")}
        known = set(SPEECH_TTA_MODES) | set(VARIANTS)
        if not ttas <= known:
            sys.exit(f"RUNS@TTA: TTA is one of {', '.join(sorted(known))}, not {', '.join(sorted(ttas - known))}")
        names = {name for name, _ in parts}
        compare: list[tuple[str, str]] | None = None
        if args.compare:
            compare = [(c.partition(":")[0], c.partition(":")[2]) for c in args.compare]
            if any(not {b, a} <= names for b, a in compare):
                sys.exit(f"--compare B:A, B and A among the arms ({', '.join(sorted(names))})")
        score(args.folds, [(name, runs) for name, runs in parts], compare)


if __name__ == "__main__":
    main()
