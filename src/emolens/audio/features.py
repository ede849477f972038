"""Waveform -> log-mel spectrogram in NumPy, with the loudness and feature normalisation of speech models.

The whole chain, as a speech model file records it (:class:`FeatureConfig`, stored in the file):

1. **mono float32** at the model's rate: channels averaged (:func:`to_mono`), other rates resampled
   with FFmpeg's resampler through PyAV (:func:`resample`);
2. **loudness**: the waveform is scaled so that its *active level* (the RMS of its frames within
   30 dB of its loudest ones, a much simplified ITU-T P.56) is ``loudness_dbfs``; silence is not
   amplified by more than ``max_gain_db`` (:func:`normalize_loudness`);
3. **power spectrogram**: periodic Hann window of ``win_length`` samples centred in ``n_fft``,
   frames every ``hop_length`` samples, the signal padded by ``n_fft // 2`` zeros at each end
   (``torch.stft(..., center=True, pad_mode="constant")``), so ``1 + len // hop_length`` frames;
4. **mel**: triangular filters with peak 1 (no area normalisation) between ``f_min`` and
   ``f_max``, centres evenly spaced on the HTK mel scale ``2595 log10(1 + f / 700)`` (or
   Slaney's, ``mel_scale="slaney"``): torchaudio's ``melscale_fbanks(norm=None)``;
5. **log**: natural log of mel power plus ``log_offset``;
6. **feature normalisation** (``feature_norm="utterance"``): each mel band minus its mean over
   the input, divided by one standard deviation over the whole result (:func:`normalize_features`);
   a speaker's (or a long file's) statistics may be given instead (:func:`feature_stats`);
7. **pitch** (``pitch=True`` only): two rows appended below the mel bands, frame for frame
   (:func:`pitch_features`): how voiced each frame is, and its pitch in octaves above or below
   the input's median pitch (0 where unvoiced).

``feature_norm="speaker"``: steps 2 and 6 use a :class:`SpeakerProfile`, the speaker's usual level
and log-mel statistics over many utterances (:func:`speaker_profile`), instead of the input's own:
a voice louder or brighter than that speaker's usual one stays louder or brighter, which is much of
what anger, joy or sadness sound like, while the speaker's own voice and microphone are still
normalised away. Given no profile, the input is its own (the same numbers as ``utterance``).

NumPy and PyAV only (no torch, no librosa); every function is pure.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from emolens.errors import DataError, ModelError

MEL_SCALES = ("htk", "slaney")
FEATURE_NORMS = ("utterance", "speaker", "none")
MAX_CHANNELS = 16
TRIM_DB_RANGE = (10.0, 90.0)
"""The silence trimming's threshold (dB under the loudest frame) is taken from this range."""
TRIM_MARGIN_S = 0.1
"""Sound kept on each side of what :func:`trim_silence` finds: the quiet onset and decay of the first
and last syllables."""
TRIM_MIN_S = 2.0
"""The least :func:`trim_silence` leaves of a longer input (the sentence and the sound around it): the
shortest training crop and the crop length of ``tta="crops"``, so that trimmed input is never judged
shorter than the networks learned from, nor padded with silence in training."""
PITCH_ROWS = 2
"""Rows that ``pitch=True`` appends to the log-mel: voicing and relative pitch."""


@dataclass(frozen=True)
class FeatureConfig:
    """How a waveform becomes a speech model's input; stored in the model file (``emolens.audio``)."""

    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int = 400
    """25 ms at 16 kHz."""
    hop_length: int = 160
    """10 ms at 16 kHz: 100 frames a second."""
    n_mels: int = 64
    f_min: float = 50.0
    f_max: float = 8000.0
    mel_scale: str = "htk"
    log_offset: float = 1e-6
    loudness_dbfs: float = -23.0
    """Target active level of the waveform (dB re full scale) before the spectrogram."""
    max_gain_db: float = 40.0
    """The most the loudness normalisation amplifies (a quiet room stays quiet)."""
    feature_norm: str = "utterance"
    """``utterance``: band means removed, one standard deviation divided out, per input; ``speaker``:
    the level and statistics of a :class:`SpeakerProfile`; ``none``."""
    pitch: bool = False
    """Append :data:`PITCH_ROWS` rows of :func:`pitch_features` to the log-mel."""
    f0_min: float = 60.0
    """Lowest pitch looked for (Hz); it also sets the pitch analysis window (2.5 of its periods)."""
    f0_max: float = 400.0
    """Highest pitch looked for (Hz)."""
    trim_db: float | None = None
    """Cut leading and trailing frames this many dB under the input's loudest (:func:`trim_silence`)
    before anything else; None: keep the input whole."""

    def __post_init__(self) -> None:
        if self.sample_rate < 1000 or self.n_fft < 16 or self.hop_length < 1 or self.n_mels < 1:
            raise ModelError(f"implausible feature settings: {self}")
        if not 0 < self.win_length <= self.n_fft:
            raise ModelError(f"win_length must lie in [1, n_fft={self.n_fft}], got {self.win_length}")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ModelError(f"need 0 <= f_min < f_max <= sample_rate / 2, got {self.f_min}, {self.f_max}")
        if self.mel_scale not in MEL_SCALES:
            raise ModelError(f"unknown mel scale {self.mel_scale!r}; known: {', '.join(MEL_SCALES)}")
        if self.feature_norm not in FEATURE_NORMS:
            raise ModelError(f"unknown feature normalisation {self.feature_norm!r}; known: {', '.join(FEATURE_NORMS)}")
        if not self.log_offset > 0:
            raise ModelError(f"log_offset must be positive, got {self.log_offset}")
        if self.trim_db is not None and not TRIM_DB_RANGE[0] <= self.trim_db <= TRIM_DB_RANGE[1]:
            raise ModelError(f"trim_db must lie in [{TRIM_DB_RANGE[0]:g}, {TRIM_DB_RANGE[1]:g}] dB, got {self.trim_db}")
        if self.pitch and not 20 <= self.f0_min < self.f0_max <= self.sample_rate / 4:
            raise ModelError(f"need 20 <= f0_min < f0_max <= sample_rate / 4, got {self.f0_min}, {self.f0_max}")

    @property
    def pitch_rows(self) -> int:
        """The pitch rows below the mel bands: :data:`PITCH_ROWS` with ``pitch``, else 0."""
        return PITCH_ROWS if self.pitch else 0

    @property
    def rows(self) -> int:
        """Rows of the model's input: the mel bands, and the pitch rows with ``pitch``."""
        return self.n_mels + self.pitch_rows

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FeatureConfig:
        """The settings stored in a model file; unknown keys are refused (a newer format)."""
        raw: Any = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("audio settings are not a JSON object")
        unknown = set(raw) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown audio settings {sorted(unknown)}")
        return cls(**raw)


def to_mono(waveform: np.ndarray) -> np.ndarray:
    """Samples as mono float32 in [-1, 1] units.

    Accepts (n,), or (n, channels) / (channels, n) with at most :data:`MAX_CHANNELS` channels
    (the shorter axis is the channels'; (n, c) when both are as long), channels averaged.
    Integer samples are scaled to [-1, 1) (int16 by 32768, int32 by 2**31, unsigned around their
    middle, as 8-bit WAV).
    Non-finite samples are a DataError.
    """
    x = np.asarray(waveform)
    if np.issubdtype(x.dtype, np.unsignedinteger):
        half = float(2 ** (8 * x.dtype.itemsize - 1))
        x = (x.astype(np.float64) - half).astype(np.float32) / np.float32(half)
    elif np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / np.float32(-np.iinfo(x.dtype).min)
    elif np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32, copy=False)
    else:
        raise DataError(f"a waveform must hold numbers, not {x.dtype}")
    if x.ndim == 2:
        if x.size == 0:
            x = np.zeros(0, np.float32)
        else:
            channel_axis = 1 if x.shape[1] <= x.shape[0] else 0
            if x.shape[channel_axis] > MAX_CHANNELS:
                raise DataError(f"a waveform has at most {MAX_CHANNELS} channels; got an array of shape {x.shape}")
            x = x.mean(axis=channel_axis, dtype=np.float32)
    elif x.ndim != 1:
        raise DataError(f"a waveform is (n,) or (n, channels); got shape {x.shape}")
    if not np.isfinite(x).all():
        raise DataError("the waveform has NaN or infinite samples")
    return np.ascontiguousarray(x, dtype=np.float32)


def resample(waveform: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Mono float32 samples at ``rate`` -> at ``target`` Hz, with FFmpeg's resampler (libswresample,
    through PyAV: a windowed-sinc filter with its default settings). Any rates (8 kHz, 44.1 kHz,
    48 kHz ...); the output has about ``len * target / rate`` samples."""
    if rate == target:
        return waveform
    if rate <= 0 or target <= 0:
        raise DataError(f"sample rates must be positive, got {rate} -> {target}")
    import av

    x = np.ascontiguousarray(waveform, dtype=np.float32)
    rs = av.AudioResampler(format="fltp", layout="mono", rate=target)
    out: list[np.ndarray] = []
    step = 1 << 16
    for start in range(0, len(x), step):
        frame = av.AudioFrame.from_ndarray(x[None, start : start + step], format="fltp", layout="mono")
        frame.sample_rate = rate
        out.extend(f.to_ndarray()[0] for f in rs.resample(frame))
    out.extend(f.to_ndarray()[0] for f in rs.resample(None))
    y = np.concatenate(out) if out else np.zeros(0, np.float32)
    want = int(round(len(x) * target / rate))
    if len(y) < want:
        y = np.pad(y, (0, want - len(y)))
    return np.ascontiguousarray(y[:want], dtype=np.float32)


def frame_rms_db(waveform: np.ndarray, frame: int, hop: int | None = None) -> np.ndarray:
    """RMS level (dB re full scale, floored at -120) of consecutive frames (the last partial one dropped;
    one frame when shorter)."""
    hop = hop or frame
    x = waveform if len(waveform) >= frame else np.pad(waveform, (0, frame - len(waveform)))
    n = 1 + (len(x) - frame) // hop
    idx = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    power = np.mean(np.square(x[idx], dtype=np.float64), axis=1)
    db: np.ndarray = 10 * np.log10(np.maximum(power, 1e-12))
    return db


def active_level_db(waveform: np.ndarray, sample_rate: int, *, window_db: float = 30.0) -> float:
    """The level (dB re full scale) of the active part of a waveform: the power mean of its 20 ms
    frames within ``window_db`` of its 95th-percentile frame (-120 for digital silence)."""
    if len(waveform) == 0:
        return -120.0
    db = frame_rms_db(waveform, max(1, sample_rate // 50))
    top = float(np.percentile(db, 95))
    active = db[db >= top - window_db]
    return float(10 * np.log10(np.mean(10 ** (active / 10))))


def apply_gain(waveform: np.ndarray, level_db: float, target_dbfs: float, max_gain_db: float) -> np.ndarray:
    """Scale a waveform whose level is taken to be ``level_db`` to ``target_dbfs`` (gain at most ``max_gain_db``)."""
    gain_db = min(target_dbfs - level_db, max_gain_db)
    return (waveform * np.float32(10 ** (gain_db / 20))).astype(np.float32, copy=False)


def normalize_loudness(waveform: np.ndarray, sample_rate: int, target_dbfs: float, max_gain_db: float) -> np.ndarray:
    """Scale ``waveform`` so that its :func:`active_level_db` is ``target_dbfs`` (gain at most ``max_gain_db``)."""
    if len(waveform) == 0:
        return waveform
    return apply_gain(waveform, active_level_db(waveform, sample_rate), target_dbfs, max_gain_db)


def trim_silence(waveform: np.ndarray, sample_rate: int, trim_db: float) -> np.ndarray:
    """``waveform`` without its leading and trailing stretches of 25 ms frames (10 ms apart) more than
    ``trim_db`` under its loudest frame, :data:`TRIM_MARGIN_S` kept on each side; pauses inside stay.
    At least :data:`TRIM_MIN_S` (or all of a shorter input) is kept, centred on what is loud. Digital
    silence comes back whole."""
    frame, hop = max(1, sample_rate // 40), max(1, sample_rate // 100)
    keep = int(round(TRIM_MIN_S * sample_rate))
    if len(waveform) <= max(frame, keep):
        return waveform
    db = frame_rms_db(waveform, frame, hop)
    if db.max() <= -120:
        return waveform
    loud = np.flatnonzero(db > db.max() - trim_db)  # never empty: the loudest frame is in it
    margin = int(round(TRIM_MARGIN_S * sample_rate))
    start = max(0, int(loud[0]) * hop - margin)
    end = min(len(waveform), int(loud[-1]) * hop + frame + margin)
    if end - start < keep:  # widen to TRIM_MIN_S around the middle, inside the input
        start = min(max(0, (start + end - keep) // 2), len(waveform) - keep)
        end = start + keep
    return waveform[start:end]


def hz_to_mel(f: np.ndarray | float, scale: str = "htk") -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    # Slaney (Auditory Toolbox): linear below 1 kHz, logarithmic above
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-9) / min_log_hz) / logstep, f / f_sp)


def mel_to_hz(m: np.ndarray, scale: str = "htk") -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(cfg: FeatureConfig) -> np.ndarray:
    """Triangular mel filters float32 (n_mels, n_fft // 2 + 1), peak 1, on ``cfg.mel_scale``."""
    freqs = np.linspace(0, cfg.sample_rate / 2, cfg.n_fft // 2 + 1)
    mels = np.linspace(hz_to_mel(cfg.f_min, cfg.mel_scale), hz_to_mel(cfg.f_max, cfg.mel_scale), cfg.n_mels + 2)
    pts = mel_to_hz(mels, cfg.mel_scale)
    lower = (freqs[None, :] - pts[:-2, None]) / (pts[1:-1, None] - pts[:-2, None])
    upper = (pts[2:, None] - freqs[None, :]) / (pts[2:, None] - pts[1:-1, None])
    fb: np.ndarray = np.maximum(0.0, np.minimum(lower, upper)).astype(np.float32)
    return fb


def stft_window(cfg: FeatureConfig) -> np.ndarray:
    """The periodic Hann window of ``win_length`` samples, centred in ``n_fft`` zeros (as torch.stft pads it)."""
    n = cfg.win_length
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
    left = (cfg.n_fft - n) // 2
    return np.pad(hann, (left, cfg.n_fft - n - left)).astype(np.float32)


def frame_count(samples: int, cfg: FeatureConfig) -> int:
    """Number of spectrogram frames of ``samples`` samples."""
    return 1 + samples // cfg.hop_length


def power_spectrogram(waveform: np.ndarray, cfg: FeatureConfig, *, chunk: int = 4096) -> np.ndarray:
    """|STFT|^2 float32 (n_fft // 2 + 1, frames); centred frames, zero padding (see the module docstring)."""
    pad = cfg.n_fft // 2
    x = np.pad(np.asarray(waveform, dtype=np.float32), (pad, pad))
    n = frame_count(len(waveform), cfg)
    window = stft_window(cfg)
    out = np.empty((cfg.n_fft // 2 + 1, n), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x, cfg.n_fft)[:: cfg.hop_length]
    for s in range(0, n, chunk):  # bounded memory on long files
        spec = np.fft.rfft(frames[s : s + chunk] * window, axis=1)
        out[:, s : s + chunk] = (spec.real**2 + spec.imag**2).T
    return out


def log_mel(waveform: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Log-mel spectrogram float32 (n_mels, frames) of mono samples at ``cfg.sample_rate``, without
    loudness or feature normalisation (steps 3-5 of the module docstring)."""
    mel = mel_filterbank(cfg) @ power_spectrogram(waveform, cfg)
    out: np.ndarray = np.log(mel + np.float32(cfg.log_offset)).astype(np.float32, copy=False)
    return out


@dataclass(frozen=True)
class FeatureStats:
    """What :func:`normalize_features` removes: a mean per mel band and one standard deviation."""

    mean: np.ndarray
    std: float


STD_FLOOR = 1e-3


def feature_stats(logmels: Sequence[np.ndarray]) -> FeatureStats:
    """The statistics of one input or of many (e.g. all utterances of one speaker, all windows of a file)."""
    cat = np.concatenate([np.asarray(m, dtype=np.float64) for m in logmels], axis=1)
    mean = cat.mean(axis=1)
    std = float(np.sqrt(np.mean((cat - mean[:, None]) ** 2)))
    return FeatureStats(mean.astype(np.float32), max(std, STD_FLOOR))


def normalize_features(logmel: np.ndarray, mode: str = "utterance", stats: FeatureStats | None = None) -> np.ndarray:
    """Normalise a log-mel (n_mels, frames): ``utterance`` (or ``speaker``): with its own
    :func:`feature_stats`, or with ``stats`` when given (a speaker's); ``none``: unchanged."""
    if mode == "none":
        return logmel
    if mode not in FEATURE_NORMS:
        raise ModelError(f"unknown feature normalisation {mode!r}; known: {', '.join(FEATURE_NORMS)}")
    st = stats if stats is not None else feature_stats([logmel])
    out: np.ndarray = ((logmel - st.mean[:, None]) / np.float32(st.std)).astype(np.float32, copy=False)
    return out


def prepare_waveform(
    waveform: np.ndarray, sample_rate: int, cfg: FeatureConfig, level_db: float | None = None
) -> np.ndarray:
    """Any waveform -> mono float32 at ``cfg.sample_rate`` with its loudness normalised (steps 1-2):
    from its own active level, or taken to be at ``level_db`` (a speaker's)."""
    x = resample(to_mono(waveform), sample_rate, cfg.sample_rate)
    if level_db is None:
        return normalize_loudness(x, cfg.sample_rate, cfg.loudness_dbfs, cfg.max_gain_db)
    return apply_gain(x, level_db, cfg.loudness_dbfs, cfg.max_gain_db)


@dataclass(frozen=True)
class SpeakerProfile:
    """A speaker's usual voice, as ``feature_norm="speaker"`` models normalise by it: ``level_db``, the
    mean active level of their utterances (dB re full scale), and ``stats``, the log-mel statistics of
    those utterances brought to the target level together; ``seconds`` of sound it was made from.

    Made from several utterances of one speaker (:func:`speaker_profile`), from the speech of a
    whole recording, or built up over a live stream (:class:`ProfileAccumulator`). Only these
    numbers are kept, never the sound."""

    level_db: float
    stats: FeatureStats
    seconds: float


SILENT_DB = -70.0
"""Utterances quieter than this (dBFS, active level) are left out of a speaker profile: silence or
hiss carries no voice, and would pull the profile's level and spectrum away from the speaker's."""


def speaker_profile(waveforms: Sequence[np.ndarray], cfg: FeatureConfig) -> SpeakerProfile:
    """The :class:`SpeakerProfile` of utterances (mono float32 at ``cfg.sample_rate``) of one speaker."""
    voiced = [w for w in waveforms if len(w) and active_level_db(w, cfg.sample_rate) > SILENT_DB]
    if not voiced:
        raise DataError(f"a speaker profile needs at least one utterance with sound (above {SILENT_DB:g} dBFS)")
    level = float(np.mean([active_level_db(w, cfg.sample_rate) for w in voiced]))
    logmels = [log_mel(apply_gain(w, level, cfg.loudness_dbfs, cfg.max_gain_db), cfg) for w in voiced]
    return SpeakerProfile(level, feature_stats(logmels), sum(map(len, voiced)) / cfg.sample_rate)


class ProfileAccumulator:
    """A :class:`SpeakerProfile` built up from utterances as they come (a live stream, a long file):
    running sums only, no sound is kept. Each utterance's log-mel is taken at the level known when
    it came, so the profile drifts a little while the level settles."""

    def __init__(self, cfg: FeatureConfig) -> None:
        self.cfg = cfg
        self._level_sum = 0.0
        self._count = 0
        self._frames = 0
        self._sum = np.zeros(cfg.n_mels, np.float64)
        self._sq = np.zeros(cfg.n_mels, np.float64)
        self._seconds = 0.0

    def add(self, waveform: np.ndarray, sample_rate: int | None = None) -> None:
        """Add one utterance or stretch of speech (mono or multichannel, at ``sample_rate``; default the
        profile's own rate)."""
        cfg = self.cfg
        if sample_rate is not None and sample_rate != cfg.sample_rate:
            waveform = resample(to_mono(waveform), sample_rate, cfg.sample_rate)
        else:
            waveform = to_mono(waveform)
        if not len(waveform):
            return
        self._level_sum += active_level_db(waveform, cfg.sample_rate)
        self._count += 1
        level = self._level_sum / self._count
        lm = log_mel(apply_gain(waveform, level, cfg.loudness_dbfs, cfg.max_gain_db), cfg).astype(np.float64)
        self._frames += lm.shape[1]
        self._sum += lm.sum(axis=1)
        self._sq += np.square(lm).sum(axis=1)
        self._seconds += len(waveform) / cfg.sample_rate

    @property
    def seconds(self) -> float:
        """How much sound the profile has been built from."""
        return self._seconds

    def profile(self) -> SpeakerProfile | None:
        """The profile so far, or None before any sound."""
        if not self._frames:
            return None
        mean = self._sum / self._frames
        var = float(np.mean(self._sq / self._frames - np.square(mean)))
        stats = FeatureStats(mean.astype(np.float32), max(math.sqrt(max(var, 0.0)), STD_FLOOR))
        return SpeakerProfile(self._level_sum / self._count, stats, self._seconds)


VOICED = 0.6
"""Normalised autocorrelation from which a frame counts as voiced."""
OCTAVE_COST = 0.2
"""How much a candidate period's score drops per octave above the shortest (as Praat's octave
cost): of two near-equal peaks the shorter period, the higher pitch, wins, against octave-down errors."""
VOICED_FLOOR_DB = 40.0
"""Frames this far below the input's loudest frame are unvoiced, however periodic."""
RELATIVE_PITCH_CLIP = 2.0
"""Relative pitch is clipped to this many octaves either way."""


PITCH_RATE = 8000
"""Pitch is analysed at about this rate (the input averaged over pairs of samples at 16 kHz): a
voice's pitch lies far below it, and the analysis costs a quarter."""


def pitch_features(waveform: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Voicing and relative pitch float32 (2, frames) of mono samples (n,) at ``cfg.sample_rate``,
    one frame per spectrogram frame (centred on the same samples); a batch (B, n) gives (B, 2, frames).

    The input is first brought near :data:`PITCH_RATE` by averaging runs of samples. Each frame
    (2.5 periods of ``cfg.f0_min``, Hann-windowed) has its autocorrelation divided by the window's
    own (Boersma 1993), so that a periodic sound scores near 1 at its period. The period is the lag
    between the periods of ``f0_max`` and ``f0_min`` with the best score after :data:`OCTAVE_COST`.
    Row 0: the autocorrelation there as ``2 r - 1`` (-1 .. 1), -1 for frames :data:`VOICED_FLOOR_DB`
    below the input's loudest; row 1: ``log2(f0)`` minus its median over the voiced frames
    (:data:`VOICED`), 0 where unvoiced, clipped to :data:`RELATIVE_PITCH_CLIP` octaves."""
    x = np.asarray(waveform, dtype=np.float32)
    if x.ndim == 1:
        one: np.ndarray = pitch_features(x[None], cfg)[0]
        return one
    n = frame_count(x.shape[1], cfg)
    step = pitch_decimation(cfg)
    if step > 1:
        x = np.pad(x, ((0, 0), (0, -x.shape[1] % step))).reshape(len(x), -1, step).mean(axis=2)
    rate, hop = cfg.sample_rate / step, cfg.hop_length // step
    w = int(round(2.5 * rate / cfg.f0_min))
    lo, hi = int(math.floor(rate / cfg.f0_max)), int(math.ceil(rate / cfg.f0_min))
    xp = np.pad(x, ((0, 0), (w // 2, w - w // 2 + hop)))
    frames = np.lib.stride_tricks.sliding_window_view(xp, w, axis=1)[:, ::hop][:, :n]  # (B, n, w)
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(w) / w)).astype(np.float32)
    size = 1 << (w + hi - 1).bit_length()  # no circular wrap up to lag hi, a fast FFT size
    spec = np.fft.rfft(frames * window, size, axis=2)
    acf = np.fft.irfft(spec.real**2 + spec.imag**2, size, axis=2)[:, :, : hi + 1].astype(np.float64)
    wspec = np.fft.rfft(window.astype(np.float64), size)
    wacf = np.fft.irfft(wspec.real**2 + wspec.imag**2, size)
    lags = np.arange(lo, hi + 1)
    r = (acf[:, :, lo:] / np.maximum(acf[:, :, :1], 1e-30)) / (wacf[lo : hi + 1] / wacf[0])
    best = np.argmax(r - OCTAVE_COST * np.log2(lags / lo), axis=2)  # (B, n)
    strength = np.clip(np.take_along_axis(r, best[:, :, None], axis=2)[:, :, 0], 0.0, 1.0)
    energy = acf[:, :, 0]
    loud = 10 * np.log10(np.maximum(energy, 1e-30))
    strength[(loud < loud.max(axis=1, keepdims=True) - VOICED_FLOOR_DB) | (energy <= 1e-20)] = 0.0
    log_f0 = np.log2(rate / lags[best])
    rel = np.zeros_like(log_f0)
    for row, voiced in enumerate(strength >= VOICED):
        if voiced.any():
            centred = log_f0[row, voiced] - np.median(log_f0[row, voiced])
            rel[row, voiced] = np.clip(centred, -RELATIVE_PITCH_CLIP, RELATIVE_PITCH_CLIP)
    return np.stack([2 * strength - 1, rel], axis=1).astype(np.float32)


def pitch_decimation(cfg: FeatureConfig) -> int:
    """How many samples :func:`pitch_features` averages into one: the largest divisor of the hop
    that keeps the rate at :data:`PITCH_RATE` or above."""
    return max(d for d in range(1, cfg.hop_length + 1) if cfg.hop_length % d == 0 and cfg.sample_rate / d >= PITCH_RATE)


def features(
    waveform: np.ndarray, sample_rate: int, cfg: FeatureConfig, profile: SpeakerProfile | None = None
) -> np.ndarray:
    """The whole chain: any waveform -> the float32 (``cfg.rows``, frames) a model takes: the
    normalised log-mel (of the waveform without its silent ends with ``cfg.trim_db``), and with
    ``cfg.pitch`` the :func:`pitch_features` below it.

    ``profile`` (``feature_norm="speaker"`` models only): the speaker's level and statistics instead
    of the input's own."""
    speaker = profile if cfg.feature_norm == "speaker" else None
    x = prepare_waveform(waveform, sample_rate, cfg, None if speaker is None else speaker.level_db)
    if cfg.trim_db is not None:
        x = trim_silence(x, cfg.sample_rate, cfg.trim_db)
    mel = normalize_features(log_mel(x, cfg), cfg.feature_norm, None if speaker is None else speaker.stats)
    if not cfg.pitch:
        return mel
    return np.concatenate([mel, pitch_features(x, cfg)])
