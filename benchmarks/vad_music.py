"""Speech, music and noise through the voice-activity detector: what share of each comes out as what.

Speech: RAVDESS's clips (all 1,440 by default), as recorded and again in a generated reverberant
room (reverberation time 0.3-1.0 s). Music: tunes generated here (no recordings are available
offline), of six instruments: organ, piano and square-wave synth (harmonic series held or dying
away), plucked string (Karplus-Strong), and violin and flute with vibrato; with chords and drums
now and then, dry and reverberant. Speech over music: every ``--mix-every``-th clip with a tune of a
random instrument under it, the tune's level 20, 10 and 0 dB under the speech's and 6 dB over it.
Noise: white, pink and brown. Every sound is judged in windows of 2 s every 0.5 s, as ``emolens
audio`` does.

    python benchmarks/vad_music.py [--shared ../shared] [--every 1] [--mix-every 6] [--tunes 30] [--json out.json]

It prints the share of each label per kind of sound and the percentiles of the two music cues (see
``emolens.audio.vad``): the steady-pitch share and the held-partial share.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from emolens.audio.decode import decode_audio
from emolens.audio.vad import VadResult, classify, frame_features

SR = 16000
SCALE = (0, 2, 4, 5, 7, 9, 11, 12)
INSTRUMENTS = ("organ", "piano", "square", "pluck", "violin", "flute")


def room(x: np.ndarray, rt60: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(rt60 * SR)) / SR
    h = rng.normal(0, 1, len(t)) * np.exp(-6.9 * t / rt60)
    h[0] = 1.0
    y = np.convolve(x, h / np.sqrt(np.sum(h**2)))[: len(x)]
    return (y * np.abs(x).max() / max(np.abs(y).max(), 1e-9)).astype(np.float32)


def plucked(f: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Karplus-Strong: a burst of noise in a delay line of one period, averaged as it loops."""
    period = max(2, int(round(SR / f)))
    line = rng.uniform(-1, 1, period)
    out = np.empty(n)
    for start in range(0, n, period):
        m = min(period, n - start)
        out[start : start + m] = line[:m]
        line = 0.996 * 0.5 * (line + np.roll(line, -1))
    return 0.5 * out


def note(f: float, seconds: float, instrument: str, rng: np.random.Generator) -> np.ndarray:
    n = int(seconds * SR)
    t = np.arange(n) / SR
    if instrument == "pluck":
        return plucked(f, n, rng)
    bend = np.zeros(n)
    if instrument in ("violin", "flute"):
        bend = rng.uniform(0.1, 0.5) * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t)  # vibrato, semitones
    phase = 2 * np.pi * np.cumsum(f * 2 ** (bend / 12)) / SR
    partials = {
        "organ": [1, 0.5, 0.3, 0.2, 0.1],
        "piano": [1, 0.6, 0.4, 0.25, 0.15, 0.1],
        "square": [1 / k if k % 2 else 0 for k in range(1, 10)],
        "violin": [1 / k for k in range(1, 12)],
        "flute": [1, 0.2, 0.05],
    }[instrument]
    attack = {"organ": 0.02, "piano": 0.005, "square": 0.01, "violin": 0.08, "flute": 0.05}[instrument]
    env = np.minimum(1, t / attack) * np.clip((seconds - t) / 0.03, 0, 1)
    if instrument == "piano":
        env = env * np.exp(-t * rng.uniform(2, 5))
    elif instrument == "square":
        env = env * np.exp(-t)
    wave = sum(a * np.sin(k * phase) for k, a in enumerate(partials, 1) if k * f < SR / 2)
    return np.asarray(wave * env / sum(partials))


def tune(seconds: float, instrument: str, rng: np.random.Generator) -> np.ndarray:
    beat = 60 / rng.uniform(60, 170)
    root = rng.uniform(110, 330)
    chords, drums, legato = rng.random() < 0.4, rng.random() < 0.4, rng.uniform(0.8, 1.0)
    out = np.zeros(int((seconds + 2) * SR))
    t = 0.0
    while t < seconds:
        d = beat * rng.choice([0.5, 1, 1, 2])
        f = root * 2 ** (rng.choice(SCALE) / 12)
        x = note(f, d * legato, instrument, rng)
        if chords:
            x = x + 0.7 * note(f * 2 ** (4 / 12), d * legato, instrument, rng)
            x = x + 0.6 * note(f * 2 ** (7 / 12), d * legato, instrument, rng)
        i = int(t * SR)
        out[i : i + len(x)] += x
        t += d
    k = 0.0
    while drums and k < seconds:
        i, m = int(k * SR), int(0.1 * SR)
        tt = np.arange(m) / SR
        out[i : i + m] += 0.8 * np.sin(2 * np.pi * np.cumsum(150 * np.exp(-tt * 30) + 40) / SR) * np.exp(-tt * 25)
        j, h = int((k + beat / 2) * SR), int(0.05 * SR)
        out[j : j + h] += rng.normal(0, 0.3, h) * np.exp(-np.arange(h) / SR * 80)
        k += beat
    x = out[: int(seconds * SR)]
    return (0.3 * x / max(np.abs(x).max(), 1e-9)).astype(np.float32)


def coloured_noise(seconds: float, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise whose power falls as 1/f**exponent (0 white, 1 pink, 2 brown)."""
    n = int(seconds * SR)
    spec = np.fft.rfft(rng.normal(0, 1, n))
    f = np.maximum(np.fft.rfftfreq(n, 1 / SR), 1.0)
    x = np.fft.irfft(spec / f ** (exponent / 2), n)
    return (0.1 * x / np.abs(x).max()).astype(np.float32)


def verdicts(x: np.ndarray, window_s: float = 2.0, hop_s: float = 0.5) -> list[VadResult]:
    ff = frame_features(x, SR)
    duration = len(x) / SR
    starts = np.arange(0.0, max(duration - window_s, 0.0) + 1e-9, hop_s)
    return [classify(ff.slice(a, min(a + window_s, duration))) for a in starts]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path("../shared"))
    ap.add_argument("--every", type=int, default=1, help="take every n-th RAVDESS clip")
    ap.add_argument("--mix-every", type=int, default=6, help="take every n-th clip for speech over music")
    ap.add_argument("--tunes", type=int, default=30, help="tunes per instrument (each dry and reverberant)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    found: dict[str, list[VadResult]] = defaultdict(list)
    files = sorted((args.shared / "data" / "ravdess-speech-16k").glob("Actor_*/*.flac"))[:: args.every]
    if not files:
        print(f"no RAVDESS clips under {args.shared}", file=sys.stderr)
        return 1
    for f in files:
        x = decode_audio(f, SR).samples
        found["speech"] += verdicts(x)
        found["speech, reverberant"] += verdicts(room(x, rng.uniform(0.3, 1.0), rng))
    for instrument in INSTRUMENTS:
        for _ in range(args.tunes):
            x = tune(8.0, instrument, rng)
            found[f"{instrument}"] += verdicts(x)
            found[f"{instrument}, reverberant"] += verdicts(room(x, rng.uniform(0.3, 1.5), rng))
    for f in sorted((args.shared / "data" / "ravdess-speech-16k").glob("Actor_*/*.flac"))[:: args.mix_every]:
        x = decode_audio(f, SR).samples
        music = tune(len(x) / SR + 0.1, str(rng.choice(INSTRUMENTS)), rng)[: len(x)]
        gain = np.sqrt(np.mean(np.square(x)) / max(float(np.mean(np.square(music))), 1e-12))
        for db in (-20, -10, 0, 6):
            found[f"speech, music {db:+d} dB"] += verdicts((x + music * gain * 10 ** (db / 20)).astype(np.float32))
    for name, exponent in (("white noise", 0.0), ("pink noise", 1.0), ("brown noise", 2.0)):
        for _ in range(5):
            found[name] += verdicts(coloured_noise(8.0, exponent, rng))
    labels = ("speech", "music", "non-speech", "silence")
    report: dict[str, object] = {
        "clips": len(files),
        "mix_every": args.mix_every,
        "tunes_per_instrument": args.tunes,
        "kinds": {},
    }
    print(
        f"{'sound':26s} {'windows':>8s} "
        + " ".join(f"{lab:>10s}" for lab in labels)
        + "   steady share p50 p99 max   held share p50 p99 max"
    )
    for name, vs in found.items():
        counts = Counter(v.label for v in vs)
        steady = np.array([getattr(v, "steady", 0.0) for v in vs if v.label != "silence"] or [0.0])
        held = np.array([getattr(v, "held", 0.0) for v in vs if v.label != "silence"] or [0.0])
        pct = np.percentile(steady, [50, 99, 100])
        pct_held = np.percentile(held, [50, 99, 100])
        row = {lab: counts[lab] / len(vs) for lab in labels}
        print(
            f"{name:26s} {len(vs):8d} "
            + " ".join(f"{row[lab]:10.4f}" for lab in labels)
            + f"   {pct[0]:.3f} {pct[1]:.3f} {pct[2]:.3f}"
            + f"                  {pct_held[0]:.3f} {pct_held[1]:.3f} {pct_held[2]:.3f}"
        )
        kinds = report["kinds"]
        assert isinstance(kinds, dict)
        kinds[name] = {
            "windows": len(vs),
            "counts": {lab: counts[lab] for lab in labels},
            "steady_p50_p99_max": [round(float(p), 4) for p in pct],
            "held_p50_p99_max": [round(float(p), 4) for p in pct_held],
        }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
