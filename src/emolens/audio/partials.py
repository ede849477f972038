"""Held partials: the spectral trace of instruments, which a speaking voice does not leave.

A played or sung note is a set of sinusoids (partials) that keep their frequency for the note's
length; the partials of a speaking voice glide with its pitch from one moment to the next. Under a
voice, an accompaniment shows as horizontal lines in a spectrogram, whatever the voice does.

Per 10 ms frame (aligned with :mod:`emolens.audio.vad`'s frames), from a 64 ms Hann-windowed
spectrum (zero-padded four times) resampled on a grid of 1/8 semitone from 150 Hz to 4 kHz:

* a **peak** is a local maximum of the grid's power that stands ``PROMINENCE_DB`` above the lowest
  value within three spectral bins on either side, within ``RANGE_DB`` of the frame's highest and
  within ``SIDE_LOBE_DB`` of the highest within six bins (side lobes of a gliding partial glide past
  any place one after the other, and would look held);
* a peak is **held** when, for ``HELD_S`` (0.3 s) of consecutive frames that include it, a peak
  stays within ``HELD_TOL_ST`` (1/4 semitone) of its place;
* the frame's **held share** is the share of its power (150 Hz-4 kHz) within three spectral bins
  (47 Hz) of its held peaks, where a held sinusoid's power lies; a frame is a **partial onset** when a held peak is there that no held peak within
  ``HELD_TOL_ST`` was in the ``MEMORY_S`` (0.5 s) before: a new note, not one a voice hid a moment.

Measured by ``benchmarks/vad_music.py``: see :mod:`emolens.audio.vad`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

FRAME_S = 0.064
"""Spectral frame: 15.6 Hz bins, fine enough to part the harmonics of a low voice."""
ZERO_PAD = 4
F_LO, F_HI = 150.0, 4000.0
STEP_ST = 0.125
"""The grid's spacing in semitones."""
PROMINENCE_DB = 10.0
RANGE_DB = 50.0
SIDE_LOBE_DB = 25.0
"""A peak this far under the highest value within six bins of it is taken for a side lobe (a Hann
window's are 31 dB or more under their partial) and does not count."""
HELD_S = 0.3
HELD_TOL_ST = 0.25
MEMORY_S = 0.5
"""A held partial that comes back within this of its last frame (heard again after a louder sound
hid it) does not begin again."""
CHUNK = 2048
"""Frames per block of spectra (bounded memory on long recordings)."""


@dataclass(frozen=True)
class HeldPartials:
    """Per-frame results of :func:`held_partials`."""

    held_share: np.ndarray
    """Share of the frame's power (150 Hz-4 kHz) in held partials, float32 in [0, 1]."""
    band_power: np.ndarray
    """The frame's power in that band (weights for averaging ``held_share`` over frames)."""
    onset: np.ndarray
    """Whether a held partial begins at the frame (bool)."""


def _widen(mask: np.ndarray, k: int) -> np.ndarray:
    """``mask`` (frames x grid) with every true cell spread ``k`` cells either way along the grid."""
    out = mask.copy()
    for d in range(1, k + 1):
        out[:, d:] |= mask[:, :-d]
        out[:, :-d] |= mask[:, d:]
    return out


def _runs_of_at_least(mask: np.ndarray, length: int) -> np.ndarray:
    """Cells of ``mask`` (frames x grid) that lie in a run of at least ``length`` true frames."""
    n, m = mask.shape
    if n < length:
        return np.zeros_like(mask)
    zeros = np.zeros((1, m), np.int32)
    c = np.concatenate([zeros, np.cumsum(mask, axis=0, dtype=np.int32)])
    full = (c[length:] - c[:-length]) == length  # row t: frames t .. t+length-1 all true
    cf = np.concatenate([zeros, np.cumsum(full, axis=0, dtype=np.int32)])
    t = np.arange(n)
    lo, hi = np.clip(t - length + 1, 0, len(full)), np.clip(t + 1, 0, len(full))
    covered: np.ndarray = (cf[hi] - cf[lo]) > 0
    return covered


def _spread(mask: np.ndarray, reach: np.ndarray) -> np.ndarray:
    """``mask`` (frames x grid) with every true cell ``c`` spread ``reach[c]`` cells either way."""
    rows, cols = np.nonzero(mask)
    m = mask.shape[1]
    edges = np.zeros((mask.shape[0], m + 1), np.int32)
    np.add.at(edges, (rows, np.clip(cols - reach[cols], 0, m)), 1)
    np.add.at(edges, (rows, np.clip(cols + reach[cols] + 1, 0, m)), -1)
    spread: np.ndarray = np.cumsum(edges, axis=1)[:, :m] > 0
    return spread


def _seen_before(mask: np.ndarray, frames: int) -> np.ndarray:
    """Cells of ``mask`` (frames x grid) whose column is true in any of the ``frames`` frames before."""
    c = np.concatenate([np.zeros((1, mask.shape[1]), np.int32), np.cumsum(mask, axis=0, dtype=np.int32)])
    t = np.arange(mask.shape[0])
    seen: np.ndarray = (c[t] - c[np.maximum(t - frames, 0)]) > 0
    return seen


def _grid(sample_rate: int, nfft: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The grid's left FFT bins, interpolation weights, each cell's reach (cells spanning three
    bins) and its width in Hz (the weight of its power in a sum over the band)."""
    hi = min(F_HI, 0.45 * sample_rate)
    freqs = F_LO * 2 ** (np.arange(0.0, 12 * np.log2(hi / F_LO), STEP_ST) / 12)
    pos = freqs * nfft / sample_rate
    left = np.floor(pos).astype(np.int64)
    weight = (pos - left).astype(np.float32)
    bin_hz = sample_rate / (nfft / ZERO_PAD)
    reach = np.maximum(1, np.round(12 * np.log2((freqs + 3 * bin_hz) / freqs) / STEP_ST)).astype(np.int64)
    width = (freqs * (2 ** (STEP_ST / 12) - 1)).astype(np.float32)
    return left, weight, reach, width


def _local_max(values: np.ndarray, reach: np.ndarray) -> np.ndarray:
    """Per cell of ``values`` (frames x grid), the highest value within ``reach[c]`` cells of it."""
    pad = int(reach.max())
    padded = np.pad(values, ((0, 0), (pad, pad)), constant_values=-np.inf)
    out = np.empty_like(values)
    for r in np.unique(reach):
        cols = np.flatnonzero(reach == r)
        window = cols[:, None] + np.arange(-r, r + 1)[None, :] + pad
        out[:, cols] = padded[:, window].max(axis=2)
    return out


def _peaks(power: np.ndarray, reach: np.ndarray) -> np.ndarray:
    """The peaks (see the module docstring) of grid power spectra, one row a frame."""
    logp = 10 * np.log10(power + 1e-12)
    peak = np.zeros(logp.shape, bool)
    peak[:, 1:-1] = (logp[:, 1:-1] > logp[:, :-2]) & (logp[:, 1:-1] >= logp[:, 2:])
    cols = np.arange(logp.shape[1])
    last = logp.shape[1] - 1
    lowest = np.minimum(logp[:, np.clip(cols - reach, 0, last)], logp[:, np.clip(cols + reach, 0, last)])
    peak &= logp - lowest >= PROMINENCE_DB
    peak &= logp >= logp.max(axis=1, keepdims=True) - RANGE_DB
    peak &= logp >= _local_max(logp, 2 * reach) - SIDE_LOBE_DB  # not a side lobe of a stronger partial
    return peak


def held_partials(
    waveform: np.ndarray,
    sample_rate: int,
    n_frames: int,
    hop_s: float,
    frame_s: float,
    progress: Callable[[int], None] | None = None,
) -> HeldPartials:
    """The held partials of a mono waveform, for ``n_frames`` frames starting every ``hop_s``
    seconds, each centred on the middle of a frame of ``frame_s`` seconds (the caller's frames).
    ``progress``, when given, is called with the number of frames done after each block of them."""
    x = np.asarray(waveform, dtype=np.float32)
    hop, frame = int(round(hop_s * sample_rate)), int(round(FRAME_S * sample_rate))
    offset = (frame - int(round(frame_s * sample_rate))) // 2  # centre on the caller's frames
    needed = (n_frames - 1) * hop + frame
    padded = np.pad(x, (max(offset, 0), max(0, needed - len(x) - max(offset, 0))))
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame)[::hop][:n_frames]
    nfft = ZERO_PAD << int(np.ceil(np.log2(frame)))
    window = np.hanning(frame + 2)[1:-1].astype(np.float32)
    left, weight, reach, width = _grid(sample_rate, nfft)
    length = max(1, int(round(HELD_S / hop_s)))
    tol = int(round(HELD_TOL_ST / STEP_ST))
    share = np.zeros(n_frames, np.float32)
    band = np.zeros(n_frames, np.float32)
    onset = np.zeros(n_frames, bool)
    memory = max(1, int(round(MEMORY_S / hop_s)))
    margin = length + memory  # context either side of a block: a run's length before the memory's start
    for s in range(0, n_frames, CHUNK):
        e = min(n_frames, s + CHUNK)
        a, b = max(0, s - margin), min(n_frames, e + margin)
        spec = np.abs(np.fft.rfft(frames[a:b] * window, nfft, axis=1)) ** 2
        power = (spec[:, left] * (1 - weight) + spec[:, left + 1] * weight).astype(np.float32)
        peak = _peaks(power, reach)
        continued = _runs_of_at_least(_widen(peak, tol), length)
        held = peak & continued
        power *= width
        total = power.sum(axis=1)
        near_held = _spread(held, reach)
        frac = np.divide((power * near_held).sum(axis=1), total, out=np.zeros_like(total), where=total > 0)
        begins = held & ~_seen_before(_widen(held, tol), memory)
        if a == 0:
            begins[0] = False  # a partial held from the very start did not begin here
        keep = slice(s - a, e - a)
        share[s:e], band[s:e], onset[s:e] = np.clip(frac[keep], 0, 1), total[keep], begins[keep].any(axis=1)
        if progress is not None:
            progress(e)
    return HeldPartials(share, band, onset)


def onset_events(onset: np.ndarray, gap: int = 5) -> int:
    """How many separate onsets a stretch of frames holds: onset frames at least ``gap`` apart
    (a chord's partials begin within a few frames of each other: one event)."""
    idx = np.flatnonzero(onset)
    if len(idx) == 0:
        return 0
    return 1 + int(np.count_nonzero(np.diff(idx) >= gap))
