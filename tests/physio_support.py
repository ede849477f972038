"""Synthetic wristband signals with known properties, and writers for E4 folders and CSV files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

T0 = 1_700_000_000.0


def beat_times(duration_s: float, ibi: float | list[float] = 60 / 72, start: float = 0.5) -> np.ndarray:
    """Beat times (s from 0) with a constant interval, or cycling through a list of intervals."""
    cycle = [ibi] if isinstance(ibi, float) else list(ibi)
    out, t, k = [], start, 0
    while t < duration_s:
        out.append(t)
        t += cycle[k % len(cycle)]
        k += 1
    return np.asarray(out)


def synthetic_bvp(
    beats: np.ndarray, duration_s: float, fs: float = 64.0, noise: float = 0.0, seed: int = 0
) -> np.ndarray:
    """A PPG-like signal: a sharp systolic pulse at each beat, a smaller diastolic one 0.3 s later,
    a slow breathing sway; optional white noise."""
    t = np.arange(int(duration_s * fs)) / fs
    x = np.zeros_like(t)
    for b in beats:
        near = np.abs(t - b) < 0.6
        x[near] += 50 * np.exp(-0.5 * ((t[near] - b) / 0.07) ** 2)
        x[near] += 15 * np.exp(-0.5 * ((t[near] - b - 0.3) / 0.08) ** 2)
    x += 5 * np.sin(2 * np.pi * 0.25 * t)
    if noise:
        x += np.random.default_rng(seed).normal(0, noise, len(t))
    return x


def synthetic_eda(
    duration_s: float, scr_times: list[float], fs: float = 4.0, level: float = 2.0, amp: float = 0.2
) -> np.ndarray:
    """A constant tonic level with skin-conductance responses (1.5 s rise, 5 s decay) starting at ``scr_times``."""
    t = np.arange(int(duration_s * fs)) / fs
    x = np.full_like(t, level)
    for s in scr_times:
        d = t - s
        rise = (d >= 0) & (d < 1.5)
        x[rise] += amp * d[rise] / 1.5
        after = d >= 1.5
        x[after] += amp * np.exp(-(d[after] - 1.5) / 5.0)
    return x


def recording_arrays(duration_s: float = 300.0, seed: int = 0) -> dict[str, np.ndarray]:
    """Plausible resting signals for every E4 channel (sample arrays at the E4 rates)."""
    rng = np.random.default_rng(seed)
    beats = beat_times(duration_s, [0.84, 0.86, 0.83, 0.87])
    scr = list(np.arange(15.0, duration_s - 10, 20.0))
    n32 = int(duration_s * 32)
    acc = np.zeros((n32, 3))
    acc[:, 2] = 64
    acc += rng.normal(0, 0.5, acc.shape)
    return {
        "bvp": synthetic_bvp(beats, duration_s, noise=0.5, seed=seed),
        "eda": synthetic_eda(duration_s, scr) + rng.normal(0, 0.002, int(duration_s * 4)),
        "temp": 33.0 + 0.002 * np.arange(int(duration_s * 4)) / 4 + rng.normal(0, 0.01, int(duration_s * 4)),
        "acc": np.round(acc),
        "hr": 70.5 + 2 * np.sin(2 * np.pi * np.arange(int(duration_s)) / 30),
        "ibi_t": beats[1:],
        "ibi_v": np.diff(beats),
    }


E4_NAMES = {"hr": "HR.csv", "bvp": "BVP.csv", "eda": "EDA.csv", "temp": "TEMP.csv", "acc": "ACC.csv"}
E4_RATES = {"hr": 1.0, "bvp": 64.0, "eda": 4.0, "temp": 4.0, "acc": 32.0}


def write_e4(folder: Path, arrays: dict[str, np.ndarray], t0: float = T0, tags: list[float] | None = None) -> Path:
    """An E4 export folder of the given channels (keys of :data:`E4_NAMES`, and ``ibi_t``/``ibi_v``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, fname in E4_NAMES.items():
        if name not in arrays:
            continue
        v = np.asarray(arrays[name])
        fs = E4_RATES[name]
        if v.ndim == 2:
            head = ", ".join([f"{t0:.6f}"] * 3) + "\n" + ", ".join([f"{fs:.6f}"] * 3) + "\n"
            body = "\n".join(",".join(f"{c:g}" for c in row) for row in v)
        else:
            head = f"{t0:.6f}\n{fs:.6f}\n"
            body = "\n".join(f"{x:.6f}" for x in v)
        (folder / fname).write_text(head + body + "\n")
    if "ibi_t" in arrays:
        rows = "\n".join(f"{t:.6f},{v:.6f}" for t, v in zip(arrays["ibi_t"], arrays["ibi_v"], strict=True))
        (folder / "IBI.csv").write_text(f"{t0:.6f}, IBI\n{rows}\n")
    if tags is not None:
        (folder / "tags.csv").write_text("".join(f"{t:.2f}\n" for t in tags))
    return folder


def write_csv(path: Path, arrays: dict[str, np.ndarray], t0: float = T0) -> Path:
    """A CSV of samples: one row per distinct sample time, empty cells where a channel has none."""
    rows: dict[float, dict[str, str]] = {}
    for name in ("hr", "bvp", "eda", "temp"):
        if name in arrays:
            for i, v in enumerate(arrays[name]):
                t = round(t0 + i / E4_RATES[name], 6)
                rows.setdefault(t, {})[name] = "" if np.isnan(v) else f"{v:.6f}"
    if "acc" in arrays:
        for i, row in enumerate(arrays["acc"]):
            t = round(t0 + i / 32.0, 6)
            for c, v in zip(("acc_x", "acc_y", "acc_z"), row, strict=True):
                rows.setdefault(t, {})[c] = f"{v:g}"
    cols = [c for c in ("hr", "bvp", "eda", "temp") if c in arrays] + (
        ["acc_x", "acc_y", "acc_z"] if "acc" in arrays else []
    )
    lines = ["time," + ",".join(cols)]
    for t in sorted(rows):
        lines.append(f"{t:.6f}," + ",".join(rows[t].get(c, "") for c in cols))
    path.write_text("\n".join(lines) + "\n")
    return path
