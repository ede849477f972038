"""A relaxation session as records, exported as CSV and as a one-page report for caregivers.

:class:`SessionLog` holds what a session leaves behind: derived readings of the child (valence,
emotion probabilities, arousal; never an image), the stimulus the controller commanded, alerts and
operator actions. :mod:`emolens.relax.store` reads and writes it in SQLite and
:mod:`emolens.relax.simulate` makes one from a replay. :func:`export_csv` writes it as one
time-sorted table; :func:`write_report` draws one page (PNG or PDF): valence, the emotions, the
three stimulus intensities with the controller's states, alerts marked by priority, and a list of
the alerts and operator actions. Both write atomically.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emolens.errors import EmolensError
from emolens.io import AtomicFile
from emolens.labels import EMOTIONS
from emolens.relax.types import MODALITIES, Alert

__all__ = ["CSV_COLUMNS", "EmotionPoint", "OperatorRecord", "SessionLog", "StimulusPoint", "export_csv", "write_report"]

PRIORITY_COLORS = {"high": "#d62728", "medium": "#ff7f0e", "low": "#bcbd22"}
"""Alert colours by IEC 60601-1-8 priority: red, orange (amber) and yellow-olive (cyan is also usual for low)."""
STATE_COLORS = {"holding": "#dddddd", "safe": "#c6dbef", "paused": "#eeeeee", "halted": "#fcbba1", "estop": "#ff9896"}
CSV_COLUMNS: tuple[str, ...] = (
    "t",
    "record",
    "state",
    "action",
    *MODALITIES,
    "valence",
    "arousal",
    *EMOTIONS,
    "kind",
    "priority",
    "message",
)


@dataclass(frozen=True)
class EmotionPoint:
    """A derived reading of the child at ``t``: valence (None: no face), emotion probabilities, arousal."""

    t: float
    valence: float | None
    probs: Mapping[str, float] = field(default_factory=dict)
    arousal: float | None = None


@dataclass(frozen=True)
class StimulusPoint:
    """What the controller commanded at ``t``, in which state, and the transitions it applied."""

    t: float
    state: str
    action: str
    light: float
    sound: float
    vibration: float

    def intensity(self, modality: str) -> float:
        return {"light": self.light, "sound": self.sound, "vibration": self.vibration}[modality]


@dataclass(frozen=True)
class OperatorRecord:
    """An operator input at ``t`` (start, pause, resume, stop, estop, reset, acknowledge...)."""

    t: float
    action: str
    detail: str = ""


@dataclass(frozen=True)
class SessionLog:
    """One session: who (a pseudonym), which scenario, when (``started_at``: ISO wall-clock time;
    ``t0``: the controller's clock at the start, the origin of the plots), how it ended and its
    reward, and its four timelines."""

    child_id: str
    scenario: str
    started_at: str
    t0: float
    emotions: tuple[EmotionPoint, ...] = ()
    stimuli: tuple[StimulusPoint, ...] = ()
    alerts: tuple[Alert, ...] = ()
    operator: tuple[OperatorRecord, ...] = ()
    session_id: int | None = None
    ended_at: str | None = None
    reward: float | None = None
    outcome: str | None = None


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.6g}"


def csv_rows(log: SessionLog) -> list[dict[str, str]]:
    """The session as table rows sorted by time (emotion, stimulus, alert and operator rows)."""
    rows: list[tuple[float, int, dict[str, str]]] = []
    for e in log.emotions:
        row = {"t": _num(e.t), "record": "emotion", "valence": _num(e.valence), "arousal": _num(e.arousal)}
        row.update({k: _num(e.probs[k]) for k in EMOTIONS if k in e.probs})
        rows.append((e.t, 0, row))
    for s in log.stimuli:
        row = {"t": _num(s.t), "record": "stimulus", "state": s.state, "action": s.action}
        row.update({m: _num(s.intensity(m)) for m in MODALITIES})
        rows.append((s.t, 1, row))
    for a in log.alerts:
        rows.append(
            (a.t, 2, {"t": _num(a.t), "record": "alert", "kind": a.kind, "priority": a.priority, "message": a.message})
        )
    for o in log.operator:
        rows.append((o.t, 3, {"t": _num(o.t), "record": "operator", "action": o.action, "message": o.detail}))
    rows.sort(key=lambda r: (r[0], r[1]))
    return [r for _, _, r in rows]


def export_csv(log: SessionLog, path: str | Path) -> Path:
    """Write the session as CSV (:data:`CSV_COLUMNS`, one row per record, sorted by time), atomically."""
    path = Path(path)
    with AtomicFile(path) as tmp, tmp.path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(CSV_COLUMNS), restval="")
        writer.writeheader()
        writer.writerows(csv_rows(log))
    return path


def _with_gaps(points: tuple[EmotionPoint, ...]) -> list[EmotionPoint]:
    """The readings with a no-face point just after and just before every gap in time (more than
    three times the usual spacing, and over 2 s), so that plots show the gap instead of bridging it."""
    if len(points) < 2:
        return list(points)
    steps = sorted(b.t - a.t for a, b in zip(points, points[1:], strict=False))
    gap = max(2.0, 3.0 * steps[len(steps) // 2])
    out = [points[0]]
    for a, b in zip(points, points[1:], strict=False):
        if b.t - a.t > gap:
            out += [EmotionPoint(a.t + 1e-3, None), EmotionPoint(b.t - 1e-3, None)]
        out.append(b)
    return out


def _spans(points: tuple[StimulusPoint, ...], t0: float) -> list[tuple[float, float, str]]:
    """Runs of one controller state: (start, end, state), in seconds from ``t0``."""
    spans: list[tuple[float, float, str]] = []
    for i, p in enumerate(points):
        end = points[i + 1].t if i + 1 < len(points) else p.t
        if spans and spans[-1][2] == p.state:
            spans[-1] = (spans[-1][0], end - t0, p.state)
        else:
            spans.append((p.t - t0, end - t0, p.state))
    return spans


def write_report(log: SessionLog, path: str | Path, *, title: str = "") -> Path:
    """Draw the one-page caregiver report (``.png`` or ``.pdf``, by the suffix) and write it atomically."""
    from emolens.eval.report import pyplot

    path = Path(path)
    if path.suffix.lower() not in (".png", ".pdf"):
        raise EmolensError(f"the report must be a .png or .pdf file, got {path.name}")
    plt = pyplot()
    fig = plt.figure(figsize=(8.27, 11.69))  # A4 portrait
    try:
        _draw(fig, log, title)
        with AtomicFile(path) as tmp:
            fig.savefig(tmp.path, dpi=110)
    finally:
        plt.close(fig)
    return path


def _draw(fig: Any, log: SessionLog, title: str) -> None:
    t0 = log.t0
    grid = fig.add_gridspec(
        4, 1, height_ratios=[1.1, 1.1, 1.4, 1.3], hspace=0.45, left=0.1, right=0.86, top=0.9, bottom=0.04
    )
    ax_v, ax_e, ax_s = (fig.add_subplot(grid[i]) for i in range(3))
    ax_t = fig.add_subplot(grid[3])
    end = max([p.t for p in log.stimuli] + [e.t for e in log.emotions] + [a.t for a in log.alerts] + [t0 + 1.0]) - t0

    head = title or f"Relaxation session: {log.scenario}"
    fig.suptitle(head, fontsize=14, x=0.1, ha="left", y=0.975)
    when = f"started {log.started_at}" if log.started_at[:1].isdigit() else log.started_at
    facts = [f"child {log.child_id}", when, f"{end / 60:.1f} min"]
    if log.outcome:
        facts.append(f"ended: {log.outcome}")
    if log.reward is not None:
        facts.append(f"valence change {log.reward:+.2f}")
    high = sum(1 for a in log.alerts if a.priority == "high")
    facts.append(f"{len(log.alerts)} alerts ({high} high)")
    fig.text(0.1, 0.935, "   ".join(facts), fontsize=9, color="#333333")

    # valence, with the no-face readings and the gaps in time as gaps
    points = _with_gaps(log.emotions)
    ts = [e.t - t0 for e in points]
    vs = [e.valence if e.valence is not None else float("nan") for e in points]
    ax_v.axhline(0.0, color="#999999", lw=0.8)
    ax_v.plot(ts, vs, color="#333333", lw=1.2)
    ax_v.fill_between(ts, vs, 0, where=[v > 0 for v in vs], color="#2ca02c", alpha=0.3, interpolate=True)
    ax_v.fill_between(ts, vs, 0, where=[v < 0 for v in vs], color="#d62728", alpha=0.3, interpolate=True)
    ax_v.set_ylim(-1.05, 1.05)
    ax_v.set_ylabel("valence")
    ax_v.set_title("The child's valence (positive minus negative emotions; gaps: no face)", fontsize=10, loc="left")

    # the emotions, stacked
    if any(e.probs for e in points):
        stack = [[e.probs.get(k, 0.0) for e in points] for k in EMOTIONS]
        ax_e.stackplot(ts, stack, labels=list(EMOTIONS), alpha=0.85)
        ax_e.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    ax_e.set_ylim(0, 1)
    ax_e.set_ylabel("probability")
    ax_e.set_title("Emotions", fontsize=10, loc="left")

    # the stimulus and the controller's states
    for start, stop, state in _spans(log.stimuli, t0):
        if state in STATE_COLORS:
            ax_s.axvspan(start, stop, color=STATE_COLORS[state], lw=0)
            ax_s.text((start + stop) / 2, 1.02, state, ha="center", va="bottom", fontsize=7, color="#555555")
    st = [p.t - t0 for p in log.stimuli]
    for m, color in zip(MODALITIES, ("#e6b800", "#1f77b4", "#9467bd"), strict=True):
        ax_s.plot(st, [p.intensity(m) for p in log.stimuli], label=m, color=color, lw=1.5)
    ax_s.set_ylim(0, 1.1)
    ax_s.set_ylabel("intensity")
    ax_s.set_xlabel("seconds from the start")
    ax_s.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    ax_s.set_title("Stimulus (shaded: holding, safe, paused, halted, emergency stop)", fontsize=10, loc="left")

    for ax in (ax_v, ax_e, ax_s):
        ax.set_xlim(0, max(end, 1.0))
        for a in log.alerts:
            ax.axvline(a.t - t0, color=PRIORITY_COLORS.get(a.priority, "#000000"), lw=1.2, ls="--")

    # the list of alerts and operator actions
    ax_t.axis("off")
    lines = [
        (
            a.t,
            f"{a.t - t0:7.1f} s  {a.priority.upper():6s} {a.kind}: {a.message}",
            PRIORITY_COLORS.get(a.priority, "#000000"),
        )
        for a in log.alerts
    ]
    lines += [
        (o.t, f"{o.t - t0:7.1f} s  operator {o.action}{': ' + o.detail if o.detail else ''}", "#333333")
        for o in log.operator
    ]
    lines.sort(key=lambda x: x[0])
    ax_t.set_title("Alerts and operator actions", fontsize=10, loc="left")
    shown = lines[:18]
    if not shown:
        ax_t.text(0.0, 0.95, "none", fontsize=8, va="top", transform=ax_t.transAxes)
    for i, (_, text, color) in enumerate(shown):
        ax_t.text(
            0.0,
            0.95 - i * 0.055,
            text[:110],
            fontsize=7.5,
            va="top",
            family="monospace",
            color=color,
            transform=ax_t.transAxes,
        )
    if len(lines) > len(shown):
        ax_t.text(
            0.0,
            0.95 - len(shown) * 0.055,
            f"... and {len(lines) - len(shown)} more (see the CSV export)",
            fontsize=7.5,
            va="top",
            transform=ax_t.transAxes,
        )
