"""Crop test-time augmentation for a speech model: judge each utterance by the mean of its crops too.

The speech models are trained on random 2-3 s crops, each normalised on its own. This script scores,
on one split, the whole-utterance judgement (``VoiceRecognizer(tta="none")``) against the mean
probabilities of crops of L seconds (every ``--hop`` s, the last crop ending with the utterance; an
utterance no longer than L is judged whole), and the mean of the two (what ``tta="crops"`` does with
L = 2 s, checked in the last row). Accuracy and expected calibration error (15 bins) of each.
``--speeds A,B ...`` adds, for each set, the mean of ``tta="crops"`` over the utterance and copies of it
played A, B ... times as fast (linear resampling, as the training's speed augmentation does).
Selection is on actors 19-20:

    python benchmarks/speech_crops.py --data ../shared/data/ravdess-speech-16k --split val

``--time-only`` skips the scoring and times ``predict`` on 3 s of speech of the split's first
speaker with ``tta="none"`` and ``tta="crops"`` (median of 30 calls).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from bench_report import finish_benchmark

from emolens.audio.recognizer import CROP_HOP_S, CROP_S, VoiceRecognizer, crops_of
from emolens.data.audio import load_audio_split
from emolens.eval.calibration import expected_calibration_error


def crop_probabilities(vr: VoiceRecognizer, x: np.ndarray, rate: int, crop_s: float, hop_s: float) -> np.ndarray:
    """Mean probabilities of the crops of ``x`` (mono, at the model's rate ``rate``)."""
    return np.asarray(vr.run(np.concatenate([vr.prepare(c, rate) for c in crops_of(x, rate, crop_s, hop_s)])).mean(0))


def sped_up(x: np.ndarray, factor: float) -> np.ndarray:
    """``x`` played ``factor`` times as fast (pitch too), by linear interpolation: ``len / factor`` samples."""
    n = max(1, round(len(x) / factor))
    at = (np.arange(n) + 0.5) * factor - 0.5
    return np.interp(np.clip(at, 0, len(x) - 1), np.arange(len(x)), x).astype(np.float32)


def speed_sets(text: list[str]) -> list[tuple[float, ...]]:
    """``["0.95,1.05", "0.9,1.1"]`` -> ``[(0.95, 1.05), (0.9, 1.1)]``."""
    sets = [tuple(float(v) for v in t.split(",")) for t in text]
    if any(not 0.5 <= f <= 2 for s in sets for f in s):
        raise SystemExit("speech_crops: speeds must lie in [0.5, 2]")
    return sets


def predict_ms(vr: VoiceRecognizer, x: np.ndarray, rate: int, calls: int = 30) -> float:
    """Median milliseconds of ``vr.predict(x, rate)`` over ``calls`` calls (after one to warm up)."""
    vr.predict(x, rate)
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        vr.predict(x, rate)
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="val", choices=("val", "test"))
    ap.add_argument("--model", default=None, help="speech model (default: the bundled default)")
    ap.add_argument("--crops", type=float, nargs="+", default=[2.0, 2.5, 3.0], help="crop lengths in seconds")
    ap.add_argument("--hop", type=float, default=0.5)
    ap.add_argument(
        "--speeds", nargs="*", default=[], metavar="A,B", help="sets of speed factors to average with tta=crops"
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    ap.add_argument("--time-only", action="store_true", help="only time predict on 3 s of speech, both ways")
    args = ap.parse_args(argv)
    vr = VoiceRecognizer(args.model, threads=args.threads, tta="none")
    rate = vr.features.sample_rate
    data = load_audio_split(args.data, args.split, sample_rate=rate, classes=vr.labels)
    if args.time_only:
        x = np.concatenate(data.waveforms[:2])[: 3 * rate]
        for tta in ("none", "crops"):
            ms = predict_ms(VoiceRecognizer(args.model, threads=args.threads, tta=tta), x, rate)
            print(f"{vr.meta.name} tta={tta}: predict on 3 s of speech: p50 {ms:.1f} ms ({args.threads} threads)")
        finish_benchmark("speech_crops", argv, None, {})
        return 0
    whole = np.stack([vr.predict(w, rate) for w in data.waveforms])
    judged: dict[str, np.ndarray] = {"whole": whole}
    for crop_s in args.crops:
        crops = np.stack([crop_probabilities(vr, w, rate, crop_s, args.hop) for w in data.waveforms])
        judged[f"crops {crop_s:g} s"] = crops
        judged[f"whole+crops {crop_s:g} s"] = (whole + crops) / 2
    lib = VoiceRecognizer(args.model, threads=args.threads, tta="crops")
    judged[f"tta=crops ({CROP_S:g} s, hop {CROP_HOP_S:g} s)"] = lib_crops = np.stack(
        [lib.predict(w, rate) for w in data.waveforms]
    )
    for speeds in speed_sets(args.speeds):
        sped = [np.stack([lib.predict(sped_up(w, f), rate) for w in data.waveforms]) for f in speeds]
        judged[f"tta=crops, speeds 1,{','.join(f'{f:g}' for f in speeds)}"] = (lib_crops + sum(sped)) / (
            1 + len(speeds)
        )
    results = {
        name: {
            "accuracy": float(np.mean(p.argmax(1) == data.labels)),
            "ece": expected_calibration_error(p.astype(np.float64), data.labels),
        }
        for name, p in judged.items()
    }
    print(f"{vr.meta.name} on {args.split} ({len(data)} utterances), crops every {args.hop:g} s")
    print(f"  {'judgement':<28} {'accuracy':>8} {'ECE':>6}")
    for name, r in results.items():
        print(f"  {name:<28} {r['accuracy']:8.4f} {r['ece']:6.4f}")
    record = {"model": vr.meta.name, "split": args.split, "hop_s": args.hop, "results": results}
    finish_benchmark("speech_crops", argv, args.json, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
