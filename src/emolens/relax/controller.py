"""The relaxation controller: one pure function from (state, reading, time, scenario, inputs) to
(new state, device commands, actions, alerts, events). No clock, no I/O, no randomness.

Modes (:data:`MODES`):

- ``idle``: no session; outputs fall to 0 at the ramp-down limit. ``start`` begins a session.
- ``running``: the scenario plays; the rules below adapt it to the child.
- ``paused``: the operator paused; outputs fall to the safe level; ``resume`` goes on.
- ``holding``: no fresh face reading for ``stale_after_s`` seconds: outputs are kept, never raised;
  after ``hold_s`` more seconds it fades to the safe level (``safe``). A fresh face resumes.
- ``safe``: the defined safe state: outputs fall to each actuator's safe level (never rise). Entered
  on a fault input (with an alert; only the operator's ``resume`` or ``start`` leaves it) or after
  holding (a fresh face leaves it).
- ``halted``: an adverse reaction halted the stimulus (outputs fall to 0) and raised a high-priority
  alert; only a new ``start`` plays again.
- ``estop``: emergency stop, latched: every command is all-off from the next one, whatever comes;
  only ``reset`` leaves it, to ``idle``, and nothing plays until a new ``start``.

Every rule is a named transition (a pure function below) and its name is the step's ``action``:
``neutral_hold``, ``positive_raise``, ``negative_lower``, ``negative_halt``, ``advance``,
``extend``, ``finish``, ``stress_warning``, ``no_reading_hold``, ``no_reading_fade``, ``face_back``, ``fault_safe``,
``start``, ``pause``, ``resume``, ``stop``, ``estop``, ``reset``.

Every output change is rate-limited by the scenario's ramp limits (per second of the controller's
clock), except the emergency stop, which cuts every output to 0 at once. An output only ever rises
in ``running`` with a reading no older than ``stale_after_s``: stale readings are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from emolens.labels import VALENCE_OF
from emolens.relax.scenarios import Scenario
from emolens.relax.types import MODALITIES, Alert, Command, Priority, Reading, all_off

__all__ = [
    "FAULT_PRIORITY",
    "MODES",
    "Change",
    "Event",
    "Fault",
    "Mode",
    "Operator",
    "Outcome",
    "State",
    "advance_step",
    "emergency_stop",
    "face_back",
    "fault_safe",
    "negative_halt",
    "negative_lower",
    "negative_probability",
    "neutral_hold",
    "no_reading_fade",
    "no_reading_hold",
    "operator_pause",
    "operator_reset",
    "operator_resume",
    "operator_start",
    "operator_stop",
    "positive_raise",
    "ramp",
    "step",
    "valence_from_probs",
]

Mode = Literal["idle", "running", "paused", "holding", "safe", "halted", "estop"]
MODES: tuple[Mode, ...] = ("idle", "running", "paused", "holding", "safe", "halted", "estop")
OperatorAction = Literal["start", "pause", "resume", "stop", "estop", "reset"]
OPERATOR_ACTIONS: tuple[OperatorAction, ...] = ("start", "pause", "resume", "stop", "estop", "reset")
FaultKind = Literal["recognizer_error", "camera_lost", "device_error", "broker_lost"]
FAULT_PRIORITY: dict[str, Priority] = {
    # the controller can no longer see the child: prompt response
    "recognizer_error": "medium",
    "camera_lost": "medium",
    # the controller cannot be sure what the chair does: immediate response
    "device_error": "high",
    "broker_lost": "high",
}
FAULT_KINDS: tuple[FaultKind, ...] = ("recognizer_error", "camera_lost", "device_error", "broker_lost")


@dataclass(frozen=True)
class Operator:
    """An operator input: from the panel, the API, a keyboard shortcut or a physical button."""

    action: OperatorAction


@dataclass(frozen=True)
class Fault:
    """A fault reported by what surrounds the controller (recognizer, camera, devices, broker)."""

    kind: FaultKind
    detail: str = ""


Input = Operator | Fault


@dataclass(frozen=True)
class Event:
    """Something worth logging that is neither a command nor an alert (an ignored input, a stale reading)."""

    t: float
    kind: str
    detail: str = ""


@dataclass(frozen=True)
class State:
    """Everything the controller remembers between two calls. Start from ``State()``.

    ``output``: the intensities last commanded (light, sound, vibration); ``level``: the adaptive
    gain on the step's own intensities (1 = as written); ``last_fresh``: when the newest usable
    reading was observed; ``grace_from``: when running last began (the data clock starts there);
    ``arousal``, ``arousal_at``: the newest wristband reading and when it was observed;
    ``stress_warned``: the early warning of this stress episode was given.
    """

    mode: Mode = "idle"
    output: tuple[float, float, float] = (0.0, 0.0, 0.0)
    level: float = 1.0
    step_index: int = 0
    step_elapsed: float = 0.0
    extending: bool = False
    last_time: float | None = None
    last_fresh: float | None = None
    valence: float | None = None
    grace_from: float = 0.0
    mode_since: float = 0.0
    last_decision: float = 0.0
    negative_since: float | None = None
    arousal: float | None = None
    arousal_at: float | None = None
    stress_warned: bool = False
    safe_reason: str = ""
    faults: frozenset[str] = frozenset()
    seq: int = 0

    def intensity(self) -> dict[str, float]:
        return dict(zip(MODALITIES, self.output, strict=True))


@dataclass(frozen=True)
class Change:
    """What one transition did: the new state, its name, and the alerts it raised."""

    state: State
    action: str
    alerts: tuple[Alert, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What :func:`step` returns: the new state, the commands to send now (one per actuator), the
    transitions applied (``action``: their names joined by ``+``, or ``none``), alerts and events."""

    state: State
    commands: tuple[Command, ...]
    action: str
    alerts: tuple[Alert, ...] = ()
    events: tuple[Event, ...] = ()


# ------------------------------------------------------------------------------ readings


def negative_probability(probs: Mapping[str, float]) -> float:
    """The summed probability of the negative emotions (angry, disgust, fear, sad, contempt)."""
    return min(1.0, max(0.0, sum(p for label, p in probs.items() if VALENCE_OF.get(label) == "negative")))


def valence_from_probs(probs: Mapping[str, float]) -> float:
    """P(positive emotions) - P(negative emotions), in [-1, 1] (the web app's valence too)."""
    pos = sum(p for label, p in probs.items() if VALENCE_OF.get(label) == "positive")
    return max(-1.0, min(1.0, pos - negative_probability(probs)))


def _reading_valence(r: Reading) -> float:
    v = r.valence if r.valence is not None and math.isfinite(r.valence) else valence_from_probs(r.probs)
    return max(-1.0, min(1.0, v))


def _observed(r: Reading, now: float) -> float:
    """When the reading's frame was seen, on the controller's clock (never in the future)."""
    # an age that is not a number or infinite cannot be trusted: the reading counts as infinitely old
    age = max(r.age_s, 0.0) if math.isfinite(r.age_s) else math.inf
    t = r.time if math.isfinite(r.time) else -math.inf
    return min(t, now) - age


def _probs_valid(probs: Mapping[str, float]) -> bool:
    """Every probability a finite number in [0, 1] (a little rounding allowed)."""
    try:
        return all(math.isfinite(p) and -1e-6 <= p <= 1.0 + 1e-6 for p in probs.values())
    except TypeError:  # not numbers at all
        return False


def _fresh(s: State, now: float, sc: Scenario) -> bool:
    return s.last_fresh is not None and now - s.last_fresh <= sc.safety.stale_after_s


def fresh_arousal(s: State, now: float, sc: Scenario) -> float | None:
    """The wristband's stress if its reading is no older than ``stale_after_s`` (the face's rule), else None."""
    if s.arousal is None or s.arousal_at is None or now - s.arousal_at > sc.safety.stale_after_s:
        return None
    return s.arousal


def _enter(s: State, mode: Mode, now: float, **changes: object) -> State:
    return replace(s, mode=mode, mode_since=now, **changes)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- operator inputs


def operator_start(s: State, now: float, sc: Scenario) -> Change:
    """``start``: a new session from the first step, at the step's own intensities (level 1).
    Refused in ``estop`` (reset first); ignored while a session plays."""
    if s.mode == "estop":
        return Change(s, "refused_start")
    if s.mode in ("running", "holding"):
        return Change(s, "ignored_start")
    new = _enter(
        s,
        "running",
        now,
        level=1.0,
        step_index=0,
        step_elapsed=0.0,
        extending=False,
        grace_from=now,
        last_decision=now,
        negative_since=None,
        safe_reason="",
        faults=frozenset(),
    )
    return Change(new, "start")


def operator_pause(s: State, now: float, sc: Scenario) -> Change:
    """``pause``: outputs fall to the safe level; the step's time stops."""
    if s.mode in ("running", "holding") or (s.mode == "safe" and s.safe_reason == "no_reading"):
        return Change(_enter(s, "paused", now, negative_since=None), "pause")
    return Change(s, "ignored_pause")


def operator_resume(s: State, now: float, sc: Scenario) -> Change:
    """``resume``: from ``paused``, or from ``safe`` once the operator has seen to the fault."""
    if s.mode in ("paused", "safe"):
        new = _enter(s, "running", now, grace_from=now, last_decision=now, safe_reason="", faults=frozenset())
        return Change(new, "resume")
    return Change(s, "ignored_resume")


def operator_stop(s: State, now: float, sc: Scenario) -> Change:
    """``stop``: end the session; outputs fall to 0 at the ramp-down limit. No effect in ``estop``."""
    if s.mode in ("idle", "estop"):
        return Change(s, "ignored_stop")
    return Change(_enter(s, "idle", now, safe_reason="", faults=frozenset(), negative_since=None), "stop")


def emergency_stop(s: State, now: float, sc: Scenario) -> Change:
    """``estop``: every output off on the next command, latched until :func:`operator_reset`."""
    if s.mode == "estop":
        return Change(s, "estop")
    alert = Alert(now, "emergency_stop", "high", "emergency stop: every actuator off; reset, then start, to go on")
    return Change(_enter(s, "estop", now, negative_since=None), "estop", (alert,))


def operator_reset(s: State, now: float, sc: Scenario) -> Change:
    """``reset``: clears a latched emergency stop, to ``idle``; nothing plays until a new start."""
    if s.mode != "estop":
        return Change(s, "ignored_reset")
    new = _enter(s, "idle", now, output=(0.0, 0.0, 0.0), safe_reason="", faults=frozenset(), step_elapsed=0.0)
    return Change(new, "reset")


def fault_safe(s: State, fault: Fault, now: float, sc: Scenario) -> Change:
    """A fault input: a session in progress goes to the safe state; a new kind of fault raises an
    alert (its priority from :data:`FAULT_PRIORITY`) in every mode."""
    alerts: tuple[Alert, ...] = ()
    if fault.kind not in s.faults:
        detail = f": {fault.detail}" if fault.detail else ""
        text = f"{fault.kind.replace('_', ' ')}{detail}"
        if s.mode in ("running", "paused", "holding", "safe"):
            text += "; the chair goes to its safe state"
        alerts = (Alert(now, fault.kind, FAULT_PRIORITY.get(fault.kind, "high"), text),)
    faults = s.faults | {fault.kind}
    if s.mode in ("running", "paused", "holding") or (s.mode == "safe" and s.safe_reason == "no_reading"):
        return Change(
            _enter(s, "safe", now, safe_reason=fault.kind, faults=faults, negative_since=None), "fault_safe", alerts
        )
    return Change(replace(s, faults=faults), "fault", alerts)


# ------------------------------------------------------------------------------- the rules


def negative_halt(s: State, reason: str, now: float, sc: Scenario) -> Change:
    """Strong or sustained negative (or stress over the threshold): halt the stimulus (outputs fall
    to 0) and raise a high-priority caregiver alert. Only a new start plays again."""
    alert = Alert(now, "adverse_reaction", "high", f"stimulus halted: {reason}; see to the child")
    return Change(_enter(s, "halted", now, negative_since=None), "negative_halt", (alert,))


def stress_warning(s: State, arousal: float, now: float, sc: Scenario) -> Change:
    """The early warning: a calm face with stress at or above ``warn_arousal``. Lower the level by
    one step and tell the caregivers (medium priority), once per stress episode."""
    level = max(sc.rules.min_level, s.level - sc.rules.lower_step)
    valence = f"{s.valence:+.2f}" if s.valence is not None else "unknown"
    alert = Alert(
        now,
        "stress_warning",
        "medium",
        f"early warning: stress at {arousal:.2f} (threshold {sc.rules.warn_arousal:g}) while the face looks calm "
        f"(valence {valence}); stimulus lowered",
    )
    return Change(replace(s, level=level, last_decision=now, stress_warned=True), "stress_warning", (alert,))


def neutral_hold(s: State, now: float, sc: Scenario) -> Change:
    """Neutral: keep the stimulus as it is."""
    return Change(replace(s, last_decision=now), "neutral_hold")


def positive_raise(s: State, now: float, sc: Scenario) -> Change:
    """Positive: raise the level by one bounded step (every actuator in proportion, never above
    ``max_level`` nor any actuator's maximum; the ramp limits still apply)."""
    level = min(sc.rules.max_level, s.level + sc.rules.raise_step)
    return Change(replace(s, level=level, last_decision=now), "positive_raise")


def negative_lower(s: State, now: float, sc: Scenario) -> Change:
    """Negative: lower the level by one step, never below ``min_level``."""
    level = max(sc.rules.min_level, s.level - sc.rules.lower_step)
    return Change(replace(s, level=level, last_decision=now), "negative_lower")


def advance_step(s: State, now: float, sc: Scenario) -> Change | None:
    """When the step's time is up, the child's reaction decides: calm enough (fresh valence at least
    the step's ``advance.min_valence``) goes to the next step; otherwise the step goes on for up
    to ``advance.max_extend_s`` more seconds, then ``on_timeout`` says next or finish. After the
    last step the session finishes (``idle``, outputs fall to 0). None while the step goes on."""
    current = sc.steps[s.step_index]
    if s.step_elapsed < current.duration_s:
        return None
    adv = current.advance
    calm = adv.min_valence <= -1.0 or (_fresh(s, now, sc) and s.valence is not None and s.valence >= adv.min_valence)
    timed_out = s.step_elapsed >= current.duration_s + adv.max_extend_s
    if not calm and not timed_out:
        if s.extending:
            return None
        return Change(replace(s, extending=True), "extend")
    if (not calm and adv.on_timeout == "finish") or s.step_index + 1 >= len(sc.steps):
        return Change(_enter(s, "idle", now, step_elapsed=0.0, extending=False, negative_since=None), "finish")
    return Change(replace(s, step_index=s.step_index + 1, step_elapsed=0.0, extending=False), "advance")


def no_reading_hold(s: State, now: float, sc: Scenario) -> Change:
    """No fresh face reading for ``stale_after_s`` seconds: hold the outputs, raise nothing."""
    alert = Alert(
        now,
        "no_reading",
        "low",
        f"no face or no fresh reading for {sc.safety.stale_after_s:g} s: holding the stimulus",
    )
    return Change(_enter(s, "holding", now, negative_since=None), "no_reading_hold", (alert,))


def no_reading_fade(s: State, now: float, sc: Scenario) -> Change:
    """Still no fresh reading ``hold_s`` seconds later: fade to the safe level (the ``safe`` state)."""
    gone = sc.safety.stale_after_s + sc.safety.hold_s
    alert = Alert(now, "no_reading", "medium", f"no face for {gone:g} s: fading to the safe level")
    return Change(_enter(s, "safe", now, safe_reason="no_reading"), "no_reading_fade", (alert,))


def face_back(s: State, now: float, sc: Scenario) -> Change:
    """A fresh face while holding (or faded for want of one): the session goes on."""
    return Change(_enter(s, "running", now, grace_from=now, safe_reason=""), "face_back")


# ------------------------------------------------------------------------------- outputs


def _targets(s: State, now: float, sc: Scenario) -> tuple[float, ...]:
    out = []
    for i, m in enumerate(MODALITIES):
        lim = sc.limits(m)
        cur = s.output[i]
        if s.mode == "running":
            want = min(lim.max, sc.steps[s.step_index].intensity(m) * s.level)
            if not _fresh(s, now, sc):
                want = min(want, cur)  # never a rise without fresh data
        elif s.mode == "holding":
            want = cur
        elif s.mode in ("paused", "safe"):
            want = min(cur, lim.safe)
        else:
            want = 0.0
        out.append(max(0.0, min(1.0, want)))
    return tuple(out)


def ramp(current: float, target: float, dt: float, up_per_s: float, down_per_s: float) -> float:
    """``current`` moved towards ``target`` by at most ``up_per_s * dt`` up or ``down_per_s * dt`` down."""
    if target > current:
        return min(target, current + up_per_s * dt)
    return max(target, current - down_per_s * dt)


def _commands(s: State, sc: Scenario) -> tuple[Command, ...]:
    if s.mode == "estop":
        return all_off(s.seq)
    current = sc.steps[min(s.step_index, len(sc.steps) - 1)]
    out = []
    for i, m in enumerate(MODALITIES):
        level = s.output[i]
        out.append(Command(m, level, current.params(m) if level > 0 else {}, s.seq))
    return tuple(out)


# ------------------------------------------------------------------------------- the step


def step(
    state: State,
    reading: Reading | None,
    now: float,
    scenario: Scenario,
    inputs: Sequence[Input] = (),
) -> Outcome:
    """One tick of the controller at time ``now`` (seconds, any monotonic clock).

    ``reading``: the newest observation of the child, or None when there is none; ``inputs``:
    operator actions and faults since the last tick, applied in order before the reading. Returns
    the new state and one command per actuator (send them all: they double as a heartbeat).
    A clock that goes back counts as no time passing; a ``now`` that is not a finite number is a
    ValueError (it would let the outputs jump past their ramp limits). A reading whose
    probabilities are not numbers in [0, 1], or whose age is not finite, is not used.
    """
    try:
        finite = math.isfinite(now)
    except TypeError:
        finite = False
    if not finite:
        raise ValueError(f"now must be a finite time in seconds, got {now!r}")
    sc = scenario
    s = state
    now = now if s.last_time is None else max(now, s.last_time)
    dt = 0.0 if s.last_time is None else now - s.last_time
    actions: list[str] = []
    alerts: list[Alert] = []
    events: list[Event] = []

    def apply(change: Change | None) -> None:
        nonlocal s
        if change is None:
            return
        s = change.state
        actions.append(change.action)
        alerts.extend(change.alerts)

    was_running = s.mode == "running"
    for item in inputs:
        if isinstance(item, Fault):
            apply(fault_safe(s, item, now, sc))
        elif item.action == "estop":
            apply(emergency_stop(s, now, sc))
        elif item.action == "reset":
            apply(operator_reset(s, now, sc))
        elif item.action == "start":
            apply(operator_start(s, now, sc))
        elif item.action == "pause":
            apply(operator_pause(s, now, sc))
        elif item.action == "resume":
            apply(operator_resume(s, now, sc))
        elif item.action == "stop":
            apply(operator_stop(s, now, sc))
    if actions and any(a.startswith(("ignored", "refused")) for a in actions):
        events.extend(Event(now, a) for a in actions if a.startswith(("ignored", "refused")))
        actions = [a for a in actions if not a.startswith(("ignored", "refused"))]

    # the reading: used only with a face, when no older than stale_after_s and newer than the last one
    usable = False
    neg_prob = 0.0
    if reading is not None and reading.arousal is not None and math.isfinite(reading.arousal):
        body_seen = _observed(reading, now) if reading.arousal_time is None else min(reading.arousal_time, now)
        if now - body_seen > sc.safety.stale_after_s:
            events.append(Event(now, "stale_arousal", f"{now - body_seen:.3f} s old"))
        elif s.arousal_at is None or body_seen >= s.arousal_at:
            s = replace(s, arousal=min(1.0, max(0.0, reading.arousal)), arousal_at=body_seen)
    arousal = fresh_arousal(s, now, sc)
    if reading is not None:
        seen = _observed(reading, now)
        if not reading.has_face:
            if reading.arousal is None:
                events.append(Event(now, "no_face"))
        elif not _probs_valid(reading.probs):
            events.append(Event(now, "unusable_reading", "probabilities that are not numbers in [0, 1]"))
        elif now - seen > sc.safety.stale_after_s:
            events.append(Event(now, "stale_reading", f"{now - seen:.3f} s old"))
        elif s.last_fresh is not None and seen < s.last_fresh:
            events.append(Event(now, "out_of_order_reading"))
        else:
            usable = True
            neg_prob = negative_probability(reading.probs)
            s = replace(s, last_fresh=seen, valence=_reading_valence(reading))

    if usable and (s.mode == "holding" or (s.mode == "safe" and s.safe_reason == "no_reading")):
        apply(face_back(s, now, sc))

    r = sc.rules
    if s.stress_warned and (arousal is None or r.warn_arousal is None or arousal < r.warn_arousal - r.warn_hysteresis):
        s = replace(s, stress_warned=False)  # the stress episode is over
    stressed = arousal is not None and r.warn_arousal is not None and arousal >= r.warn_arousal
    if s.mode == "running" and r.halt_arousal is not None and arousal is not None and arousal >= r.halt_arousal:
        apply(negative_halt(s, f"stress at {arousal:.2f} (threshold {r.halt_arousal:g})", now, sc))
    if s.mode == "running":
        if usable:
            reason = ""
            if neg_prob >= r.halt_negative_prob:
                reason = f"negative emotions at {neg_prob:.2f} (threshold {r.halt_negative_prob:g})"
            elif s.valence is not None and s.valence <= r.negative_valence:
                since = s.negative_since if s.negative_since is not None else now
                s = replace(s, negative_since=since)
            else:
                s = replace(s, negative_since=None)
            if reason:
                apply(negative_halt(s, reason, now, sc))
        if s.mode == "running" and s.negative_since is not None and now - s.negative_since >= r.sustained_negative_s:
            apply(negative_halt(s, f"negative for {now - s.negative_since:.0f} s", now, sc))

    if s.mode == "running":
        fresh = _fresh(s, now, sc)
        data_from = max(s.last_fresh if s.last_fresh is not None else -math.inf, s.grace_from)
        if not fresh and now - data_from > sc.safety.stale_after_s:
            apply(no_reading_hold(s, now, sc))
        elif usable and stressed and not s.stress_warned and s.valence is not None and s.valence > r.negative_valence:
            assert arousal is not None
            apply(stress_warning(s, arousal, now, sc))
        elif fresh and s.valence is not None and now - s.last_decision >= sc.rules.decide_every_s:
            if s.valence >= sc.rules.positive_valence and not stressed:
                apply(positive_raise(s, now, sc))
            elif s.valence <= sc.rules.negative_valence:
                apply(negative_lower(s, now, sc))
            else:
                apply(neutral_hold(s, now, sc))

    if s.mode == "running":
        if was_running:
            s = replace(s, step_elapsed=s.step_elapsed + dt)
        apply(advance_step(s, now, sc))

    if s.mode == "holding" and now - s.mode_since >= sc.safety.hold_s:
        apply(no_reading_fade(s, now, sc))

    # outputs: towards the mode's targets, at most the ramp limits; the emergency stop cuts at once
    if s.mode == "estop":
        output: tuple[float, float, float] = (0.0, 0.0, 0.0)
    else:
        targets = _targets(s, now, sc)
        light, sound, vibration = (
            ramp(s.output[i], targets[i], dt, sc.limits(m).ramp_up_per_s, sc.limits(m).ramp_down_per_s)
            for i, m in enumerate(MODALITIES)
        )
        output = (light, sound, vibration)
    s = replace(s, output=output, seq=s.seq + 1, last_time=now)
    return Outcome(s, _commands(s, sc), "+".join(actions) or "none", tuple(alerts), tuple(events))
