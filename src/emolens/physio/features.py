"""Physiological features, pure functions on arrays: heart beats and HRV from BVP or IBI, EDA tonic
level and skin-conductance responses (SCRs), skin-temperature slope, movement; the windows and
the per-person baseline.

Two steps. :func:`derive` turns a :class:`~emolens.physio.readers.Recording` into intermediate
series once (beats with their intervals and amplitudes, smoothed and tonic EDA, SCR events,
smoothed temperature, acceleration magnitude); :func:`window_features` then aggregates any window
``[start, end)`` of them into the named :data:`FEATURES`. :func:`windows` lists the windows of a
recording (``window_s`` long, one every ``hop_s``); :class:`Baseline` holds a person's resting
level of each feature (the first ``baseline_s`` of the session, or a stored profile) that the
model compares every window with.

Units: times in unix seconds; heart rate in beats/min; intervals, RMSSD and SDNN in ms; EDA in
microsiemens; temperature in degrees C; acceleration in g; slopes per minute; SCR rate per minute.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from emolens.errors import DataError
from emolens.physio.readers import Events, Recording, Signal
from emolens.physio.signal import fill_gaps, local_maxima, smooth

__all__ = [
    "BVP_FEATURES",
    "FEATURES",
    "SERIES_FS",
    "Baseline",
    "Beats",
    "Derived",
    "PhysioOptions",
    "beats_from_bvp",
    "beats_from_ibi",
    "clean_ibi",
    "derive",
    "detect_beats",
    "detect_scrs",
    "eda_tonic",
    "feature_table",
    "hrv",
    "index_range",
    "respiration",
    "tachogram",
    "window_features",
    "window_means",
    "window_slopes",
    "window_stds",
    "windows",
]


@dataclass(frozen=True)
class PhysioOptions:
    """How recordings are cut into windows and turned into features.

    ``window_s``: the length of each window; ``hop_s``: the step between windows (one output per
    hop); ``baseline_s``: the first seconds of a session that make the person's baseline (their
    windows must fit in it); ``scr_min_amp``: the least rise (microsiemens) that counts as a skin
    conductance response; ``motion_g``: the movement (standard deviation of the acceleration
    magnitude in a window, g) above which a window is flagged ``motion`` and its BVP-derived
    features are discounted; ``min_coverage``: the least fraction of a window a channel must cover
    before it is flagged ``gap``; ``min_beat_coverage``: the least fraction of a window covered by
    plausible beat intervals before it is flagged ``noisy:bvp``.
    """

    window_s: float = 60.0
    hop_s: float = 1.0
    baseline_s: float = 180.0
    scr_min_amp: float = 0.02
    motion_g: float = 0.1
    min_coverage: float = 0.9
    min_beat_coverage: float = 0.5

    def __post_init__(self) -> None:
        if not (5.0 <= self.window_s <= 3600.0 and 0.1 <= self.hop_s <= self.window_s):
            raise DataError(
                f"the window must be 5 to 3600 s and the hop 0.1 s to one window, got {self.window_s} and {self.hop_s}"
            )
        if not self.window_s <= self.baseline_s < math.inf:
            raise DataError(
                f"the baseline ({self.baseline_s:g} s) must be at least one window ({self.window_s:g} s) long"
            )
        if not self.scr_min_amp > 0 or not self.motion_g > 0:
            raise DataError("scr_min_amp and motion_g must be positive")
        if not (0 < self.min_coverage <= 1 and 0 <= self.min_beat_coverage <= 1):
            raise DataError("min_coverage must be in (0, 1], min_beat_coverage in [0, 1]")

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PhysioOptions:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: float(v) for k, v in d.items() if k in names})


BVP_FEATURES = ("ibi_mean", "rmssd", "sdnn", "lf_power", "hf_power", "bvp_amp", "resp_rate", "resp_power")
"""The features that come from the BVP's beats and pulses (intervals, their variability, pulse
amplitude, respiration), in the order of :data:`FEATURES`; ``beat_coverage``, their quality, apart."""

FEATURES = (
    "hr",
    *BVP_FEATURES,
    "eda_tonic",
    "eda_slope",
    "eda_phasic",
    "eda_rise",
    "scr_rate",
    "scr_amp",
    "temp",
    "temp_slope",
    "acc_std",
    "beat_coverage",
)
"""Every window feature, in a fixed order:

``hr`` heart rate (beats/min: the device's HR channel when present, else from the beats);
``ibi_mean``, ``rmssd``, ``sdnn`` (ms) from the plausible beat intervals; ``bvp_amp`` the log of the
median pulse amplitude of the BVP; ``eda_tonic`` the mean slowly smoothed EDA (microsiemens);
``eda_slope`` its trend (microsiemens/min); ``scr_rate`` skin-conductance responses per minute
and ``scr_amp`` their mean amplitude (0 when none); ``temp`` mean skin temperature and
``temp_slope`` its trend (degrees C/min); ``acc_std`` movement, the standard deviation of the
acceleration magnitude (g); ``beat_coverage`` the fraction of the window covered by plausible beat
intervals (a quality measure).
"""


# ---------------------------------------------------------------- heart beats


@dataclass(frozen=True)
class Beats:
    """Detected heart beats: ``times`` (unix s), ``ibi`` (s, the interval from the beat before;
    NaN when implausible or the first beat) and ``amp`` (pulse amplitude, NaN when unknown)."""

    times: np.ndarray
    ibi: np.ndarray
    amp: np.ndarray


def detect_beats(bvp: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Heart beats in a BVP (PPG) signal: their times (s from the first sample) and pulse amplitudes.

    The signal is band-limited by two moving averages (a 0.2 s triangle against high-frequency
    noise, minus a 1.5 s triangle that removes the slow drift and breathing). Its local maxima
    above the drift, at least 0.3 s apart, whose amplitude (peak minus the trough before it) is at
    least a third of the median amplitude of their neighbours are the pulses. A beat's time is the
    steepest point of the upstroke before its peak (within 0.35 s; sub-sample, by a parabola through
    the slope's maximum): sharper than the rounded peak, so the intervals are more precise.
    """
    x = fill_gaps(np.asarray(bvp, dtype=np.float64))
    if len(x) < max(4, int(fs)):
        return np.zeros(0), np.zeros(0)
    lp = smooth(x, 0.1, fs)
    f = lp - smooth(lp, 0.75, fs)
    cand = local_maxima(f)
    cand = cand[f[cand] > 0]
    if len(cand) < 2:
        return np.zeros(0), np.zeros(0)
    gap = max(1, round(0.3 * fs))
    peaks = _keep_apart(cand, f[cand], gap)
    amp = _amplitudes(f, peaks)
    if len(peaks) >= 3:
        ref = _rolling_median(amp, 9)
        ok = amp >= ref / 3
        peaks = _keep_apart(peaks[ok], f[peaks[ok]], gap)
        amp = _amplitudes(f, peaks)
    return _upstrokes(f, peaks, fs), amp


def _upstrokes(f: np.ndarray, peaks: np.ndarray, fs: float) -> np.ndarray:
    """The time (s) of the steepest rise of ``f`` in the 0.35 s before each peak."""
    if len(peaks) == 0:
        return np.zeros(0)
    slope = np.gradient(f)
    m = max(2, round(0.35 * fs))
    offs = np.arange(-m, 0)
    idx = np.clip(peaks[:, None] + offs[None, :], 0, len(f) - 1)
    k = idx[np.arange(len(peaks)), np.argmax(slope[idx], axis=1)]
    inner = (k > 0) & (k < len(f) - 1)
    kk = np.clip(k, 1, len(f) - 2)
    y0, y1, y2 = slope[kk - 1], slope[kk], slope[kk + 1]
    den = y0 - 2 * y1 + y2
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(inner & (den < 0), 0.5 * (y0 - y2) / den, 0.0)
    out: np.ndarray = (k + np.clip(delta, -0.5, 0.5)) / fs
    return out


def _keep_apart(idx: np.ndarray, height: np.ndarray, min_gap: int) -> np.ndarray:
    """Of peaks closer than ``min_gap`` samples keep the higher one (greedy, in time order)."""
    keep_i: list[int] = []
    keep_h: list[float] = []
    for i, h in zip(idx.tolist(), height.tolist(), strict=True):
        if keep_i and i - keep_i[-1] < min_gap:
            if h > keep_h[-1]:
                keep_i[-1], keep_h[-1] = i, h
        else:
            keep_i.append(i)
            keep_h.append(h)
    return np.asarray(keep_i, dtype=np.int64)


def _amplitudes(f: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Each peak's height above the lowest sample since the peak before (or the start)."""
    if len(peaks) == 0:
        return np.zeros(0)
    starts = np.concatenate(([0], peaks[:-1]))
    mins = np.minimum.reduceat(f, starts) if len(f) else np.zeros(0)
    # reduceat over [start_k, start_{k+1}) = [peak_{k-1}, peak_k): the trough before each peak
    out: np.ndarray = f[peaks] - np.minimum(mins, f[peaks])
    return out


def _rolling_median(x: np.ndarray, n: int) -> np.ndarray:
    """The median of the ``n`` values centred on each (fewer at the ends; NaN ignored)."""
    if len(x) == 0:
        return x.copy()
    half = n // 2
    pad = np.concatenate((np.full(half, np.nan), x, np.full(half, np.nan)))
    win = np.lib.stride_tricks.sliding_window_view(pad, n)
    with np.errstate(all="ignore"):
        out: np.ndarray = np.nanmedian(win, axis=1) if np.isnan(win).any() else np.median(win, axis=1)
    return out


def clean_ibi(ibi: np.ndarray, lo: float = 0.33, hi: float = 1.5, tolerance: float = 0.2) -> np.ndarray:
    """``ibi`` (s) with implausible intervals set to NaN: outside ``[lo, hi]`` (180 to 40 beats/min),
    or more than ``tolerance`` away from the median of the 11 intervals around it (a missed or an
    extra beat)."""
    out = np.asarray(ibi, dtype=np.float64).copy()
    out[(out < lo) | (out > hi)] = np.nan
    if np.isnan(out).all():
        return out
    with np.errstate(all="ignore"):
        ref = _rolling_median(out, 11)
        out[np.abs(out - ref) > tolerance * ref] = np.nan
    return out


def beats_from_bvp(bvp: Signal) -> Beats:
    """The beats of a BVP channel with their cleaned intervals (see :func:`detect_beats`)."""
    t, amp = detect_beats(bvp.values, bvp.fs)
    ibi = np.full(len(t), np.nan)
    if len(t) > 1:
        ibi[1:] = clean_ibi(np.diff(t))
    return Beats(bvp.t0 + t, ibi, amp)


def beats_from_ibi(ibi: Events) -> Beats:
    """Beats from a device's inter-beat intervals (E4 ``IBI.csv``: the interval ending at each beat).

    The device leaves out beats it is unsure of; where a row's interval does not start at the
    previous row's beat, the beat it starts at is added with an unknown interval, so that RMSSD
    never takes the difference of two intervals that were not in a row.
    """
    t = np.asarray(ibi.times, dtype=np.float64)
    v = clean_ibi(ibi.values)
    if len(t) == 0:
        return Beats(t.copy(), v, np.zeros(0))
    starts = t - ibi.values
    joined = np.concatenate(([False], np.abs(starts[1:] - t[:-1]) < 0.05))
    add = starts[~joined]
    times = np.concatenate((t, add))
    vals = np.concatenate((v, np.full(len(add), np.nan)))
    order = np.argsort(times, kind="stable")
    return Beats(times[order], vals[order], np.full(len(times), np.nan))


def hrv(times: np.ndarray, ibi: np.ndarray) -> dict[str, float]:
    """Mean interval, RMSSD and SDNN (ms) and heart rate (beats/min) of the plausible intervals
    ``ibi`` (s; NaN = implausible) of beats at ``times``. RMSSD uses only successive differences of
    two plausible intervals in a row. NaN where there are too few."""
    ok = ~np.isnan(ibi)
    out = {"ibi_mean": math.nan, "rmssd": math.nan, "sdnn": math.nan, "hr_beats": math.nan}
    if ok.sum() >= 2:
        v = ibi[ok]
        out["ibi_mean"] = float(v.mean() * 1000)
        out["sdnn"] = float(v.std(ddof=1) * 1000)
        out["hr_beats"] = float(60.0 / v.mean())
    pair = ok[1:] & ok[:-1]
    if pair.sum() >= 2:
        d = np.diff(ibi)[pair]
        out["rmssd"] = float(np.sqrt(np.mean(d**2)) * 1000)
    return out


# ---------------------------------------------------------------- electrodermal activity


def eda_tonic(eda: np.ndarray, fs: float, seconds: float = 10.0) -> np.ndarray:
    """The tonic (slowly varying) level of EDA: a ``seconds``-long triangular moving average."""
    return smooth(fill_gaps(eda), seconds / 2, fs)


def detect_scrs(eda: np.ndarray, fs: float, min_amp: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Skin-conductance responses: their peak times (s from the first sample) and amplitudes.

    On EDA smoothed over 1 s, a response is a rise of at least ``min_amp`` microsiemens from the
    lowest point since the last response, peaking where the signal next falls ``min_amp / 2``
    below its highest point (a hysteresis: small wiggles on a rise are not responses).
    """
    s = smooth(fill_gaps(np.asarray(eda, dtype=np.float64)), 0.5, fs)
    times: list[float] = []
    amps: list[float] = []
    if len(s) < 2:
        return np.zeros(0), np.zeros(0)
    drop = min_amp / 2
    lo = hi = float(s[0])
    hi_i = 0
    rising = False
    for i, v in enumerate(s.tolist()):
        if rising:
            if v > hi:
                hi, hi_i = v, i
            elif hi - v >= drop:
                times.append(hi_i / fs)
                amps.append(hi - lo)
                rising, lo = False, v
        else:
            if v < lo:
                lo = v
            elif v - lo >= min_amp:
                rising, hi, hi_i = True, v, i
    return np.asarray(times), np.asarray(amps)


# ---------------------------------------------------------------- derived series

SERIES_FS = 4.0
"""The rate (Hz) of the derived tachogram and respiration series."""


@dataclass(frozen=True)
class Derived:
    """The intermediate series of a recording that window features are aggregated from.

    ``beats`` (from BVP, else from the device's IBI); ``tacho`` the beat intervals (ms) at
    :data:`SERIES_FS` Hz, linearly interpolated between plausible beats; ``resp`` the breathing
    band (about 0.1 to 0.7 Hz) of the BVP at :data:`SERIES_FS` Hz; ``eda`` smoothed over 1 s;
    ``eda_tonic``; ``scr`` (peak times, amplitudes); ``temp`` smoothed over 2 s; ``acc`` the
    acceleration magnitude in g; ``hr`` the device's heart rate. None where the channel is absent.
    """

    recording: Recording
    beats: Beats | None = None
    tacho: Signal | None = None
    resp: Signal | None = None
    eda: Signal | None = None
    eda_tonic: Signal | None = None
    scr: Events | None = None
    temp: Signal | None = None
    acc: Signal | None = None
    hr: Signal | None = None


def tachogram(beats: Beats, t0: float, t_end: float, fs: float = SERIES_FS) -> Signal | None:
    """The plausible beat intervals (ms) sampled at ``fs`` from ``t0`` to ``t_end``, linearly
    interpolated between beats (constant beyond the first and last); None without two of them."""
    ok = ~np.isnan(beats.ibi)
    if ok.sum() < 2:
        return None
    n = max(0, int((t_end - t0) * fs))
    grid = t0 + np.arange(n) / fs
    return Signal(t0, fs, np.interp(grid, beats.times[ok], beats.ibi[ok] * 1000.0))


def respiration(bvp: Signal, fs: float = SERIES_FS) -> Signal:
    """The breathing band of a BVP signal (its baseline and amplitude sway with each breath):
    a 1 s triangle (which removes the pulse) minus an 8 s triangle (the drift), resampled to ``fs``."""
    x = fill_gaps(bvp.values)
    lp = smooth(x, 1.0, bvp.fs)
    band = lp - smooth(lp, 4.0, bvp.fs)
    step = bvp.fs / fs
    idx = np.arange(0, len(band) - 1e-9, step).astype(np.int64) if len(band) else np.zeros(0, dtype=np.int64)
    return Signal(bvp.t0, fs, band[idx])


def derive(rec: Recording, options: PhysioOptions | None = None) -> Derived:
    """The intermediate series of ``rec`` (see :class:`Derived`)."""
    opts = options or PhysioOptions()
    beats: Beats | None = None
    resp = None
    bvp = rec.signal("bvp")
    if bvp is not None and len(bvp) > 1:
        beats = beats_from_bvp(bvp)
        resp = respiration(bvp)
    else:
        ibi = rec.events("ibi")
        if ibi is not None and len(ibi) > 0:
            beats = beats_from_ibi(ibi)
    tacho = tachogram(beats, rec.t0, rec.t_end) if beats is not None else None
    eda = eda_t = None
    scr = None
    e = rec.signal("eda")
    if e is not None and len(e) > 1:
        eda = Signal(e.t0, e.fs, smooth(fill_gaps(e.values), 0.5, e.fs))
        eda_t = Signal(e.t0, e.fs, eda_tonic(e.values, e.fs))
        st, sa = detect_scrs(e.values, e.fs, opts.scr_min_amp)
        scr = Events(e.t0 + st, sa)
    temp = None
    tp = rec.signal("temp")
    if tp is not None and len(tp) > 1:
        temp = Signal(tp.t0, tp.fs, smooth(fill_gaps(tp.values), 1.0, tp.fs))
    acc = None
    a = rec.signal("acc")
    if a is not None and len(a) > 1:
        v = fill_gaps_2d(a.values.reshape(len(a), -1))
        acc = Signal(a.t0, a.fs, np.sqrt(np.sum(v**2, axis=1)) / 64.0)
    hr = rec.signal("hr")
    if hr is not None and len(hr) > 0:
        v = hr.values.astype(np.float64).copy()
        v[~(v > 0)] = np.nan  # an unplugged sensor reads 0
        hr = Signal(hr.t0, hr.fs, v)
    else:
        hr = None
    return Derived(rec, beats, tacho, resp, eda, eda_t, scr, temp, acc, hr)


def fill_gaps_2d(v: np.ndarray) -> np.ndarray:
    """:func:`~emolens.physio.signal.fill_gaps` on each column."""
    v = np.asarray(v, dtype=np.float64)
    return np.stack([fill_gaps(v[:, j]) for j in range(v.shape[1])], axis=1) if v.size else v.reshape(0, v.shape[1])


# ---------------------------------------------------------------- windows


def windows(t0: float, t_end: float, options: PhysioOptions | None = None) -> Iterator[tuple[float, float]]:
    """The windows ``(start, end)`` of ``window_s`` that fit in ``[t0, t_end]``, one every ``hop_s``."""
    opts = options or PhysioOptions()
    n = math.floor((t_end - t0 - opts.window_s) / opts.hop_s + 1e-9) + 1
    for k in range(max(0, n)):
        s = t0 + k * opts.hop_s
        yield s, s + opts.window_s


def index_range(sig: Signal, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sample indices ``[i0, i1)`` of ``sig`` inside each window ``[start, end)``."""
    n = len(sig)
    i0 = np.clip(np.ceil((starts - sig.t0) * sig.fs - 1e-9), 0, n).astype(np.int64)
    i1 = np.clip(np.ceil((ends - sig.t0) * sig.fs - 1e-9), 0, n).astype(np.int64)
    return i0, np.maximum(i0, i1)


def _csum(x: np.ndarray) -> np.ndarray:
    return np.concatenate(([0.0], np.cumsum(x, dtype=np.float64)))


def window_means(sig: Signal, starts: np.ndarray, ends: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
    """The mean of ``values`` (default: the signal's samples; NaN ignored) in each window."""
    v = sig.values if values is None else values
    i0, i1 = index_range(sig, starts, ends)
    ok = ~np.isnan(v)
    c, n = _csum(np.where(ok, v, 0.0)), _csum(ok)
    cnt = n[i1] - n[i0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, (c[i1] - c[i0]) / cnt, np.nan)


def window_stds(sig: Signal, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The standard deviation of the samples (no NaN) in each window; NaN under two samples."""
    v = sig.values - float(np.mean(sig.values)) if len(sig) else sig.values
    i0, i1 = index_range(sig, starts, ends)
    c, c2 = _csum(v), _csum(v * v)
    cnt = (i1 - i0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = (c[i1] - c[i0]) / cnt
        var = (c2[i1] - c2[i0]) / cnt - m * m
    return np.where(cnt > 1, np.sqrt(np.maximum(var, 0.0)), np.nan)


def window_slopes(sig: Signal, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The least-squares slope (per second) of the samples (no NaN) in each window."""
    v = sig.values - float(np.mean(sig.values)) if len(sig) else sig.values
    i0, i1 = index_range(sig, starts, ends)
    k = np.arange(len(v), dtype=np.float64)
    cy, cky = _csum(v), _csum(k * v)
    n = (i1 - i0).astype(np.float64)
    sy = cy[i1] - cy[i0]
    sky = cky[i1] - cky[i0] - i0 * sy  # sum of (k - i0) * y
    sk = n * (n - 1) / 2
    skk = (n - 1) * n * (2 * n - 1) / 6
    den = n * skk - sk * sk
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 1, (n * sky - sk * sy) / den * sig.fs, np.nan)


def _band_powers(
    sig: Signal, starts: np.ndarray, ends: np.ndarray, bands: list[tuple[float, float]], peak: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """For each window: the power in each band (log, of the detrended, Hann-tapered samples) and
    the frequency (Hz) of the highest spectral peak in ``peak``. Windows must have equal length."""
    n_w = len(starts)
    out = np.full((n_w, len(bands)), np.nan)
    freq = np.full(n_w, np.nan)
    if n_w == 0 or len(sig) < 8:
        return out, freq
    i0, i1 = index_range(sig, starts, ends)
    m = int(round(float(np.median(ends - starts)) * sig.fs))
    if m < 8:
        return out, freq
    f = np.fft.rfftfreq(m, 1.0 / sig.fs)
    taper = np.hanning(m)
    k = np.arange(m) - (m - 1) / 2
    full = (i1 - i0) >= m
    rows = np.flatnonzero(full)
    view = np.lib.stride_tricks.sliding_window_view(sig.values, m) if len(sig) >= m else np.zeros((0, m))
    for chunk in np.array_split(rows, max(1, len(rows) // 1024 + 1)):
        if len(chunk) == 0:
            continue
        seg = view[np.minimum(i1[chunk] - m, len(view) - 1)]
        seg = seg - seg.mean(axis=1, keepdims=True)
        seg = seg - np.outer((seg @ k) / float(k @ k), k)
        spec = np.abs(np.fft.rfft(seg * taper, axis=1)) ** 2 / (sig.fs * float(taper @ taper))
        for j, (lo, hi) in enumerate(bands):
            sel = (f >= lo) & (f < hi)
            out[chunk, j] = np.log(np.sum(spec[:, sel], axis=1) * (f[1] - f[0]) + 1e-6)
        in_peak = np.flatnonzero((f >= peak[0]) & (f <= peak[1]))
        freq[chunk] = f[in_peak[np.argmax(spec[:, in_peak], axis=1)]]
    return out, freq


def feature_table(d: Derived, starts: np.ndarray, ends: np.ndarray, options: PhysioOptions | None = None) -> np.ndarray:
    """The :data:`FEATURES` (columns, in order) of every window ``[starts[i], ends[i])`` (rows);
    NaN where a channel gives nothing. Vectorised: one pass over each series for all windows."""
    del options
    starts = np.asarray(starts, dtype=np.float64)
    ends = np.asarray(ends, dtype=np.float64)
    span = ends - starts
    out = np.full((len(starts), len(FEATURES)), np.nan)
    col = {name: j for j, name in enumerate(FEATURES)}
    hr_beats = np.full(len(starts), np.nan)
    if d.beats is not None and len(d.beats.times):
        b = d.beats
        i0, i1 = np.searchsorted(b.times, starts), np.searchsorted(b.times, ends)
        ok = ~np.isnan(b.ibi)
        v = np.where(ok, b.ibi, 0.0)
        mu = float(v[ok].mean()) if ok.any() else 0.0
        vc = np.where(ok, b.ibi - mu, 0.0)
        cn, cs, cs2 = _csum(ok), _csum(vc), _csum(vc * vc)
        cnt = cn[i1] - cn[i0]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_c = (cs[i1] - cs[i0]) / cnt
            var = ((cs2[i1] - cs2[i0]) - cnt * mean_c**2) / (cnt - 1)
            out[:, col["ibi_mean"]] = np.where(cnt >= 2, (mean_c + mu) * 1000, np.nan)
            out[:, col["sdnn"]] = np.where(cnt >= 2, np.sqrt(np.maximum(var, 0)) * 1000, np.nan)
            hr_beats = np.where(cnt >= 2, 60.0 / (mean_c + mu), np.nan)
            # successive differences: pair k joins intervals k-1 and k, both plausible
            pair = np.zeros(len(b.ibi), dtype=bool)
            pair[1:] = ok[1:] & ok[:-1]
            dd = np.zeros(len(b.ibi))
            dd[1:] = np.where(pair[1:], np.diff(np.where(ok, b.ibi, 0.0)) ** 2, 0.0)
            cp, cd = _csum(pair), _csum(dd)
            j0 = np.minimum(i0 + 1, i1)
            pc = cp[i1] - cp[j0]
            out[:, col["rmssd"]] = np.where(pc >= 2, np.sqrt((cd[i1] - cd[j0]) / pc) * 1000, np.nan)
            out[:, col["beat_coverage"]] = np.clip((cs[i1] - cs[i0] + cnt * mu) / span, 0, 1)
            amp_ok = ok & ~np.isnan(b.amp) & (b.amp > 0)
            la = np.where(amp_ok, np.log(np.where(amp_ok, b.amp, 1.0)), 0.0)
            ca, cna = _csum(la), _csum(amp_ok)
            na = cna[i1] - cna[i0]
            out[:, col["bvp_amp"]] = np.where(na >= 3, (ca[i1] - ca[i0]) / na, np.nan)
    else:
        out[:, col["beat_coverage"]] = 0.0
    if d.hr is not None:
        hr = window_means(d.hr, starts, ends)
        out[:, col["hr"]] = np.where(np.isnan(hr), hr_beats, hr)
    else:
        out[:, col["hr"]] = hr_beats
    if d.tacho is not None:
        p, _ = _band_powers(d.tacho, starts, ends, [(0.04, 0.15), (0.15, 0.4)], (0.1, 0.5))
        out[:, col["lf_power"]] = p[:, 0]
        out[:, col["hf_power"]] = p[:, 1]
    if d.resp is not None:
        p, f = _band_powers(d.resp, starts, ends, [(0.1, 0.7)], (0.1, 0.7))
        out[:, col["resp_power"]] = p[:, 0]
        out[:, col["resp_rate"]] = f * 60.0
    if d.eda_tonic is not None and d.eda is not None and d.scr is not None:
        out[:, col["eda_tonic"]] = window_means(d.eda_tonic, starts, ends)
        out[:, col["eda_slope"]] = window_slopes(d.eda, starts, ends) * 60.0
        phasic = Signal(d.eda.t0, d.eda.fs, d.eda.values - d.eda_tonic.values)
        out[:, col["eda_phasic"]] = window_stds(phasic, starts, ends)
        rise = np.concatenate(([0.0], np.maximum(np.diff(d.eda.values), 0.0))) * d.eda.fs * 60.0
        out[:, col["eda_rise"]] = window_means(d.eda, starts, ends, rise)
        k0, k1 = np.searchsorted(d.scr.times, starts), np.searchsorted(d.scr.times, ends)
        ca = _csum(d.scr.values)
        nscr = k1 - k0
        out[:, col["scr_rate"]] = nscr / span * 60.0
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, col["scr_amp"]] = np.where(nscr > 0, (ca[k1] - ca[k0]) / nscr, 0.0)
    if d.temp is not None:
        out[:, col["temp"]] = window_means(d.temp, starts, ends)
        out[:, col["temp_slope"]] = window_slopes(d.temp, starts, ends) * 60.0
    if d.acc is not None:
        out[:, col["acc_std"]] = window_stds(d.acc, starts, ends)
    return out


def window_features(d: Derived, start: float, end: float, options: PhysioOptions | None = None) -> dict[str, float]:
    """The :data:`FEATURES` of one window ``[start, end)`` by name (NaN where a channel gives nothing)."""
    row = feature_table(d, np.array([start]), np.array([end]), options)[0]
    return {name: float(v) for name, v in zip(FEATURES, row, strict=True)}


# ---------------------------------------------------------------- baseline


@dataclass(frozen=True)
class Baseline:
    """A person's profile: the running ``mean`` and ``std`` of each feature (in the model's
    transformed units, NaN when the channel gave nothing) over ``seconds`` of their windows
    (``windows`` of them). Made by :meth:`~emolens.physio.normalise.PersonNormaliser.profile` at the
    end of a session; given to a later session it replaces the baseline period."""

    mean: dict[str, float]
    std: dict[str, float]
    windows: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        def clean(d: dict[str, float]) -> dict[str, float | None]:
            return {k: (None if math.isnan(v) else v) for k, v in d.items()}

        return {"mean": clean(self.mean), "std": clean(self.std), "windows": self.windows, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Baseline:
        def fix(m: Mapping[str, Any]) -> dict[str, float]:
            return {str(k): (math.nan if v is None else float(v)) for k, v in m.items()}

        try:
            return cls(fix(d["mean"]), fix(d["std"]), int(d.get("windows", 0)), float(d.get("seconds", 0.0)))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise DataError(f"a baseline profile needs 'mean' and 'std' objects of numbers: {e}") from None
