"""How steady the pitch rows of ``FeatureConfig(pitch=True)`` are on real speech.

Takes every ``--every``-th clip of the training actors (01-18) of a RAVDESS folder (no labels are
read), and prints the share of voiced frames, the share of voiced frames more than ``--jump``
octaves from the median of their 7 neighbours among the voiced frames (octave errors and creaky
voice), and the median spread of the smoothed relative pitch.

    python benchmarks/pitch_track.py --data ../shared/data/ravdess-speech-16k
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from emolens.audio.decode import decode_audio
from emolens.audio.features import VOICED, FeatureConfig, pitch_features, prepare_waveform
from emolens.bench import describe_machine, machine_record
from emolens.data.audio import list_split


def running_median(values: np.ndarray, width: int = 7) -> np.ndarray:
    padded = np.pad(values, width // 2, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, width), axis=1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--every", type=int, default=30)
    ap.add_argument("--jump", type=float, default=0.4)
    args = ap.parse_args(argv)
    cfg = FeatureConfig(pitch=True)
    paths = [path for path, _, _ in list_split(args.data, "train")][:: args.every]
    voiced_share, jumps, spreads = [], [], []
    for path in paths:
        audio = decode_audio(path)
        rows = pitch_features(prepare_waveform(audio.samples, audio.sample_rate, cfg), cfg)
        voiced = rows[0] >= 2 * VOICED - 1
        voiced_share.append(float(voiced.mean()))
        if voiced.sum() < 10:
            continue
        rel = rows[1][voiced]
        smooth = running_median(rel)
        jumps.append(float((np.abs(rel - smooth) > args.jump).mean()))
        spreads.append(float(smooth.std()))
    print(f"{len(paths)} clips of the training actors (every {args.every}th), {len(jumps)} with 10+ voiced frames")
    print(f"voiced frames: {np.mean(voiced_share):.3f}")
    print(f"voiced frames more than {args.jump} octave from their 7-frame median: {np.mean(jumps):.3f}")
    print(f"median spread of the smoothed relative pitch: {np.median(spreads):.3f} octave")
    print(describe_machine(machine_record()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
