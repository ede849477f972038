"""How differently speech networks err, on the selection speakers only (RAVDESS actors 19-20).

An ensemble gains where its members make different mistakes. For each network (a speech checkpoint,
exported to a temporary file) this prints its accuracy judged whole in one pass, and for each pair
the share of utterances where both are wrong among those where either is (0: never wrong together,
1: always wrong together), with the mean over pairs of the same front and of different fronts.

    python benchmarks/speech_diversity.py --data ../shared/data/ravdess-speech-16k \
        checkpoints/speech-e200/best.pt checkpoints/speech-e200-s1/best.pt checkpoints/speech-adv/best.pt \
        checkpoints/speech-1d-s0/best.pt checkpoints/speech-1d-s1/best.pt checkpoints/speech-1d-s2/best.pt

Reads nothing of actors 21-24.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

import numpy as np

from emolens.audio.recognizer import VoiceRecognizer
from emolens.data.audio import load_audio_split
from emolens.export.speech import export_speech_checkpoint


def wrong_sets(members: list[str], data: str) -> tuple[list[str], np.ndarray]:
    """Each member's architecture and a (members, utterances) array: True where it is wrong."""
    archs, wrong = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, member in enumerate(members):
            path = Path(tmp) / f"m{i}.onnx"
            export_speech_checkpoint(member, path)
            rec = VoiceRecognizer(path, tta="none", threads=2)
            ds = load_audio_split(data, "val", classes=rec.labels)
            pred = np.array([int(rec.predict(w, ds.sample_rate).argmax()) for w in ds.waveforms])
            archs.append(rec.meta.arch)
            wrong.append(pred != ds.labels)
    return archs, np.array(wrong)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("members", nargs="+", help="speech checkpoints (best.pt)")
    ap.add_argument("--data", required=True, help="the RAVDESS folder")
    args = ap.parse_args()
    archs, wrong = wrong_sets(args.members, args.data)
    for member, arch, w in zip(args.members, archs, wrong, strict=True):
        print(f"{member} ({arch}): accuracy {1 - w.mean():.4f} on {w.size} utterances of actors 19-20, whole")
    same, other = [], []
    print("\npair | both wrong / either wrong")
    for i, j in itertools.combinations(range(len(archs)), 2):
        shared = float((wrong[i] & wrong[j]).sum() / max(1, (wrong[i] | wrong[j]).sum()))
        (same if archs[i] == archs[j] else other).append(shared)
        print(f"{i + 1}-{j + 1} ({archs[i]}, {archs[j]}) | {shared:.3f}")
    if same:
        print(f"mean over pairs of the same front: {np.mean(same):.3f} ({len(same)} pairs)")
    if other:
        print(f"mean over pairs of different fronts: {np.mean(other):.3f} ({len(other)} pairs)")


if __name__ == "__main__":
    main()
