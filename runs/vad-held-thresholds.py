"""2026-12-06 (fourth session): how the held cue's threshold was chosen, on ``--seed 0`` sounds (every
10th RAVDESS clip, 8 tunes per instrument, RAVDESS under tunes), with the detector of 50e8ec3: each
column recomputes the verdicts for one held-share threshold from the cues (the ramp in the code does
not matter here). The report on other sounds is ``runs/vad-held.sh`` (``--seed 1``).

    .venv/bin/python runs/vad-held-thresholds.py   # from the repository root
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, "benchmarks")
import vad_music as vm  # noqa: E402

from emolens.audio.decode import decode_audio  # noqa: E402
from emolens.audio.vad import VadResult  # noqa: E402

SR = 16000
THRESHOLDS = (0.4, 0.45, 0.5, 0.55, 0.6)


def is_music(v: VadResult, held_threshold: float | None) -> bool:
    by_pitch = float(np.clip((v.steady - 0.2) / 0.2, 0, 1)) >= 0.5 and v.notes >= 2
    by_held = held_threshold is not None and v.held >= held_threshold and v.onsets >= 2
    return v.label != "silence" and (by_pitch or by_held)


def main() -> None:
    rng = np.random.default_rng(0)
    found: dict[str, list[VadResult]] = defaultdict(list)
    files = sorted(Path("../shared/data/ravdess-speech-16k").glob("Actor_*/*.flac"))[::10]
    for f in files:
        x = decode_audio(f, SR).samples
        found["speech"] += vm.verdicts(x)
        found["speech rev"] += vm.verdicts(vm.room(x, rng.uniform(0.3, 1.0), rng))
    for inst in vm.INSTRUMENTS:
        for _ in range(8):
            x = vm.tune(8.0, inst, rng)
            found[inst] += vm.verdicts(x)
            found[inst + " rev"] += vm.verdicts(vm.room(x, rng.uniform(0.3, 1.5), rng))
    for f in files:
        x = decode_audio(f, SR).samples
        music = vm.tune(len(x) / SR + 0.1, str(rng.choice(vm.INSTRUMENTS)), rng)[: len(x)]
        gain = np.sqrt(np.mean(np.square(x)) / max(float(np.mean(np.square(music))), 1e-12))
        for db in (-20, -10, 0, 6):
            found[f"mix {db:+d}"] += vm.verdicts((x + music * gain * 10 ** (db / 20)).astype(np.float32))
    head = " ".join(f"{c:>6.2f}" for c in THRESHOLDS)
    sys.stdout.write(f"{'kind':14s} {'pitch':>6s} {head}  (share of windows music)\n")
    for kind, vs in found.items():
        row = [sum(is_music(v, c) for v in vs) / len(vs) for c in (None, *THRESHOLDS)]
        sys.stdout.write(f"{kind:14s} " + " ".join(f"{r:6.3f}" for r in row) + "\n")


if __name__ == "__main__":
    main()
