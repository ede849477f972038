"""Stress and arousal from wristband signals, per window: recorded files and live streams.

    from emolens.physio import PhysioRecognizer

    pr = PhysioRecognizer()                          # the shipped model
    for r in pr.predict("raw/S21"):                  # an E4 folder, or a CSV of samples
        print(r.t_end, r.p_stress, r.arousal, r.quality)

    live = pr.stream()                               # live: push samples as they come
    for reading in live.push("eda", t=1700000000.0, values=[0.41, 0.42, 0.42, 0.43], fs=4.0):
        ...

Each :class:`PhysioReading` covers one window (``window_s``, default 60 s; one every ``hop_s``,
default 1 s) that ends after the person's baseline (the first ``baseline_s``, default 180 s, of
the session; or none with a stored profile). ``p_stress`` is the model's probability that the
window is a stress task rather than rest; ``arousal`` is how activated the body is against the
person's usual level in this session (0.5 = usual; see :func:`emolens.physio.pipeline.arousal`);
``quality`` lists the flags of :mod:`emolens.physio.quality` (empty = clean).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import DataError
from emolens.physio.features import FEATURES, Baseline, PhysioOptions, derive, feature_table
from emolens.physio.model import StressModel, load_model, sigmoid
from emolens.physio.normalise import PersonNormaliser
from emolens.physio.pipeline import WindowTable, analyse, arousal, normalise_windows
from emolens.physio.quality import quality_table
from emolens.physio.readers import CHANNELS, Events, Recording, Signal, read_csv, read_e4, read_recording

__all__ = ["E4_RATES", "LOOKAHEAD_S", "PhysioReading", "PhysioRecognizer", "PhysioStream"]

log = logging.getLogger(__name__)

E4_RATES = {"hr": 1.0, "bvp": 64.0, "eda": 4.0, "temp": 4.0, "acc": 32.0}
"""The Empatica E4's sample rates (Hz): the default when a live push gives none."""

LOOKAHEAD_S = 5.0
"""Seconds of signal after a window's end that a live stream waits for (the smoothing filters
are centred), so that live windows match those of a recorded file."""

MARGIN_S = 30.0
"""Seconds of signal before a window that a live stream keeps, for the filters to settle."""

MIN_RATE = 0.1
"""The slowest sample rate (Hz) a live push may give: a sample every 10 s (the E4's slowest channel,
heart rate, is 1 Hz). A rate far below makes a few samples span years."""

MAX_RATE = 10_000.0
"""The fastest sample rate (Hz) a live push may give."""

SKIP_GAP_S = 600.0
"""A live stream skips, rather than reports window by window, a stretch with no sample at all
longer than this (a wristband off for the night, a clock that jumped): one warning instead of a
reading every hop, and no loop over years of empty windows."""


@dataclass(frozen=True)
class PhysioReading(Mapping[str, Any]):
    """One window's result (see the module). ``features``: the window's raw features by name
    (:data:`~emolens.physio.features.FEATURES`; NaN where unknown); ``stressed``: ``p_stress``
    at or above the model's threshold.

    It is also a read-only mapping: ``r["p_stress"]``, ``r["t_start"]``, ``r["quality"]``,
    ``r["hr"]``..., ``dict(r)``: the fields and every feature by name, unrounded (see
    :meth:`as_dict` for the rounded, JSON-ready form).
    """

    t_start: float
    t_end: float
    p_stress: float
    arousal: float
    stressed: bool
    quality: tuple[str, ...] = ()
    features: dict[str, float] = field(default_factory=dict)

    def _fields(self) -> dict[str, Any]:
        return {
            "t_start": self.t_start,
            "t_end": self.t_end,
            "p_stress": self.p_stress,
            "arousal": self.arousal,
            "stressed": self.stressed,
            "quality": self.quality,
            **self.features,
        }

    def __getitem__(self, key: str) -> Any:
        return self._fields()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields())

    def __len__(self) -> int:
        return 6 + len(self.features)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``t_start``, ``t_end`` (unix s), ``p_stress``, ``arousal``,
        ``stressed``, ``quality`` (list of flags) and every feature by name (None when unknown)."""
        out: dict[str, Any] = {
            "t_start": round(self.t_start, 3),
            "t_end": round(self.t_end, 3),
            "p_stress": round(self.p_stress, 4),
            "arousal": round(self.arousal, 4),
            "stressed": self.stressed,
            "quality": list(self.quality),
        }
        for k, v in self.features.items():
            out[k] = None if math.isnan(v) else round(v, 4)
        return out


class PhysioRecognizer:
    """Stress and arousal per window from wristband signals (see the module).

    ``model``: a model file (default: the shipped ``emolens-physio-stress``) or a loaded
    :class:`~emolens.physio.model.StressModel`; ``options``: windowing and quality settings (default:
    those the model was trained with: 60 s windows, 1 s hop, 180 s baseline); ``profile``: a stored
    :class:`~emolens.physio.features.Baseline` of this person (or its JSON file) instead of the
    baseline period, so that every window gets a result.
    """

    def __init__(
        self,
        model: str | Path | StressModel | None = None,
        options: PhysioOptions | None = None,
        profile: Baseline | str | Path | None = None,
    ) -> None:
        self.model = model if isinstance(model, StressModel) else load_model(model)
        self.options = options or self.model.options
        if abs(self.options.window_s - self.model.options.window_s) > 1e-9:
            log.warning(
                "the model was trained on %g s windows; results on %g s windows are less reliable",
                self.model.options.window_s,
                self.options.window_s,
            )
        if isinstance(profile, (str, Path)):
            profile = load_profile(profile)
        self.profile = profile

    # ------------------------------------------------------------ recordings

    def predict(self, path: str | Path) -> list[PhysioReading]:
        """The readings of an E4 export folder or a CSV of samples."""
        return self.predict_recording(read_recording(path))

    def predict_e4(self, folder: str | Path) -> list[PhysioReading]:
        """The readings of an E4 export folder."""
        return self.predict_recording(read_e4(folder))

    def predict_csv(self, path: str | Path) -> list[PhysioReading]:
        """The readings of a CSV of timestamped samples (see :mod:`emolens.physio.readers`)."""
        return self.predict_recording(read_csv(path))

    def predict_recording(self, rec: Recording) -> list[PhysioReading]:
        """The readings of a recording (empty when it is shorter than the baseline); a DataError
        when it has no channel at all."""
        if not rec.channels:
            raise DataError(f"{rec.source or 'the recording'} has no channel with samples")
        table = analyse(rec, self.options)
        readings, _ = self._readings(table, self._normaliser())
        if not readings:
            log.warning(
                "%s: %.0f s of signal give no window after the %g s baseline",
                rec.source or "recording",
                rec.t_end - rec.t0 if len(rec.channels) else 0.0,
                self.options.baseline_s,
            )
        return readings

    def profile_of(self, path: str | Path | Recording) -> Baseline:
        """The person's profile at the end of a recording, to start a later session with."""
        rec = path if isinstance(path, Recording) else read_recording(path)
        norm = self._normaliser()
        self._readings(analyse(rec, self.options), norm)
        return norm.profile()

    def _normaliser(self) -> PersonNormaliser:
        spec, hop = self.model.spec, self.options.hop_s
        return PersonNormaliser.from_profile(spec, hop, self.profile) if self.profile else PersonNormaliser(spec, hop)

    def _readings(
        self, table: WindowTable, norm: PersonNormaliser, state: float | None = None
    ) -> tuple[list[PhysioReading], float | None]:
        n = normalise_windows(table, self.model.spec, self.options, norm)
        if self.profile is not None:
            idx = np.arange(len(table))
        else:
            idx = np.flatnonzero(table.ends >= table.t0 + self.options.baseline_s - 1e-6)
        if len(idx) == 0:
            return [], state
        logits = self.model.smooth(self.model.logit(n.inputs[idx]), self.options.hop_s, state)
        p = sigmoid(logits)
        ar = arousal(n.z[idx], self.model.spec)
        out = [
            PhysioReading(
                t_start=float(table.starts[i]),
                t_end=float(table.ends[i]),
                p_stress=float(p[k]),
                arousal=float(ar[k]),
                stressed=bool(p[k] >= self.model.threshold),
                quality=tuple(table.flags[i]),
                features={f: float(v) for f, v in zip(FEATURES, table.features[i], strict=True)},
            )
            for k, i in enumerate(idx)
        ]
        return out, float(logits[-1])

    # ------------------------------------------------------------ live

    def stream(self, t0: float | None = None) -> PhysioStream:
        """A live stream for one person: push samples, get the windows they complete."""
        return PhysioStream(self, t0=t0)


def load_profile(path: str | Path) -> Baseline:
    """A profile stored as JSON (:meth:`Baseline.as_dict`)."""
    import json

    path = Path(path)
    try:
        return Baseline.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise DataError(f"{path}: no such profile file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a JSON profile: {e}") from None


def _numbers(x: Any, what: str) -> np.ndarray:
    """``x`` as float64 numbers; a DataError naming ``what`` when it is not numbers."""
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{what} must be numbers, got {str(x)[:60]!r}") from None


class _Buffer:
    """The recent samples of one regular channel on a regular grid (NaN where samples were missed)."""

    def __init__(self, t0: float, fs: float, width: int) -> None:
        self.t0 = t0
        self.fs = fs
        self.width = width
        self.values = np.zeros((0, width)) if width > 1 else np.zeros(0)

    @property
    def t_end(self) -> float:
        return self.t0 + len(self.values) / self.fs

    def add(self, t: float, v: np.ndarray) -> None:
        start = round((t - self.t0) * self.fs)
        have = len(self.values)
        if start > have:  # a gap: samples were missed
            pad = np.full((start - have, *v.shape[1:]), np.nan)
            self.values = np.concatenate((self.values, pad, v))
        elif start + len(v) > have:  # overlaps what we have: keep the new part only
            self.values = np.concatenate((self.values, v[have - start :]))

    def trim(self, before: float) -> None:
        k = int(math.floor((before - self.t0) * self.fs))
        if k > 0:
            k = min(k, len(self.values))
            self.values = self.values[k:]
            self.t0 += k / self.fs

    def signal(self, start: float, end: float) -> Signal | None:
        i0 = max(0, math.ceil((start - self.t0) * self.fs - 1e-9))
        i1 = min(len(self.values), math.ceil((end - self.t0) * self.fs - 1e-9))
        if i1 - i0 < 2:
            return None
        return Signal(self.t0 + i0 / self.fs, self.fs, self.values[i0:i1])


class PhysioStream:
    """A live stream for one person (see :meth:`PhysioRecognizer.stream`).

    :meth:`push` takes a chunk of samples of one channel and returns the readings of the windows
    that chunk completed: one per hop once a window is full, the baseline is known and
    :data:`LOOKAHEAD_S` more seconds have arrived (or every channel that has sent anything lags by
    more than ``wait_s``; then the late channel's part is a gap). Windows are aligned on ``t0``
    (default: the first sample pushed). Samples older than what was processed are ignored;
    missed samples become gaps; a channel that never arrives is flagged ``missing``.
    """

    def __init__(self, recognizer: PhysioRecognizer, t0: float | None = None, wait_s: float = 10.0) -> None:
        self.rec = recognizer
        self.options = recognizer.options
        self.t0 = t0
        self.wait_s = wait_s
        self._buffers: dict[str, _Buffer] = {}
        self._ibi_t: list[float] = []
        self._ibi_v: list[float] = []
        self._norm = recognizer._normaliser()
        self._state: float | None = None
        self._next_end: float | None = None if t0 is None else t0 + self.options.window_s
        self._latest = -math.inf

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels that have sent samples so far."""
        return tuple(c for c in CHANNELS if c in self._buffers or (c == "ibi" and self._ibi_t))

    def push(
        self,
        channel: str,
        t: float | Sequence[float] | np.ndarray,
        values: Sequence[Any] | np.ndarray,
        fs: float | None = None,
    ) -> list[PhysioReading]:
        """Add samples of ``channel`` and return the readings of the windows they complete.

        Regular channels (``hr``, ``bvp``, ``eda``, ``temp``, ``acc``): ``t`` is the unix time of
        the first sample, ``values`` the samples (``acc``: rows of x, y, z in 1/64 g), ``fs`` the
        rate in Hz (default: the E4's). ``ibi``: ``t`` the times of the beats, ``values`` the
        intervals (s) ending at them. Raises DataError on malformed input.
        """
        if channel not in CHANNELS:
            raise DataError(f"unknown channel {channel!r}: one of {', '.join(CHANNELS)}")
        if channel == "ibi":
            tt = np.atleast_1d(_numbers(t, "ibi: the beat times"))
            vv = np.atleast_1d(_numbers(values, "ibi: the intervals"))
            if tt.shape != vv.shape or tt.ndim != 1:
                raise DataError("ibi needs as many beat times as intervals")
            if not (np.isfinite(tt).all() and np.isfinite(vv).all() and (vv > 0).all()):
                raise DataError("ibi: beat times must be finite and intervals finite and above 0 s")
            last = self._ibi_t[-1] if self._ibi_t else -math.inf
            keep = tt > last
            self._ibi_t.extend(tt[keep].tolist())
            self._ibi_v.extend(vv[keep].tolist())
            if len(tt):
                self._seen(float(tt[0]), float(tt[-1]))
            return self._process()
        rate = _numbers(fs, f"{channel}: the rate").item() if fs is not None else E4_RATES[channel]
        width = 3 if channel == "acc" else 1
        v = _numbers(values, f"{channel}: the samples")
        if width == 3 and (v.ndim != 2 or v.shape[1] != 3) and v.size:
            raise DataError("acc samples are rows of three values (x, y, z)")
        if width == 1 and v.ndim != 1:
            raise DataError(f"{channel} samples are a flat list of numbers")
        if not MIN_RATE <= rate <= MAX_RATE:
            raise DataError(f"{channel}: the rate must be {MIN_RATE:g} to {MAX_RATE:g} Hz, got {fs}")
        if not np.isfinite(v).all():
            raise DataError(f"{channel}: the samples must be finite numbers (a missing sample is a gap in time)")
        tv = _numbers(t, f"{channel}: the time")
        t_first = float(tv.reshape(-1)[0]) if tv.size else math.nan
        if not math.isfinite(t_first):
            raise DataError(f"{channel}: the time of the first sample must be a number")
        if len(v) == 0:
            return []
        buf = self._buffers.get(channel)
        if buf is None or abs(buf.fs - rate) > 1e-9 or t_first - buf.t_end > self.options.window_s + MARGIN_S:
            buf = self._buffers[channel] = _Buffer(t_first, rate, width)
        buf.add(t_first, v)
        self._seen(t_first, t_first + len(v) / rate)
        return self._process()

    def feed(self, samples: Iterable[tuple[str, Any, Any, float | None]]) -> Iterator[PhysioReading]:
        """Push ``(channel, t, values, fs)`` tuples in turn, yielding the readings as they come."""
        for channel, t, values, fs in samples:
            yield from self.push(channel, t, values, fs)

    def flush(self) -> list[PhysioReading]:
        """The readings of the windows that the samples so far fill, without waiting for more
        (at the end of a recording)."""
        return self._process(final=True)

    def profile(self) -> Baseline:
        """The person's profile so far (to store and start a later session with)."""
        return self._norm.profile()

    def _seen(self, start: float, end: float) -> None:
        if self.t0 is None:
            self.t0 = start
            self._next_end = start + self.options.window_s
        self._latest = max(self._latest, end)

    def _horizon(self, final: bool) -> float:
        ends = [b.t_end for b in self._buffers.values()]
        if self._ibi_t:
            ends.append(self._ibi_t[-1])
        if not ends:
            return -math.inf
        if final:
            return max(ends)
        return max(min(ends), max(ends) - self.wait_s) - LOOKAHEAD_S

    def _process(self, final: bool = False) -> list[PhysioReading]:
        if self._next_end is None or self.t0 is None:
            return []
        horizon = self._horizon(final)
        out: list[PhysioReading] = []
        opts = self.options
        while self._next_end <= horizon + 1e-9:
            end = self._next_end
            start = end - opts.window_s
            data = self._next_data(start - MARGIN_S)
            if data is not None and data - end > max(SKIP_GAP_S, 2 * opts.window_s):  # nothing for long: go there
                k = math.floor((data - end - opts.window_s) / opts.hop_s)
                log.warning("physio stream: no samples for %.0f s; %d empty windows skipped", data - start, k)
                self._next_end = end + k * opts.hop_s
                continue
            out.extend(self._window(start, end))
            self._next_end = end + opts.hop_s
        keep_from = self._next_end - opts.window_s - MARGIN_S
        for b in self._buffers.values():
            b.trim(keep_from)
        if self._ibi_t and self._ibi_t[0] < keep_from:
            k = int(np.searchsorted(self._ibi_t, keep_from))
            del self._ibi_t[:k], self._ibi_v[:k]
        return out

    def _next_data(self, t: float) -> float | None:
        """The earliest time at or after ``t`` that any channel has a sample for; None when none has."""
        times = []
        for b in self._buffers.values():
            if b.t_end > t:
                times.append(max(b.t0, t))
        if self._ibi_t and self._ibi_t[-1] >= t:
            times.append(float(self._ibi_t[int(np.searchsorted(self._ibi_t, t))]))
        return min(times) if times else None

    def _window(self, start: float, end: float) -> list[PhysioReading]:
        lo, hi = start - MARGIN_S, end + LOOKAHEAD_S
        channels: dict[str, Signal | Events] = {}
        for name, b in self._buffers.items():
            s = b.signal(lo, hi)
            if s is not None:
                channels[name] = s
        if self._ibi_t:
            ti = np.asarray(self._ibi_t)
            m = (ti >= lo) & (ti < hi)
            if m.any():
                channels["ibi"] = Events(ti[m], np.asarray(self._ibi_v)[m])
        rec = Recording(channels, source="stream", missing=tuple(c for c in CHANNELS if c not in channels))
        st, en = np.array([start]), np.array([end])
        if channels:
            d = derive(rec, self.options)
            feats = feature_table(d, st, en, self.options)
            flags = quality_table(d, st, en, feats, self.options)
        else:
            feats = np.full((1, len(FEATURES)), np.nan)
            flags = [[f"missing:{c}" for c in ("hr", "bvp", "eda", "temp", "acc")]]
        table = WindowTable(self.t0 if self.t0 is not None else start, st, en, feats, flags)
        readings, self._state = self.rec._readings(table, self._norm, self._state)
        return readings
