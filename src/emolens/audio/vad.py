"""Is there speech in a stretch of sound? A small, explainable voice-activity detector in NumPy.

Three cues per 10 ms frame, computed on the sound *before* loudness normalisation:

* **level**: RMS in dB re full scale; frames under ``silence_dbfs`` are silent;
* **harmonicity**: the highest normalised autocorrelation at a lag of a voice's pitch
  (70-400 Hz), corrected for the window (Boersma 1993, as Praat): about 1 for a voiced vowel,
  near 0 for noise and hiss;
* **spectral flatness** (100 Hz-4 kHz) and **zero-crossing rate**: reported, for plots and tuning.

A window is ``silence`` when too few of its frames are above ``silence_dbfs``; otherwise its speech
score is the product of two cues of running speech, both taken over its loud frames (within
25 dB of its loudest ones): enough voiced frames (vowels), and a level that moves by syllables
(the standard deviation of those frames' levels, in dB; the quieter frames are left out, so that
a sound starting after silence does not count as moving). It is ``speech`` when
that score reaches one half, else ``non-speech``.

What this cannot do, honestly: it knows no language, only the sound of talking. Singing and
rap, and music with a solo voice, look like speech and get emotions; so can an animal's calls.
Steady music (sustained chords), tones, hum, fans and broadband noise come out as non-speech,
but strongly rhythmic melodic music with gaps can pass as speech. Speech under loud noise or
music may be called non-speech. The silence level is absolute: a very quiet recording may be
silence throughout (normalise it first), a loud noisy room is non-speech rather than silence.
It is a gate in front of an emotion model trained on clean acted speech, not a speech detector
to rely on alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emolens.audio.labels import NON_SPEECH, SILENCE

SPEECH = "speech"
FRAME_S = 0.04
"""Analysis frame: long enough for two periods of a 70 Hz voice."""
HOP_S = 0.01
F0_MIN, F0_MAX = 70.0, 400.0


@dataclass(frozen=True)
class VadConfig:
    """Thresholds of the detector (see the module docstring)."""

    silence_dbfs: float = -60.0
    """Frames quieter than this (RMS, dB re full scale) are silent."""
    loud_range_db: float = 25.0
    """The frames judged for voicing and modulation: those within this range of the loud ones (the
    95th percentile of the audible frames' levels), and not more than 15 dB under ``silence_dbfs``."""
    min_active: float = 0.1
    """A window with a smaller share of loud-enough frames is silence."""
    voicing: float = 0.45
    """Harmonicity above which a frame is voiced."""
    voiced_for_speech: float = 0.2
    """Share of a window's loud frames that must be voiced for full marks on that cue."""
    modulation_db: tuple[float, float] = (1.5, 4.5)
    """Standard deviation of the loud frames' levels (dB): no marks at the first, full marks at the second."""


@dataclass(frozen=True)
class FrameFeatures:
    """Per-frame cues, one entry every :data:`HOP_S` seconds (frame ``i`` starts at ``i * HOP_S``)."""

    level_db: np.ndarray
    harmonicity: np.ndarray
    flatness: np.ndarray
    zcr: np.ndarray

    def __len__(self) -> int:
        return len(self.level_db)

    def slice(self, start_s: float, end_s: float) -> FrameFeatures:
        a = int(round(start_s / HOP_S))
        b = max(a + 1, int(round(end_s / HOP_S)))
        return FrameFeatures(self.level_db[a:b], self.harmonicity[a:b], self.flatness[a:b], self.zcr[a:b])


@dataclass(frozen=True)
class VadResult:
    """The verdict on one stretch of sound: ``label`` (``speech``, ``silence`` or ``non-speech``),
    ``speech`` score in [0, 1] and the cues it came from."""

    label: str
    speech: float
    active: float
    voiced: float
    modulation_db: float
    level_db: float
    flatness: float

    def as_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "speech": round(self.speech, 4),
            "active": round(self.active, 4),
            "voiced": round(self.voiced, 4),
            "modulation_db": round(self.modulation_db, 2),
            "level_db": round(self.level_db, 2),
            "flatness": round(self.flatness, 4),
        }


def _frames(x: np.ndarray, frame: int, hop: int) -> np.ndarray:
    n = max(1, int(np.ceil(len(x) / hop)))
    padded = np.pad(x, (0, max(0, (n - 1) * hop + frame - len(x))))
    return np.lib.stride_tricks.sliding_window_view(padded, frame)[::hop][:n]


def frame_features(waveform: np.ndarray, sample_rate: int, *, chunk: int = 2048) -> FrameFeatures:
    """The cues of every 10 ms frame of a mono float waveform (any rate; 16 kHz is plenty)."""
    x = np.asarray(waveform, dtype=np.float32)
    frame, hop = int(round(FRAME_S * sample_rate)), int(round(HOP_S * sample_rate))
    frames = _frames(x, frame, hop)
    nfft = 1 << int(np.ceil(np.log2(2 * frame)))
    window = np.hanning(frame + 2)[1:-1].astype(np.float32)
    rw = np.fft.irfft(np.abs(np.fft.rfft(window, nfft)) ** 2, nfft)[:frame]
    lo, hi = int(sample_rate / F0_MAX), min(int(np.ceil(sample_rate / F0_MIN)), frame - 1)
    correction = (rw[lo : hi + 1] / rw[0]).astype(np.float32)
    freqs = np.fft.rfftfreq(nfft, 1 / sample_rate)
    band = (freqs >= 100) & (freqs <= min(4000, sample_rate / 2))
    n = len(frames)
    level, harm, flat, zcr = (np.empty(n, np.float32) for _ in range(4))
    for s in range(0, n, chunk):
        f = frames[s : s + chunk]
        level[s : s + chunk] = 10 * np.log10(np.maximum(np.mean(np.square(f, dtype=np.float64), axis=1), 1e-12))
        signs = np.signbit(f)
        zcr[s : s + chunk] = np.mean(signs[:, 1:] != signs[:, :-1], axis=1)
        power = np.abs(np.fft.rfft((f - f.mean(axis=1, keepdims=True)) * window, nfft, axis=1)) ** 2
        r = np.fft.irfft(power, nfft, axis=1)[:, : hi + 1]
        r0 = r[:, :1]
        nacf = np.divide(r[:, lo:], r0, out=np.zeros_like(r[:, lo:]), where=r0 > 1e-10) / correction
        harm[s : s + chunk] = np.clip(nacf.max(axis=1), 0.0, 1.0)
        p = power[:, band] + 1e-12
        flat[s : s + chunk] = np.exp(np.mean(np.log(p), axis=1)) / np.mean(p, axis=1)
    return FrameFeatures(level, harm, flat, zcr)


def classify(ff: FrameFeatures, cfg: VadConfig = VadConfig()) -> VadResult:
    """The verdict on a stretch of frames (see the module docstring)."""
    if len(ff) == 0:
        return VadResult(SILENCE, 0.0, 0.0, 0.0, 0.0, -120.0, 0.0)
    audible = ff.level_db >= cfg.silence_dbfs
    active = float(audible.mean())
    level = float(10 * np.log10(np.mean(10 ** (ff.level_db.astype(np.float64) / 10))))
    if active < cfg.min_active or audible.sum() < 3:
        return VadResult(SILENCE, 0.0, active, 0.0, 0.0, level, 0.0)
    peak = float(np.percentile(ff.level_db[audible], 95))
    loud = ff.level_db >= max(peak - cfg.loud_range_db, cfg.silence_dbfs - 15)
    flatness = float(ff.flatness[loud].mean())
    voiced = float((ff.harmonicity[loud] >= cfg.voicing).mean())
    modulation = float(ff.level_db[loud].std())
    lo, hi = cfg.modulation_db
    score_voiced = min(1.0, voiced / cfg.voiced_for_speech)
    score_mod = float(np.clip((modulation - lo) / (hi - lo), 0.0, 1.0))
    speech = score_voiced * score_mod
    return VadResult(SPEECH if speech >= 0.5 else NON_SPEECH, speech, active, voiced, modulation, level, flatness)


def detect(waveform: np.ndarray, sample_rate: int, cfg: VadConfig = VadConfig()) -> VadResult:
    """The verdict on a whole mono waveform."""
    return classify(frame_features(waveform, sample_rate), cfg)
