"""The timeline plot of ``emolens physio --plot``: stress and arousal per window over time, with
the signals drawn beneath (matplotlib, Agg backend, written atomically)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import EmolensError
from emolens.io import AtomicFile
from emolens.physio.readers import Recording, Signal
from emolens.physio.recognizer import PhysioReading

__all__ = ["plot_timeline"]

_PANELS = (
    ("hr", "heart rate\n(beats/min)"),
    ("eda", "EDA\n(microsiemens)"),
    ("temp", "skin temp.\n(deg C)"),
    ("acc", "movement\n(g)"),
)


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        raise EmolensError("plots need matplotlib (an emolens dependency): pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _decimate(sig: Signal, per_s: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """At most ``per_s`` points a second (block means), acc as its magnitude in g."""
    v = sig.values
    if v.ndim == 2:
        v = np.sqrt(np.sum(v.astype(np.float64) ** 2, axis=1)) / 64.0
    step = max(1, int(sig.fs / per_s))
    n = len(v) // step
    if n == 0:
        return sig.times(), v
    with np.errstate(all="ignore"):
        blocks = np.nanmean(v[: n * step].reshape(n, step), axis=1) if step > 1 else v[:n]
    return sig.t0 + (np.arange(n) * step + step / 2) / sig.fs, blocks


def plot_timeline(
    readings: Sequence[PhysioReading],
    rec: Recording,
    path: str | Path,
    *,
    threshold: float = 0.5,
    title: str = "",
) -> None:
    """Draw ``p_stress`` and ``arousal`` at each window's end over the recording's signals and write
    the figure to ``path`` (.png, .svg or .pdf). Windows with quality flags are marked; the
    recording's tags (E4 button presses) are drawn as vertical lines."""
    plt = _pyplot()
    t0 = rec.t0
    panels = [(name, label) for name, label in _PANELS if rec.signal(name) is not None]
    fig, axes = plt.subplots(
        1 + len(panels),
        1,
        figsize=(11, 2.6 + 1.3 * len(panels)),
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": [2.2] + [1] * len(panels)},
    )
    ax = axes[0, 0]
    if readings:
        te = (np.array([r.t_end for r in readings]) - t0) / 60
        p = np.array([r.p_stress for r in readings])
        a = np.array([r.arousal for r in readings])
        ax.fill_between(te, 0, 1, where=p >= threshold, color="tab:red", alpha=0.12, step="mid", label="stressed")
        ax.plot(te, p, color="tab:red", lw=1.2, label="p_stress")
        ax.plot(te, a, color="tab:purple", lw=1.0, alpha=0.8, label="arousal")
        flagged = np.array([bool(r.quality) for r in readings])
        if flagged.any():
            ax.plot(te[flagged], np.full(flagged.sum(), -0.04), "|", color="0.4", ms=4, label="quality flag")
    ax.axhline(threshold, color="tab:red", lw=0.6, ls="--")
    ax.set_ylim(-0.08, 1.02)
    ax.set_ylabel("per 60 s window")
    ax.legend(loc="upper left", fontsize=8, ncol=4)
    ax.set_title(title or f"{Path(rec.source).name or 'recording'}: stress and arousal (at each window's end)")
    for k, (name, label) in enumerate(panels, start=1):
        sig = rec.signal(name)
        assert sig is not None
        t, v = _decimate(sig)
        axes[k, 0].plot((t - t0) / 60, v, lw=0.7, color="tab:blue")
        axes[k, 0].set_ylabel(label, fontsize=8)
    for row in axes[:, 0]:
        for tag in rec.tags:
            row.axvline((tag - t0) / 60, color="0.5", lw=0.6, ls=":")
    axes[-1, 0].set_xlabel("minutes from the start of the recording")
    fig.tight_layout()
    try:
        with AtomicFile(path) as tmp:
            fig.savefig(tmp.path, dpi=100)
    finally:
        plt.close(fig)
