"""Time ``VoiceRecognizer.predict`` on 3 s of speech for several speech models, in turns, in one process.

Each model judges the same 3 s of RAVDESS actor 21 (its file's own test-time augmentation) ``--repeats``
times per turn; the turns alternate between the models so that a busy moment of the machine falls on
all of them alike. Prints each model's median over all its calls.

    python benchmarks/speech_speed.py runs/speech-old.onnx emolens-speech-ravdess --threads 2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from emolens.audio.decode import decode_audio
from emolens.audio.recognizer import VoiceRecognizer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="model files or bundled names")
    ap.add_argument("--data", type=Path, default=Path("../shared/data/ravdess-speech-16k"))
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads (0: one per core)")
    ap.add_argument("--turns", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    files = sorted(args.data.glob("Actor_21/*.flac"))
    if not files:
        raise SystemExit(f"no Actor_21/*.flac under {args.data}")
    x = np.concatenate([decode_audio(f).samples for f in files[:4]])[: 16000 * 3]
    recs = [VoiceRecognizer(m, threads=args.threads) for m in args.models]
    times: list[list[float]] = [[] for _ in recs]
    for rec in recs:
        rec.predict(x, 16000)
    for _ in range(args.turns):
        for rec, t in zip(recs, times, strict=True):
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                rec.predict(x, 16000)
                t.append(time.perf_counter() - t0)
    for model, rec, t in zip(args.models, recs, times, strict=True):
        print(f"{model} ({rec.meta.name}, tta={rec.tta}): predict on 3 s of speech: p50 {np.median(t) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
