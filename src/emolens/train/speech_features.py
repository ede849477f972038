"""The feature chain of :mod:`emolens.audio.features` in torch, batched, and the audio augmentations.

Training crops change every step (random crops, waveform augmentation), so their features are
computed per batch here, from the same mel filterbank and window arrays as the NumPy chain (the
tests hold the two to a tolerance); validation and test utterances go through the NumPy chain
itself, once, exactly as at run time.

Augmentations (:class:`AudioAugmentConfig`), each with its own chance per utterance: speed
perturbation by resampling (tempo and pitch together), synthetic reverberation (exponentially
decaying noise as room response), additive noise (white, pink or brown) at a random SNR, a random
gain (mostly undone by the loudness normalisation; it moves the sound against the log floor),
optionally a warp of the frequency axis (vocal tract length perturbation, :func:`warp_power`), then
SpecAugment (Park et al. 2019) time and frequency masks on the normalised log-mel.

For ``feature_norm="speaker"`` models the loudness and statistics are the speaker's
(:class:`SpeakerBatch`), so a random gain is not undone: it is kept within :data:`SPEAKER_GAIN_DB`,
enough to teach that a profile is never exact without erasing how loud an utterance is for its
speaker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from emolens.audio.features import (
    STD_FLOOR,
    TRIM_MIN_S,
    FeatureConfig,
    SpeakerProfile,
    mel_filterbank,
    pitch_features,
)


@dataclass(frozen=True)
class AudioAugmentConfig:
    """Chances and strengths of the audio augmentations; a chance of 0 switches one off."""

    speed_p: float = 0.5
    speed: tuple[float, float] = (0.9, 1.1)
    reverb_p: float = 0.25
    rt60_s: tuple[float, float] = (0.15, 0.7)
    noise_p: float = 0.5
    snr_db: tuple[float, float] = (5.0, 30.0)
    gain_db: tuple[float, float] = (-12.0, 6.0)
    freq_masks: int = 2
    freq_mask_bands: int = 8
    time_masks: int = 2
    time_mask_frames: int = 25
    warp_p: float = 0.0
    warp: tuple[float, float] = (1.0, 1.0)
    """Vocal tract length perturbation: the chance of a crop's frequency axis being warped, and the
    range of the factor (:func:`warp_power`); off by default (no random numbers drawn then)."""


SPEAKER_GAIN_DB = (-3.0, 3.0)
"""The random gain of training crops for ``feature_norm="speaker"`` models, in dB."""


class TorchFeatures:
    """Batched log-mel of waveforms (B, N) -> normalised features (B, 1, n_mels, frames), as
    :func:`emolens.audio.features.features` computes them one by one."""

    def __init__(self, cfg: FeatureConfig) -> None:
        self.cfg = cfg
        self.fb = torch.from_numpy(mel_filterbank(cfg))
        self.window = torch.hann_window(cfg.win_length, periodic=True)

    def gain_to(self, x: torch.Tensor, level_db: torch.Tensor) -> torch.Tensor:
        """Scale each row, taken to be at ``level_db`` (B,) (a speaker's level), to the target level."""
        gain_db = (self.cfg.loudness_dbfs - level_db.double()).clamp_max(self.cfg.max_gain_db)
        return x * (10 ** (gain_db / 20)).float()[:, None]

    def loudness(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        frame = max(1, cfg.sample_rate // 50)
        if x.shape[1] < frame:
            x = F.pad(x, (0, frame - x.shape[1]))
        power = x.unfold(1, frame, frame).double().pow(2).mean(dim=2)
        db = 10 * torch.log10(power.clamp_min(1e-12))
        top = torch.quantile(db, 0.95, dim=1, keepdim=True)
        active = db >= top - 30.0
        lin = torch.where(active, 10 ** (db / 10), torch.zeros_like(db))
        level = 10 * torch.log10(lin.sum(dim=1) / active.sum(dim=1))
        gain_db = (cfg.loudness_dbfs - level).clamp_max(cfg.max_gain_db)
        return x * (10 ** (gain_db / 20)).float()[:, None]

    def log_mel(self, x: torch.Tensor, warp: torch.Tensor | None = None) -> torch.Tensor:
        """Log-mel of (B, N) waveforms; ``warp`` (B,): each row's spectrum warped first (:func:`warp_power`)."""
        cfg = self.cfg
        spec = torch.stft(
            x,
            cfg.n_fft,
            hop_length=cfg.hop_length,
            win_length=cfg.win_length,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        power = spec.real.square() + spec.imag.square()
        if warp is not None:
            power = warp_power(power, warp)
        return torch.log(torch.matmul(self.fb, power) + cfg.log_offset)

    def normalize(self, lm: torch.Tensor) -> torch.Tensor:
        if self.cfg.feature_norm == "none":
            return lm
        centred = lm - lm.mean(dim=2, keepdim=True)
        std = centred.square().mean(dim=(1, 2), keepdim=True).sqrt().clamp_min(STD_FLOOR)
        return centred / std

    def __call__(
        self, x: torch.Tensor, profiles: SpeakerBatch | None = None, warp: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Features of a batch (B, 1, ``cfg.rows``, frames); with ``profiles`` (``feature_norm="speaker"``),
        each row's speaker's level and statistics instead of its own; with ``warp`` (B,), each row's
        spectrum warped by its factor (:func:`warp_power`). With ``cfg.pitch`` the pitch rows come
        from the run-time NumPy function itself (:func:`pitch_features`)."""
        with torch.no_grad():
            if profiles is None:
                x = self.loudness(x.float())
                mel = self.normalize(self.log_mel(x, warp))
            else:
                x = self.gain_to(x.float(), profiles.level_db)
                mel = (self.log_mel(x, warp) - profiles.mean[:, :, None]) / profiles.std[:, None, None]
            if self.cfg.pitch:
                mel = torch.cat([mel, torch.from_numpy(pitch_features(x.numpy(), self.cfg))], dim=1)
            return mel.unsqueeze(1)


@dataclass(frozen=True)
class SpeakerBatch:
    """The :class:`~emolens.audio.features.SpeakerProfile` of each row of a batch, as tensors."""

    level_db: torch.Tensor
    """(B,)"""
    mean: torch.Tensor
    """(B, n_mels)"""
    std: torch.Tensor
    """(B,)"""

    @classmethod
    def of(cls, profiles: list[SpeakerProfile]) -> SpeakerBatch:
        return cls(
            torch.tensor([p.level_db for p in profiles], dtype=torch.float64),
            torch.from_numpy(np.stack([p.stats.mean for p in profiles])).float(),
            torch.tensor([p.stats.std for p in profiles], dtype=torch.float32),
        )


def _uniform(gen: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen)


WARP_KNEE = 0.8
"""Where :func:`warp_power`'s warp bends, as a share of the Nyquist frequency (for factors above 1,
of the point that moves there)."""


def warp_power(power: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Warp the frequency axis of power spectra (B, bins, frames) by each row's ``factor`` (B,):
    the piecewise-linear vocal tract length perturbation of Jaitly & Hinton (2013). A component at
    frequency f moves to ``factor * f`` up to a knee (:data:`WARP_KNEE` of the Nyquist frequency,
    times the factor when it is below 1), and the rest of the axis is stretched or squeezed linearly
    so that the Nyquist frequency stays where it is: above 1 the formants of a shorter vocal tract,
    below 1 of a longer one, with the voice's pitch and timing unchanged (speed perturbation moves
    them all together). Each output bin reads the input at the frequency that moves onto it,
    interpolated linearly between bins; a factor of 1 returns the input."""
    bins = power.shape[1]
    top = float(bins - 1)
    a = factor.to(power.dtype)[:, None]
    f_out = torch.arange(bins, dtype=power.dtype)[None, :]
    knee = WARP_KNEE * top * torch.clamp(a, max=1.0)  # output frequency where the warp bends
    below = f_out / a
    above = top - (top - f_out) * (top - knee / a) / (top - knee)
    src = torch.where(f_out <= knee, below, above).clamp(0.0, top)
    lo = src.floor().long().clamp(max=bins - 2)
    w = (src - lo.to(power.dtype))[:, :, None]
    frames = power.shape[2]
    at_lo = power.gather(1, lo[:, :, None].expand(-1, -1, frames))
    at_hi = power.gather(1, (lo + 1)[:, :, None].expand(-1, -1, frames))
    return at_lo * (1 - w) + at_hi * w


def crop_batch(
    waves: list[np.ndarray], length: int, gen: torch.Generator, aug: AudioAugmentConfig | None
) -> torch.Tensor:
    """Random crops of ``length`` samples (B, length); with ``aug``, some are cut ``speed`` times
    longer or shorter and resampled to ``length`` (faster or slower, higher or lower). Utterances
    shorter than a crop are placed at a random offset in silence."""
    n = len(waves)
    factors = torch.ones(n)
    if aug is not None and aug.speed_p > 0:
        hit = torch.rand(n, generator=gen) < aug.speed_p
        factors = torch.where(hit, _uniform(gen, n, *aug.speed), factors)
    out = torch.zeros(n, length)
    for i, w in enumerate(waves):
        want = max(1, int(round(length * float(factors[i]))))
        seg = torch.zeros(want)
        if len(w) >= want:
            start = int(torch.randint(0, len(w) - want + 1, (1,), generator=gen))
            seg = torch.from_numpy(w[start : start + want])
        else:
            at = int(torch.randint(0, want - len(w) + 1, (1,), generator=gen))
            seg[at : at + len(w)] = torch.from_numpy(w)
        if want != length:
            seg = F.interpolate(seg[None, None], size=length, mode="linear", align_corners=False)[0, 0]
        out[i] = seg
    return out


def _colored_noise(n: int, length: int, gen: torch.Generator) -> torch.Tensor:
    """White, pink (1/f) or brown (1/f^2) noise, one kind per row, unit RMS."""
    white = torch.randn(n, length, generator=gen)
    kind = torch.randint(0, 3, (n,), generator=gen)
    spec = torch.fft.rfft(white, dim=1)
    f = torch.arange(spec.shape[1]).clamp_min(1).float()
    slope = torch.stack([torch.ones_like(f), f.rsqrt(), 1 / f])[kind]
    noise = torch.fft.irfft(spec * slope, n=length, dim=1)
    return noise / noise.square().mean(dim=1, keepdim=True).sqrt().clamp_min(1e-8)


def _reverb(x: torch.Tensor, rt60: torch.Tensor, rate: int, gen: torch.Generator) -> torch.Tensor:
    """Convolve each row with a synthetic room response: a direct path, then noise decaying by
    60 dB in ``rt60`` seconds; the result keeps the row's RMS."""
    n, length = x.shape
    taps = int(0.8 * rate)
    t = torch.arange(taps).float() / rate
    rir = torch.randn(n, taps, generator=gen) * torch.exp(-6.908 * t[None, :] / rt60[:, None]) * 0.3
    rir[:, 0] = 1.0
    size = length + taps
    y = torch.fft.irfft(torch.fft.rfft(x, size, dim=1) * torch.fft.rfft(rir, size, dim=1), size, dim=1)[:, :length]
    rms_x = x.square().mean(dim=1, keepdim=True).sqrt()
    rms_y = y.square().mean(dim=1, keepdim=True).sqrt().clamp_min(1e-8)
    return y * rms_x / rms_y


def augment_waveforms(x: torch.Tensor, aug: AudioAugmentConfig, rate: int, gen: torch.Generator) -> torch.Tensor:
    """Reverberation, noise and gain, each row on its own dice (see :class:`AudioAugmentConfig`)."""
    n = x.shape[0]
    if aug.reverb_p > 0:
        hit = torch.rand(n, generator=gen) < aug.reverb_p
        if hit.any():
            rt60 = _uniform(gen, int(hit.sum()), *aug.rt60_s)
            x = x.clone()
            x[hit] = _reverb(x[hit], rt60, rate, gen)
    if aug.noise_p > 0:
        hit = (torch.rand(n, generator=gen) < aug.noise_p).float()[:, None]
        snr = _uniform(gen, n, *aug.snr_db)[:, None]
        power = x.square().mean(dim=1, keepdim=True)
        scale = torch.sqrt(power / 10 ** (snr / 10))
        x = x + hit * scale * _colored_noise(n, x.shape[1], gen)
    gain = 10 ** (_uniform(gen, n, *aug.gain_db) / 20)
    return x * gain[:, None]


FREQ_WARP_P = 0.5
"""The share of training crops warped by ``emolens train --freq-warp``."""


def warp_factors(n: int, aug: AudioAugmentConfig | None, gen: torch.Generator) -> torch.Tensor | None:
    """Each of ``n`` crops' :func:`warp_power` factor (1 where its dice say no), or None when the
    augmentation is off (then nothing is drawn from ``gen``, so runs without it are unchanged)."""
    if aug is None or aug.warp_p <= 0:
        return None
    hit = torch.rand(n, generator=gen) < aug.warp_p
    return torch.where(hit, _uniform(gen, n, *aug.warp), torch.ones(n))


def spec_augment(
    feats: torch.Tensor, aug: AudioAugmentConfig, gen: torch.Generator, bands: int | None = None
) -> torch.Tensor:
    """Zero (the mean, after normalisation) random bands and stretches of frames of (B, 1, M, T);
    ``bands``: only the first this many rows are mel bands that frequency masks may hit (the
    rows below them, pitch, are masked in time only)."""
    out = feats.clone()
    b, _, rows, t = out.shape
    m = rows if bands is None else bands
    for axis, count, width, size in (
        (2, aug.freq_masks, aug.freq_mask_bands, m),
        (3, aug.time_masks, aug.time_mask_frames, t),
    ):
        width = min(width, size // 4)
        for _ in range(count):
            if width < 1:
                break
            w = torch.randint(0, width + 1, (b,), generator=gen)
            start = (torch.rand(b, generator=gen) * (size - w + 1).float()).long()
            full = rows if axis == 2 else t
            idx = torch.arange(full)[None, :]
            mask = (idx >= start[:, None]) & (idx < (start + w)[:, None])  # (B, full)
            shape = (b, 1, full, 1) if axis == 2 else (b, 1, 1, full)
            out = out.masked_fill(mask.view(shape), 0.0)
    return out


def trimmed_crop_length(length: int, waves: list[np.ndarray], rate: int) -> int:
    """A batch's crop ``length`` for clips with their silence trimmed: no longer than the shortest
    clip (so that no crop is padded with silence, which trimmed input never holds), nor shorter than
    :data:`~emolens.audio.features.TRIM_MIN_S` (what trimming keeps)."""
    return min(length, max(min(map(len, waves)), int(TRIM_MIN_S * rate)))


def crop_samples(crop_s: float, rate: int, gen: torch.Generator) -> int:
    """This batch's crop length: between two thirds of ``crop_s`` and ``crop_s`` (windows at run
    time are often shorter than the crops), in whole hops."""
    lo = max(0.5, crop_s * 2 / 3)
    seconds = lo + (crop_s - lo) * float(torch.rand(1, generator=gen))
    return max(1, int(math.floor(seconds * rate)))
