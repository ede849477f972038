"""Is there speech in a stretch of sound? A small, explainable voice-activity detector in NumPy.

The cues of each 10 ms frame, computed on the sound *before* loudness normalisation:

* **level**: RMS in dB re full scale; frames under ``silence_dbfs`` are silent;
* **harmonicity**: the highest peak of the normalised autocorrelation at a lag of a voice's pitch
  (70-400 Hz), corrected for the window (Boersma 1993, as Praat): about 1 for a voiced vowel,
  near 0 for noise and hiss, 0 for rumble whose autocorrelation only falls with the lag;
* **pitch**: the shortest lag whose autocorrelation peak comes within 0.1 of the highest (so a
  tone is not heard an octave low), refined by a parabola through its neighbours;
* **spectral flatness** (100 Hz-4 kHz) and **zero-crossing rate**: reported, for plots and tuning.

A window is ``silence`` when too few of its frames are above ``silence_dbfs``; otherwise its speech
score is the product of two cues of running speech, both taken over its loud frames (within
25 dB of its loudest ones): enough voiced frames (vowels), and a level that moves by syllables
(the standard deviation of those frames' levels, in dB; the quieter frames are left out, so that
a sound starting after silence does not count as moving). It is ``speech`` when
that score reaches one half, else ``non-speech``.

Whatever that verdict, a window that is not silence is ``music`` when its pitch holds still like
notes: a voiced frame is *steady* when the frames around it (``steady_s``, 0.21 s) are all voiced
and their pitch spans at most ``steady_tol_st`` (0.3 semitone), or, for a note with vibrato, when
its pitch averaged over a vibrato cycle (``vibrato_s``, 0.2 s) holds so, swinging at most
``vibrato_depth_st`` (1 semitone) from its mean; a speaking voice glides and seldom holds a pitch
that long, a played note holds it for its length. The music score rises from no marks
to full marks as the share of the window's voiced frames that are steady goes from 0.2 to 0.4; a
window is music when that score reaches one half and it holds at least two steady stretches (notes;
one steady pitch throughout is a tone or a hum, non-speech).

The pitch is the loudest voice's, so an accompaniment under a voice escapes that cue. A window is
also ``music`` when *held partials* (:mod:`emolens.audio.partials`: spectral peaks that keep their
frequency within 1/4 semitone for 0.3 s, the horizontal lines of instruments in a spectrogram) carry
much of its sound: the held score rises from no marks to full marks as their share of the power
(150 Hz-4 kHz) of the window's loud frames goes from 0.4 to 0.6 (``music_held``), and the window
is music when that score reaches one half and held partials begin in it at least twice (new notes or
chords; one chord, tone or hum held throughout is not music). Music well over a voice tends to be
music; music at the voice's level or under it mostly stays speech and gets the voice's emotion.

Measured by ``benchmarks/vad_music.py --seed 1`` (windows of 2 s every 0.5 s; the thresholds of
the held cue were chosen on a smaller run with other sounds, ``--seed 0``): of RAVDESS's 1,440
clips, no window is music; of the same clips in generated reverberant rooms, 45 of 5,676 windows
(0.79%; 0.26% by the pitch cue alone). Of generated tunes, 91-98% of the windows of organ, piano
and synth are music, dry or reverberant, 50-53% of plucked string, 22-41% of violin and 32-34% of
flute with vibrato; the rest is mostly taken for speech. RAVDESS clips with a tune under them:
0.3% of windows music when the tune is 20 dB under the speech, 5% at the same level, 36% 6 dB
over it.

What this cannot do, honestly: it knows no language, only the sound of talking. Rap and most
singing and music led by a solo voice, violin or flute look like speech and get emotions, unless
an accompaniment louder than the voice holds notes under it; so can an animal's calls. Percussion
alone and notes shorter than about a fifth of a second (with vibrato, about 0.4 s) are not heard as
notes. Tones, hum, fans, rumble and broadband noise come out as non-speech, and so does one chord
held throughout. Speech under loud noise may be called non-speech, and under loud music, music; a
voice over a loud held tone that something interrupts now and then may be called music. The
silence level is absolute: a very quiet recording may be silence throughout (normalise it first), a
loud noisy room is non-speech rather than silence.
It is a gate in front of an emotion model trained on clean acted speech, not a speech detector
to rely on alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from emolens.audio.labels import MUSIC, NON_SPEECH, SILENCE
from emolens.audio.partials import held_partials, onset_events

SPEECH = "speech"
FRAME_S = 0.04
"""Analysis frame: long enough for two periods of a 70 Hz voice."""
HOP_S = 0.01
F0_MIN, F0_MAX = 70.0, 400.0
OCTAVE_MARGIN = 0.1
"""The pitch is the shortest lag whose autocorrelation peak is within this of the highest."""
PROMINENCE = 0.2
"""An autocorrelation peak counts when it stands this far above the lowest value at shorter lags."""


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
    steady_s: float = 0.21
    """A voiced frame is steady when the frames within half of this on each side are voiced and hold the pitch."""
    steady_tol_st: float = 0.3
    """The most the pitch may move (semitones, highest minus lowest) over ``steady_s`` for steady frames."""
    vibrato_s: float = 0.2
    """A note sung or bowed with vibrato is steady when its pitch averaged over this (about one
    vibrato cycle) holds as above, within ``vibrato_depth_st`` of its mean."""
    vibrato_depth_st: float = 1.0
    """The most a note's pitch may swing from its mean (semitones) to count as vibrato."""
    music_steady: tuple[float, float] = (0.2, 0.4)
    """Share of a window's voiced frames that are steady: no music marks at the first, full marks at the second."""
    music_held: tuple[float, float] = (0.4, 0.6)
    """Share of a window's power (loud frames, 150 Hz-4 kHz) in held partials: no music marks at the
    first, full marks at the second."""


@dataclass(frozen=True)
class FrameFeatures:
    """Per-frame cues, one entry every :data:`HOP_S` seconds (frame ``i`` starts at ``i * HOP_S``)."""

    level_db: np.ndarray
    harmonicity: np.ndarray
    flatness: np.ndarray
    zcr: np.ndarray
    pitch_hz: np.ndarray
    """The pitch estimate of each frame (Hz, within 70-400); meaningful where the frame is voiced."""
    held_share: np.ndarray
    """The share of the frame's power (150 Hz-4 kHz) in held partials (:mod:`emolens.audio.partials`)."""
    band_power: np.ndarray
    """The frame's power in that band: the weights of ``held_share`` over a window."""
    partial_onset: np.ndarray
    """Whether a held partial begins at the frame."""

    def __len__(self) -> int:
        return len(self.level_db)

    def slice(self, start_s: float, end_s: float) -> FrameFeatures:
        a = int(round(start_s / HOP_S))
        b = max(a + 1, int(round(end_s / HOP_S)))
        return FrameFeatures(
            self.level_db[a:b],
            self.harmonicity[a:b],
            self.flatness[a:b],
            self.zcr[a:b],
            self.pitch_hz[a:b],
            self.held_share[a:b],
            self.band_power[a:b],
            self.partial_onset[a:b],
        )


@dataclass(frozen=True)
class VadResult:
    """The verdict on one stretch of sound: ``label`` (``speech``, ``music``, ``silence`` or
    ``non-speech``), ``speech`` and ``music`` scores in [0, 1] and the cues they came from."""

    label: str
    speech: float
    active: float
    voiced: float
    modulation_db: float
    level_db: float
    flatness: float
    music: float = 0.0
    steady: float = 0.0
    """The share of the voiced frames that hold a pitch like a note (see the module docstring)."""
    notes: int = 0
    """How many separate steady stretches the window holds."""
    held: float = 0.0
    """The share of the window's power in held partials (see :mod:`emolens.audio.partials`)."""
    onsets: int = 0
    """How many times held partials begin in the window (notes or chords; one chord counts once)."""

    def as_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "speech": round(self.speech, 4),
            "active": round(self.active, 4),
            "voiced": round(self.voiced, 4),
            "modulation_db": round(self.modulation_db, 2),
            "level_db": round(self.level_db, 2),
            "flatness": round(self.flatness, 4),
            "music": round(self.music, 4),
            "steady": round(self.steady, 4),
            "notes": self.notes,
            "held": round(self.held, 4),
            "onsets": self.onsets,
        }


def _frames(x: np.ndarray, frame: int, hop: int) -> np.ndarray:
    n = max(1, int(np.ceil(len(x) / hop)))
    padded = np.pad(x, (0, max(0, (n - 1) * hop + frame - len(x))))
    return np.lib.stride_tricks.sliding_window_view(padded, frame)[::hop][:n]


def frame_features(
    waveform: np.ndarray, sample_rate: int, *, chunk: int = 2048, progress: Callable[[int, int], None] | None = None
) -> FrameFeatures:
    """The cues of every 10 ms frame of a mono float waveform (any rate; 16 kHz is plenty).
    ``progress``, when given, is called with (steps done, steps in all) as the work goes: two steps a
    frame, one for its spectral cues and one for its held partials."""
    x = np.asarray(waveform, dtype=np.float32)
    frame, hop = int(round(FRAME_S * sample_rate)), int(round(HOP_S * sample_rate))
    frames = _frames(x, frame, hop)
    nfft = 1 << int(np.ceil(np.log2(2 * frame)))
    window = np.hanning(frame + 2)[1:-1].astype(np.float32)
    rw = np.fft.irfft(np.abs(np.fft.rfft(window, nfft)) ** 2, nfft)[:frame]
    lo, hi = int(sample_rate / F0_MAX), min(int(np.ceil(sample_rate / F0_MIN)), frame - 2)
    correction = (rw[: hi + 2] / rw[0]).astype(np.float32)  # to one lag beyond the longest judged
    freqs = np.fft.rfftfreq(nfft, 1 / sample_rate)
    band = (freqs >= 100) & (freqs <= min(4000, sample_rate / 2))
    n = len(frames)
    level, harm, flat, zcr, pitch = (np.empty(n, np.float32) for _ in range(5))
    for s in range(0, n, chunk):
        f = frames[s : s + chunk]
        level[s : s + chunk] = 10 * np.log10(np.maximum(np.mean(np.square(f, dtype=np.float64), axis=1), 1e-12))
        signs = np.signbit(f)
        zcr[s : s + chunk] = np.mean(signs[:, 1:] != signs[:, :-1], axis=1)
        power = np.abs(np.fft.rfft((f - f.mean(axis=1, keepdims=True)) * window, nfft, axis=1)) ** 2
        r = np.fft.irfft(power, nfft, axis=1)[:, : hi + 2]
        r0 = r[:, :1]
        nacf = np.divide(r, r0, out=np.zeros_like(r), where=r0 > 1e-10) / correction
        h, lag = _peaks(nacf, lo)
        harm[s : s + chunk] = np.clip(h, 0.0, 1.0)
        pitch[s : s + chunk] = sample_rate / lag
        p = power[:, band] + 1e-12
        flat[s : s + chunk] = np.exp(np.mean(np.log(p), axis=1)) / np.mean(p, axis=1)
        if progress is not None:
            progress(min(n, s + chunk), 2 * n)
    held_progress = None if progress is None else lambda done: progress(n + done, 2 * n)
    held = held_partials(x, sample_rate, n, HOP_S, FRAME_S, held_progress)
    return FrameFeatures(level, harm, flat, zcr, pitch, held.held_share, held.band_power, held.onset)


def _peaks(nacf: np.ndarray, lo: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of window-corrected autocorrelations (one column per lag from 0), the harmonicity
    and the pitch lag (samples) judged over the lags from ``lo`` to the last but one.

    Only *peaks* count: lags whose value no neighbour exceeds, standing at least
    :data:`PROMINENCE` above the lowest value at any shorter lag. A sound whose autocorrelation
    only falls with the lag, with small wiggles (rumble, brown noise), has none and is not voiced
    (harmonicity 0). The harmonicity is the highest peak; the pitch lag, the shortest peak within
    :data:`OCTAVE_MARGIN` of it, refined by a parabola through it and its neighbours."""
    inner = nacf[:, lo:-1]
    peak = (inner >= nacf[:, lo - 1 : -2]) & (inner >= nacf[:, lo + 1 :])
    peak &= inner - np.minimum.accumulate(nacf, axis=1)[:, lo:-1] >= PROMINENCE
    best = np.where(peak, inner, -np.inf).max(axis=1)
    voiced = np.isfinite(best)
    near = peak & (inner >= best[:, None] - OCTAVE_MARGIN)
    k = lo + np.where(voiced, near.argmax(axis=1), 0)
    rows = np.arange(len(k))
    a, b, c = (nacf[rows, k + d].astype(np.float64) for d in (-1, 0, 1))
    curve = a - 2 * b + c
    shift = np.divide(0.5 * (a - c), curve, out=np.zeros_like(curve), where=np.abs(curve) > 1e-9)
    harmonicity = np.where(voiced, best, 0.0)
    lag: np.ndarray = k + np.clip(shift, -0.5, 0.5)
    return harmonicity, lag


def steady_frames(ff: FrameFeatures, cfg: VadConfig = VadConfig()) -> np.ndarray:
    """Which frames are steady: voiced, among voiced neighbours over ``cfg.steady_s`` whose pitch
    spans at most ``cfg.steady_tol_st`` semitones; or, for vibrato, among voiced neighbours over
    ``cfg.steady_s + cfg.vibrato_s`` whose pitch averaged over ``cfg.vibrato_s`` spans at most that,
    within ``cfg.vibrato_depth_st`` of their mean (frames nearer the ends than half of it are not)."""
    n = len(ff)
    half = max(1, int(round(cfg.steady_s / HOP_S / 2)))
    out = np.zeros(n, bool)
    if n < 2 * half + 1:
        return out
    voiced = (ff.harmonicity >= cfg.voicing) & (ff.level_db >= cfg.silence_dbfs)
    semitones = 12 * np.log2(np.maximum(ff.pitch_hz.astype(np.float64), 1.0))
    span = np.lib.stride_tricks.sliding_window_view(semitones, 2 * half + 1)
    around = np.lib.stride_tricks.sliding_window_view(voiced, 2 * half + 1)
    out[half : n - half] = around.all(axis=1) & (span.max(axis=1) - span.min(axis=1) <= cfg.steady_tol_st)
    cycle = max(1, int(round(cfg.vibrato_s / HOP_S)))
    length = cycle + 2 * half
    if n >= length:
        pitch = np.lib.stride_tricks.sliding_window_view(semitones, length)
        sums = np.concatenate([np.zeros((len(pitch), 1)), np.cumsum(pitch, axis=1)], axis=1)
        means = (sums[:, cycle:] - sums[:, :-cycle]) / cycle  # the pitch averaged over each cycle
        swing = np.abs(pitch - pitch.mean(axis=1, keepdims=True)).max(axis=1)
        held = np.lib.stride_tricks.sliding_window_view(voiced, length).all(axis=1)
        held &= (means.max(axis=1) - means.min(axis=1) <= cfg.steady_tol_st) & (swing <= cfg.vibrato_depth_st)
        out[length // 2 : length // 2 + len(held)] |= held
    return out


def _music(ff: FrameFeatures, cfg: VadConfig) -> tuple[float, float, int]:
    """The music score of a stretch of frames, the share of its voiced frames that are steady, and
    how many steady stretches (notes) it holds."""
    steady = steady_frames(ff, cfg)
    voiced = int(((ff.harmonicity >= cfg.voicing) & (ff.level_db >= cfg.silence_dbfs)).sum())
    share = float(steady.sum()) / max(voiced, 1)
    notes = int(np.count_nonzero(np.diff(steady.astype(np.int8), prepend=0) == 1))
    lo, hi = cfg.music_steady
    return float(np.clip((share - lo) / (hi - lo), 0.0, 1.0)), share, notes


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
    by_pitch, steady, notes = _music(ff, cfg)
    weights = ff.band_power[loud].astype(np.float64)
    held = float(np.sum(ff.held_share[loud] * weights) / max(float(weights.sum()), 1e-20))
    onsets = onset_events(ff.partial_onset)
    lo, hi = cfg.music_held
    by_partials = float(np.clip((held - lo) / (hi - lo), 0.0, 1.0))
    is_music = (by_pitch >= 0.5 and notes >= 2) or (by_partials >= 0.5 and onsets >= 2)
    music = max(by_pitch, by_partials)
    label = MUSIC if is_music else SPEECH if speech >= 0.5 else NON_SPEECH
    return VadResult(label, speech, active, voiced, modulation, level, flatness, music, steady, notes, held, onsets)


def detect(waveform: np.ndarray, sample_rate: int, cfg: VadConfig = VadConfig()) -> VadResult:
    """The verdict on a whole mono waveform."""
    return classify(frame_features(waveform, sample_rate), cfg)
