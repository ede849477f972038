"""Reading wristband recordings: an Empatica E4 export folder, or a plain CSV of timestamped samples.

Both give a :class:`Recording`: a frozen record of channels named ``hr`` (beats/min), ``bvp``
(PPG, arbitrary units), ``eda`` (microsiemens), ``temp`` (degrees C), ``acc`` (3 columns, 1/64 g
as the E4 writes it) and ``ibi`` (irregular: beat times and intervals in seconds). Regular channels
are :class:`Signal` (start time, rate, samples), the irregular one is :class:`Events`. Channels
that are absent are listed in :attr:`Recording.missing`; the features mark their windows with a
quality flag instead of failing.

**E4 folder** (as Empatica's E4 connect exports it): ``HR.csv``, ``BVP.csv``, ``EDA.csv``,
``TEMP.csv``, ``ACC.csv``, each starting with two header rows (the unix start time, then the rate
in Hz, one value per column), then one sample a row; ``IBI.csv`` (row 1: the start time; then
``seconds since start, interval s``); and optionally ``tags*.csv`` (unix times of the button
presses). Any subset of these files may be present.

**CSV of samples** (for other devices and for tests): a header row with a ``time`` column (unix
seconds) and any of the columns ``hr``, ``bvp``, ``eda``, ``temp``, ``acc_x``, ``acc_y``,
``acc_z`` (all three, or none) and ``ibi`` (the interval in seconds of a beat ending at ``time``).
Each channel is sampled at its own regular rate: a row leaves the cells of channels that have no
sample at that time empty. A channel's rate is the median step between its filled rows; samples
are put on that regular grid from its first time, and holes in it become NaN (a gap). Cells are
separated by commas, or by semicolons or tabs (as spreadsheets write them in some locales; the
header line tells which), with a point as the decimal mark; a UTF-8 byte-order mark is skipped.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emolens.errors import DataError
from emolens.filekind import csv_delimiter

__all__ = [
    "CHANNELS",
    "E4_FILES",
    "Events",
    "Recording",
    "Signal",
    "read_csv",
    "read_e4",
    "read_recording",
]

log = logging.getLogger(__name__)

CHANNELS = ("hr", "bvp", "eda", "temp", "acc", "ibi")
"""Every channel name, in a fixed order."""

E4_FILES = {"hr": "HR.csv", "bvp": "BVP.csv", "eda": "EDA.csv", "temp": "TEMP.csv", "acc": "ACC.csv", "ibi": "IBI.csv"}
"""The E4 export's file for each channel."""

_WIDTH = {"acc": 3}


MIN_RATE = 0.01
"""The slowest sample rate (Hz) a signal may have: one sample every 100 s."""

MAX_RATE = 10_000.0
"""The fastest sample rate (Hz) a signal may have."""

MAX_GAP_S = 6 * 3600.0
"""The longest jump in time between two rows of a CSV of samples (longer ones are typos in a time,
or recordings that belong in files of their own)."""


@dataclass(frozen=True)
class Signal:
    """A regularly sampled channel: ``values[i]`` was taken at ``t0 + i / fs`` (unix seconds).

    ``values`` is float64, shape ``(n,)``, or ``(n, 3)`` for ``acc``; NaN marks a missing sample.
    """

    t0: float
    fs: float
    values: np.ndarray

    def __post_init__(self) -> None:
        if not (MIN_RATE <= self.fs <= MAX_RATE):
            raise DataError(f"a sample rate must be {MIN_RATE:g} to {MAX_RATE:g} Hz, got {self.fs:g}")
        if np.isinf(self.values).any():
            raise DataError("samples must be finite numbers (a missing sample is NaN, a gap)")
        if not math.isfinite(self.t0):
            raise DataError(f"a start time must be a number, got {self.t0}")

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def t_end(self) -> float:
        """The time just after the last sample."""
        return self.t0 + len(self) / self.fs

    def times(self) -> np.ndarray:
        """The time of every sample."""
        return self.t0 + np.arange(len(self)) / self.fs

    def between(self, start: float, end: float) -> np.ndarray:
        """The samples taken in ``[start, end)``."""
        i0 = max(0, math.ceil((start - self.t0) * self.fs - 1e-9))
        i1 = max(i0, min(len(self), math.ceil((end - self.t0) * self.fs - 1e-9)))
        return self.values[i0:i1]


@dataclass(frozen=True)
class Events:
    """An irregular channel: ``values[i]`` happened at ``times[i]`` (unix seconds, increasing).

    For ``ibi``: the interval (s) between the beat at ``times[i]`` and the beat before it.
    """

    times: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return int(self.times.shape[0])

    @property
    def t0(self) -> float:
        return float(self.times[0]) if len(self) else math.nan

    @property
    def t_end(self) -> float:
        return float(self.times[-1]) if len(self) else math.nan

    def between(self, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
        """The events in ``[start, end)``: their times and values."""
        i0, i1 = np.searchsorted(self.times, [start, end], side="left")
        return self.times[i0:i1], self.values[i0:i1]


@dataclass(frozen=True)
class Recording:
    """The channels of one wristband session.

    ``channels``: the present ones by name (see :data:`CHANNELS`); ``missing``: the absent ones;
    ``tags``: event marks (unix s, the E4 button); ``source``: where it was read from.
    """

    channels: dict[str, Signal | Events]
    source: str = ""
    tags: tuple[float, ...] = ()
    missing: tuple[str, ...] = field(default=())

    def signal(self, name: str) -> Signal | None:
        """The regular channel ``name``, or None when it is absent."""
        ch = self.channels.get(name)
        return ch if isinstance(ch, Signal) else None

    def events(self, name: str = "ibi") -> Events | None:
        """The irregular channel ``name``, or None when it is absent."""
        ch = self.channels.get(name)
        return ch if isinstance(ch, Events) else None

    @property
    def t0(self) -> float:
        """The earliest start of any channel (unix s)."""
        starts = [c.t0 for c in self.channels.values() if len(c)]
        return min(starts) if starts else math.nan

    @property
    def t_end(self) -> float:
        """The latest end of any channel (unix s)."""
        ends = [c.t_end for c in self.channels.values() if len(c)]
        return max(ends) if ends else math.nan


def _parse_rows(path: Path, lines: list[str], first: int, width: int) -> np.ndarray:
    """``lines[first:]`` as a float array of ``width`` columns; a DataError naming the bad line."""
    body = [ln for ln in lines[first:] if ln.strip()]
    if not body:
        return np.zeros((0, width)) if width > 1 else np.zeros(0)
    try:
        arr = np.loadtxt(body, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError:
        for i, ln in enumerate(lines[first:], start=first + 1):
            cells = [c.strip() for c in ln.split(",")] if ln.strip() else []
            if cells and len(cells) != width:
                raise DataError(
                    f"{path}: line {i} has {len(cells)} values, expected {width}: {ln.strip()[:60]!r}"
                ) from None
            try:
                [float(c) for c in cells]
            except ValueError:
                raise DataError(f"{path}: line {i} is not numbers: {ln.strip()[:60]!r}") from None
        raise DataError(f"{path}: cannot read the samples") from None
    if arr.shape[1] != width:
        raise DataError(f"{path}: {arr.shape[1]} values a row, expected {width}")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}: line {first + 1 + row} is not finite numbers: {body[row].strip()[:60]!r}")
    return arr if width > 1 else arr[:, 0]


def _header_value(path: Path, line: str, what: str) -> float:
    try:
        values = {float(c) for c in line.split(",") if c.strip()}
    except ValueError:
        raise DataError(f"{path}: the {what} row must be a number, got {line.strip()[:60]!r}") from None
    if len(values) != 1:
        raise DataError(f"{path}: the {what} row must hold one value (repeated per column), got {line.strip()[:60]!r}")
    return values.pop()


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()  # -sig: a byte-order mark (Excel) is not text
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text file") from None


def read_e4_signal(path: str | Path, width: int = 1) -> Signal:
    """One E4 signal file: start time, rate, then ``width`` values a row."""
    path = Path(path)
    lines = _read_lines(path)
    if len(lines) < 2:
        raise DataError(f"{path}: an E4 file starts with two header rows (unix start time, rate in Hz)")
    t0 = _header_value(path, lines[0], "first (unix start time)")
    fs = _header_value(path, lines[1], "second (sample rate)")
    if not fs > 0:
        raise DataError(f"{path}: the sample rate must be positive, got {fs:g}")
    if not 1e8 < t0 < 1e10:
        raise DataError(f"{path}: the start time {t0:g} is not a unix time in seconds")
    return Signal(t0, fs, _parse_rows(path, lines, 2, width))


def read_e4_ibi(path: str | Path) -> Events:
    """An E4 ``IBI.csv``: start time (then an ``IBI`` label), then ``seconds since start, interval``."""
    path = Path(path)
    lines = _read_lines(path)
    if not lines:
        raise DataError(f"{path}: empty; an E4 IBI file starts with the unix start time")
    t0 = _header_value(path, lines[0].split(",")[0], "first (unix start time)")
    rows = _parse_rows(path, lines, 1, 2)
    if len(rows) and np.any(np.diff(rows[:, 0]) <= 0):
        raise DataError(f"{path}: the beat times must increase")
    return Events(t0 + rows[:, 0], rows[:, 1].copy())


def read_tags(path: str | Path) -> tuple[float, ...]:
    """An E4 ``tags.csv``: one unix time a row (may be empty)."""
    path = Path(path)
    out: list[float] = []
    for i, ln in enumerate(_read_lines(path), start=1):
        if not ln.strip():
            continue
        try:
            out.append(float(ln.split(",")[0]))
        except ValueError:
            raise DataError(f"{path}: line {i} is not a unix time: {ln.strip()[:60]!r}") from None
    return tuple(out)


def read_e4(folder: str | Path) -> Recording:
    """An E4 export folder (see the module): every channel file present; the others are ``missing``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder (give an E4 export folder or a CSV of samples)")
    channels: dict[str, Signal | Events] = {}
    missing: list[str] = []
    for name, fname in E4_FILES.items():
        path = folder / fname
        if not path.is_file():
            missing.append(name)
            continue
        channels[name] = read_e4_ibi(path) if name == "ibi" else read_e4_signal(path, _WIDTH.get(name, 1))
    if not channels:
        raise DataError(f"{folder}: no E4 file found (expected some of {', '.join(E4_FILES.values())})")
    tags: tuple[float, ...] = ()
    for path in sorted(folder.glob("tags*.csv")):
        tags = read_tags(path)
        break
    if missing:
        log.info("%s: no %s", folder, ", ".join(missing))
    return Recording(channels, source=str(folder), tags=tags, missing=tuple(missing))


_CSV_COLUMNS = {"hr": ("hr",), "bvp": ("bvp",), "eda": ("eda",), "temp": ("temp",), "acc": ("acc_x", "acc_y", "acc_z")}


def _regular(path: Path, name: str, t: np.ndarray, v: np.ndarray) -> Signal:
    """Samples at times ``t`` on a regular grid (rate: the median step); holes are NaN."""
    if len(t) < 2:
        raise DataError(f"{path}: column {name!r} needs at least two samples to know its rate")
    steps = np.diff(t)
    step = float(np.median(steps))
    if not step > 0:
        raise DataError(f"{path}: the times of column {name!r} must increase")
    fs = 1.0 / step
    if not MIN_RATE <= fs <= MAX_RATE:
        raise DataError(
            f"{path}: column {name!r} has a sample every {step:g} s ({fs:g} Hz), outside {MIN_RATE:g} to "
            f"{MAX_RATE:g} Hz: are the times in seconds?"
        )
    if steps.max() > MAX_GAP_S:
        k = int(np.argmax(steps))
        raise DataError(
            f"{path}: column {name!r} jumps {steps[k]:g} s in time after {t[k]:.3f}, more than {MAX_GAP_S:g} s: "
            "a typo in a time, or two recordings in one file?"
        )
    idx = np.rint((t - t[0]) * fs).astype(np.int64)
    shape = (int(idx[-1]) + 1, *v.shape[1:])
    out = np.full(shape, np.nan)
    out[idx] = v
    return Signal(float(t[0]), fs, out)


def read_csv(path: str | Path) -> Recording:
    """A CSV of timestamped samples (see the module)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (give an E4 export folder or a CSV of samples)")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:  # -sig: a byte-order mark (Excel) is not text
            text = fh.read()
        rows = list(csv.reader(io.StringIO(text), delimiter=csv_delimiter(text)))
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text file") from None
    except csv.Error as e:
        raise DataError(f"{path}: not a CSV file: {e}") from None
    if not rows:
        raise DataError(f"{path}: empty; expected a header row with 'time' and channel columns")
    header = [h.strip().lower() for h in rows[0]]
    if "time" not in header:
        raise DataError(f"{path}: no 'time' column in the header {rows[0]!r}")
    known = {c for cols in _CSV_COLUMNS.values() for c in cols} | {"time", "ibi"}
    unknown = [h for h in header if h not in known]
    if unknown:
        log.warning("%s: ignoring unknown columns %s", path, ", ".join(unknown))
    col = {h: i for i, h in enumerate(header)}
    table = np.full((len(rows) - 1, len(header)), np.nan)
    for r, row in enumerate(rows[1:]):
        if len(row) > len(header):
            raise DataError(f"{path}: line {r + 2} has {len(row)} cells, the header {len(header)}")
        for c, cell in enumerate(row):
            if cell.strip():
                try:
                    value = float(cell)
                except ValueError:
                    raise DataError(f"{path}: line {r + 2}, column {header[c]!r} is not a number: {cell!r}") from None
                if not math.isfinite(value):  # "inf" and "nan" are not samples: leave the cell empty for a gap
                    raise DataError(f"{path}: line {r + 2}, column {header[c]!r} is not a finite number: {cell!r}")
                table[r, c] = value
    t = table[:, col["time"]]
    if np.isnan(t).any():
        raise DataError(f"{path}: line {int(np.flatnonzero(np.isnan(t))[0]) + 2} has no time")
    if len(t) > 1 and np.any(np.diff(t) < 0):
        raise DataError(f"{path}: the times must not decrease")
    channels: dict[str, Signal | Events] = {}
    for name, cols in _CSV_COLUMNS.items():
        present = [c for c in cols if c in col]
        if not present:
            continue
        if len(present) != len(cols):
            raise DataError(f"{path}: {name} needs the columns {', '.join(cols)}, found only {', '.join(present)}")
        block = table[:, [col[c] for c in cols]]
        filled = ~np.isnan(block).any(axis=1)
        if not filled.any():
            continue
        values = block[filled] if len(cols) > 1 else block[filled, 0]
        channels[name] = _regular(path, name, t[filled], values)
    if "ibi" in col:
        v = table[:, col["ibi"]]
        ok = ~np.isnan(v)
        if ok.any():
            if np.any(v[ok] <= 0):
                raise DataError(f"{path}: inter-beat intervals must be positive seconds")
            channels["ibi"] = Events(t[ok].copy(), v[ok].copy())
    if not channels:
        raise DataError(f"{path}: no samples in any channel column (hr, bvp, eda, temp, acc_x/y/z, ibi)")
    missing = tuple(c for c in CHANNELS if c not in channels)
    return Recording(channels, source=str(path), missing=missing)


def read_recording(path: str | Path) -> Recording:
    """An E4 export folder, or a CSV of samples."""
    path = Path(path)
    if path.is_dir():
        return read_e4(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder (give an E4 export folder or a CSV of samples)")
    return read_csv(path)
