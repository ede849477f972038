"""Replay a recorded (or written) emotion timeline through the real controller, without hardware.

The CSV has a ``time`` column (seconds) and either a ``label`` column (one of the seven emotions;
``none`` for a frame without a face; empty for no reading at all) or the seven probability
columns (``angry,disgust,fear,happy,sad,surprise,neutral``; all empty: no face). Optional
columns: ``arousal`` (0..1, a wristband's stress) and ``event`` (operator actions ``start``,
``pause``, ``resume``, ``stop``, ``estop``, ``reset`` or faults ``recognizer_error``,
``camera_lost``, ``device_error``, ``broker_lost``; several separated by ``;``). Cells may be
separated by commas, semicolons or tabs (the header line tells which), and a UTF-8 byte-order mark
is skipped, so a spreadsheet's export reads as written. A label row
becomes probabilities with ``label_confidence`` on the label and the rest on neutral. Times with
no rows are gaps (no face seen), which is how the fault rules are exercised.

The simulated clock ticks every ``tick_s`` seconds from the first row; each tick hands the
controller the newest row since the previous tick and the events in between. The session starts at
the first row, is stopped after the last, and runs on until every output has faded (at most
``tail_s`` seconds). The commands go to the in-process ``sim`` devices; each tick reports what
they run. Same CSV, same scenario: same result, always.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emolens.errors import DataError
from emolens.filekind import csv_delimiter
from emolens.labels import EMOTIONS
from emolens.relax.controller import (
    FAULT_KINDS,
    OPERATOR_ACTIONS,
    Fault,
    Input,
    Operator,
    State,
    step,
    valence_from_probs,
)
from emolens.relax.report import EmotionPoint, OperatorRecord, SessionLog, StimulusPoint
from emolens.relax.scenarios import Scenario
from emolens.relax.types import MODALITIES, Alert, Command, Reading

__all__ = ["NO_FACE", "Row", "SimulateOptions", "Simulation", "Tick", "read_emotions", "simulate"]

NO_FACE = ("none", "no_face", "noface", "-")
"""Labels meaning "a frame without a face"."""


@dataclass(frozen=True)
class SimulateOptions:
    """How ``relax simulate`` replays a timeline (each field is also a command-line option)."""

    tick_s: float = field(default=0.5, metadata={"help": "seconds between two controller ticks on the simulated clock"})
    label_confidence: float = field(
        default=0.8, metadata={"help": "probability a label row gives its emotion (the rest goes to neutral)"}
    )
    tail_s: float = field(
        default=60.0, metadata={"help": "seconds simulated after the last row, while the stimulus fades out"}
    )

    def __post_init__(self) -> None:
        if not (math.isfinite(self.tick_s) and 0.01 <= self.tick_s <= 10):
            raise DataError(f"tick_s must be between 0.01 and 10 seconds, got {self.tick_s}")
        if not (0.0 <= self.label_confidence <= 1.0):
            raise DataError(f"label_confidence must be in [0, 1], got {self.label_confidence}")
        if not (math.isfinite(self.tail_s) and self.tail_s >= 0):
            raise DataError(f"tail_s must be 0 or more, got {self.tail_s}")


@dataclass(frozen=True)
class Row:
    """One CSV row: its time, the reading (None: no reading, only events) and its events."""

    time: float
    reading: Reading | None
    events: tuple[Input, ...] = ()


@dataclass(frozen=True)
class Tick:
    t: float
    state: str
    intensity: dict[str, float]
    action: str

    def as_dict(self) -> dict[str, Any]:
        return {"t": self.t, "state": self.state, "intensity": dict(self.intensity), "action": self.action}


@dataclass(frozen=True)
class Simulation:
    """The replay: one :class:`Tick` per controller call, the alerts raised, and the session log
    (readings, stimulus, alerts, operator actions) for :mod:`emolens.relax.report`."""

    scenario: str
    ticks: tuple[Tick, ...]
    alerts: tuple[Alert, ...]
    log: SessionLog

    def as_dict(self) -> dict[str, Any]:
        return {"ticks": [t.as_dict() for t in self.ticks], "alerts": [a.as_dict() for a in self.alerts]}


def _number(text: str, where: str, name: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: {name} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: {name} must be finite, got {text!r}")
    return value


def _events(text: str, where: str) -> tuple[Input, ...]:
    out: list[Input] = []
    for raw in text.split(";"):
        name = raw.strip().lower()
        if not name:
            continue
        matched = False
        for action in OPERATOR_ACTIONS:
            if name == action:
                out.append(Operator(action))
                matched = True
        for kind in FAULT_KINDS:
            if name == kind:
                out.append(Fault(kind, "from the replayed timeline"))
                matched = True
        if not matched:
            known = ", ".join((*OPERATOR_ACTIONS, *FAULT_KINDS))
            raise DataError(f"{where}: unknown event {raw.strip()!r}; known: {known}")
    return tuple(out)


def read_emotions(path: str | Path, label_confidence: float = 0.8) -> list[Row]:
    """The rows of an emotion timeline CSV (see the module's text), checked; times must not go back."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"emotion timeline not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    reader = csv.DictReader(text.splitlines(), delimiter=csv_delimiter(text))
    fields = [f.strip() for f in reader.fieldnames or []]
    reader.fieldnames = fields
    if "time" not in fields:
        raise DataError(
            f"{path.name}: needs a 'time' column, then 'label' or the seven probabilities ({','.join(EMOTIONS)})"
        )
    has_label = "label" in fields
    missing = [e for e in EMOTIONS if e not in fields]
    if not has_label and missing:
        raise DataError(f"{path.name}: needs a 'label' column or all seven probabilities; missing {', '.join(missing)}")
    rows: list[Row] = []
    last = -math.inf
    for n, rec in enumerate(reader, start=2):
        where = f"{path.name} line {n}"
        t = _number(rec.get("time") or "", where, "time")
        if t is None:
            raise DataError(f"{where}: time is missing")
        if t < last:
            raise DataError(f"{where}: time {t:g} goes back (previous row {last:g}); sort the rows by time")
        last = t
        arousal = _number(rec.get("arousal") or "", where, "arousal")
        if arousal is not None and not 0.0 <= arousal <= 1.0:
            raise DataError(f"{where}: arousal must be in [0, 1], got {arousal:g}")
        events = _events(rec.get("event") or "", where)
        reading: Reading | None
        if has_label:
            label = (rec.get("label") or "").strip().lower()
            if not label:
                reading = None
            elif label in NO_FACE:
                reading = Reading(time=t, arousal=arousal)
            elif label in EMOTIONS:
                probs = dict.fromkeys(EMOTIONS, 0.0)
                probs["neutral"] = 1.0 - label_confidence
                probs[label] += label_confidence
                reading = Reading(time=t, probs=probs, valence=valence_from_probs(probs), arousal=arousal)
            else:
                raise DataError(f"{where}: unknown label {label!r}; known: {', '.join(EMOTIONS)}, or none for no face")
        else:
            values = [_number(rec.get(e) or "", where, e) for e in EMOTIONS]
            if all(v is None for v in values):
                reading = Reading(time=t, arousal=arousal)
            else:
                if any(v is None for v in values):
                    raise DataError(f"{where}: give all seven probabilities, or none of them for no face")
                probs = {e: float(v or 0.0) for e, v in zip(EMOTIONS, values, strict=True)}
                total = sum(probs.values())
                if any(p < 0 for p in probs.values()) or total <= 0:
                    raise DataError(f"{where}: probabilities must be 0 or more, and not all 0")
                probs = {e: p / total for e, p in probs.items()}
                reading = Reading(time=t, probs=probs, valence=valence_from_probs(probs), arousal=arousal)
        rows.append(Row(t, reading, events))
    if not rows:
        raise DataError(f"{path.name}: no rows")
    return rows


def simulate(
    rows: Sequence[Row],
    scenario: Scenario,
    options: SimulateOptions = SimulateOptions(),
    *,
    on_commands: Callable[[float, tuple[Command, ...]], None] | None = None,
) -> Simulation:
    """Replay ``rows`` through :func:`emolens.relax.controller.step` with a simulated clock and the
    ``sim`` devices; ``on_commands(t, commands)`` also sees every tick's commands."""
    from emolens.relax.devices.sim import SimDevices

    clock = [rows[0].time]
    devices = SimDevices(clock=lambda: clock[0])
    t0, last_row = rows[0].time, rows[-1].time
    state = State()
    ticks: list[Tick] = []
    alerts: list[Alert] = []
    emotions: list[EmotionPoint] = []
    stimuli: list[StimulusPoint] = []
    operator: list[OperatorRecord] = []
    i, k = 0, 0
    stopped = False
    limit = last_row + options.tail_s
    while True:
        now = t0 + k * options.tick_s
        if now > limit + 1e-9:
            break
        inputs: list[Input] = [Operator("start")] if k == 0 else []
        reading: Reading | None = None
        while i < len(rows) and rows[i].time <= now + 1e-9:
            if rows[i].reading is not None:
                reading = rows[i].reading
            inputs.extend(rows[i].events)
            i += 1
        if i >= len(rows) and now > last_row and not stopped:
            inputs.append(Operator("stop"))
            stopped = True
        clock[0] = now
        before = state.mode
        out = step(state, reading, now, scenario, inputs)
        state = out.state
        if state.mode == "estop" and before != "estop":
            devices.estop(True)
        elif before == "estop" and state.mode != "estop":
            devices.estop(False)
        devices.send(out.commands)
        devices.heartbeat(now)
        if on_commands is not None:
            on_commands(now, out.commands)
        outputs = devices.state().outputs
        levels: dict[str, float] = {m: round(min(1.0, max(0.0, float(outputs[m].intensity))), 6) for m in MODALITIES}
        t = round(now, 6)
        ticks.append(Tick(t, state.mode, levels, out.action))
        alerts.extend(out.alerts)
        stimuli.append(StimulusPoint(t, state.mode, out.action, levels["light"], levels["sound"], levels["vibration"]))
        for item in inputs:
            if isinstance(item, Operator):
                operator.append(OperatorRecord(t, item.action, "replayed"))
        if reading is not None:
            emotions.append(
                EmotionPoint(
                    reading.time, reading.valence if reading.has_face else None, dict(reading.probs), reading.arousal
                )
            )
        k += 1
        if stopped and state.mode in ("idle", "estop") and all(v == 0.0 for v in levels.values()):
            break
    devices.close()
    log = SessionLog(
        child_id="simulated",
        scenario=scenario.name,
        started_at="replayed on a simulated clock",
        t0=t0,
        emotions=tuple(emotions),
        stimuli=tuple(stimuli),
        alerts=tuple(alerts),
        operator=tuple(operator),
        outcome=_outcome(ticks),
    )
    return Simulation(scenario.name, tuple(ticks), tuple(alerts), log)


def _outcome(ticks: Sequence[Tick]) -> str:
    modes = {t.state for t in ticks}
    for mode, text in (("estop", "emergency stop"), ("halted", "halted (adverse reaction)"), ("safe", "safe state")):
        if mode in modes:
            return text
    finished = any("finish" in t.action.split("+") for t in ticks)
    return "finished" if finished else "stopped"
