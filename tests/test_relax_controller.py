"""The relaxation controller's rules, each a named transition, tested on its own and through step()."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest

from emolens.relax.controller import (
    FAULT_KINDS,
    FAULT_PRIORITY,
    MODES,
    Change,
    Fault,
    Input,
    Operator,
    Outcome,
    State,
    advance_step,
    negative_lower,
    negative_probability,
    neutral_hold,
    positive_raise,
    ramp,
    step,
    valence_from_probs,
)
from emolens.relax.scenarios import Scenario, scenario_from_dict
from emolens.relax.types import MODALITIES, Reading
from relax_util import face, make_scenario, scenario_dict

SC = make_scenario()
DT = 0.5


class Driver:
    """Ticks the controller every ``DT`` seconds, keeping every outcome."""

    def __init__(self, sc: Scenario = SC) -> None:
        self.sc = sc
        self.state = State()
        self.t = 0.0
        self.history: list[Outcome] = []

    def tick(self, reading: Reading | None = None, inputs: Sequence[Input] = (), *, dt: float = DT) -> Outcome:
        if self.history:
            self.t += dt
        out = step(self.state, reading, self.t, self.sc, inputs)
        self.state = out.state
        self.history.append(out)
        return out

    def run(self, seconds: float, reading: Callable[[float], Reading | None] | None = None) -> list[Outcome]:
        outs = []
        for _ in range(round(seconds / DT)):
            t_next = self.t + DT
            outs.append(self.tick(reading(t_next) if reading else None))
        return outs

    def start(self, label: str | None = "neutral") -> Outcome:
        return self.tick(face(self.t, label) if label else None, [Operator("start")])

    def actions(self) -> list[str]:
        return [a for o in self.history for a in o.action.split("+")]


def targets(sc: Scenario, step_index: int, level: float) -> tuple[float, ...]:
    s = sc.steps[step_index]
    return tuple(min(sc.limits(m).max, s.intensity(m) * level) for m in MODALITIES)  # type: ignore[arg-type]


def assert_ramped(before: tuple[float, ...], after: tuple[float, ...], dt: float, sc: Scenario = SC) -> None:
    for i, m in enumerate(MODALITIES):
        lim = sc.limits(m)  # type: ignore[arg-type]
        assert after[i] - before[i] <= lim.ramp_up_per_s * dt + 1e-9
        assert before[i] - after[i] <= lim.ramp_down_per_s * dt + 1e-9


# ------------------------------------------------------------------------ readings and ramps


def test_valence_and_negative_probability() -> None:
    probs = {"happy": 0.5, "sad": 0.2, "angry": 0.1, "neutral": 0.2}
    assert negative_probability(probs) == pytest.approx(0.3)
    assert valence_from_probs(probs) == pytest.approx(0.5 - 0.3)
    assert valence_from_probs({"surprise": 1.0}) == 0.0


def test_ramp_moves_at_most_the_limit() -> None:
    assert ramp(0.0, 1.0, 2.0, 0.1, 0.5) == pytest.approx(0.2)
    assert ramp(0.15, 0.2, 2.0, 0.1, 0.5) == pytest.approx(0.2)  # never past the target
    assert ramp(1.0, 0.0, 1.0, 0.1, 0.5) == pytest.approx(0.5)
    assert ramp(0.3, 0.0, 0.0, 0.1, 0.5) == 0.3


def test_commands_one_per_actuator_with_rising_seq_and_the_steps_settings() -> None:
    d = Driver()
    d.start()
    d.run(10, lambda t: face(t))
    last = d.history[-1].commands
    assert [c.modality for c in last] == list(MODALITIES)
    assert all(c.intensity > 0 for c in last)
    assert last[0].params == SC.steps[0].params("light")
    assert last[1].params == SC.steps[0].params("sound")
    seqs = [o.commands[0].seq for o in d.history]
    assert seqs == sorted(set(seqs))


# ------------------------------------------------------------------------ the seed's rules


def test_start_needs_a_fresh_face_before_anything_rises() -> None:
    d = Driver()
    d.start(label=None)
    early = d.run(SC.safety.stale_after_s)
    assert all(o.state.output == (0.0, 0.0, 0.0) for o in early)  # no data yet: nothing plays
    d.tick(face(d.t + DT))
    assert all(x > 0 for x, m in zip(d.state.output, MODALITIES, strict=True) if SC.steps[0].intensity(m) > 0)  # type: ignore[arg-type]


def test_neutral_holds() -> None:
    s = State(mode="running", level=1.2, last_decision=0.0)
    ch = neutral_hold(s, 5.0, SC)
    assert ch.action == "neutral_hold" and ch.state.level == s.level and ch.state.last_decision == 5.0
    d = Driver()
    d.start()
    d.run(20, lambda t: face(t, "neutral"))
    assert d.state.level == 1.0
    decisions = [a for a in d.actions() if a in ("neutral_hold", "positive_raise", "negative_lower")]
    assert decisions and set(decisions) == {"neutral_hold"}
    assert len(decisions) == math.floor(20 / SC.rules.decide_every_s)
    assert d.state.output == pytest.approx(targets(SC, 0, 1.0))


def test_positive_raises_by_a_bounded_step_all_actuators_in_proportion() -> None:
    r = SC.rules
    ch = positive_raise(State(level=1.0), 3.0, SC)
    assert ch.state.level == pytest.approx(1.0 + r.raise_step)
    assert positive_raise(State(level=r.max_level - r.raise_step / 2), 3.0, SC).state.level == r.max_level
    d = Driver()
    d.start("happy")
    d.run(r.decide_every_s + DT, lambda t: face(t, "happy"))
    assert d.state.level == pytest.approx(1.0 + r.raise_step)
    d.run(SC.steps[0].duration_s - 10, lambda t: face(t, "happy"))
    assert d.state.step_index == 0
    assert d.state.level == pytest.approx(r.max_level)
    assert d.state.output == pytest.approx(targets(SC, d.state.step_index, r.max_level))
    for before, after in zip(d.history, d.history[1:], strict=False):
        assert_ramped(before.state.output, after.state.output, DT)


def test_negative_lowers_by_a_step_down_to_the_minimum() -> None:
    r = SC.rules
    assert negative_lower(State(level=1.0), 1.0, SC).state.level == pytest.approx(1.0 - r.lower_step)
    assert negative_lower(State(level=r.min_level + r.lower_step / 2), 1.0, SC).state.level == r.min_level
    d = Driver()
    d.start()
    d.run(20, lambda t: face(t, "neutral"))
    high = d.state.output
    d.run(r.decide_every_s + DT, lambda t: face(t, "sad", 0.6))
    assert d.state.mode == "running"
    assert d.state.level == pytest.approx(1.0 - r.lower_step)
    assert all(a < b for a, b, m in zip(d.state.output, high, MODALITIES, strict=True) if b > 0)
    assert "negative_lower" in d.actions()


def test_strong_negative_halts_at_once_with_a_high_alert() -> None:
    d = Driver()
    d.start()
    d.run(15, lambda t: face(t, "happy"))
    out = d.tick(face(d.t + DT, "fear", SC.rules.halt_negative_prob + 0.05))
    assert out.state.mode == "halted" and "negative_halt" in out.action
    assert [(a.kind, a.priority) for a in out.alerts] == [("adverse_reaction", "high")]
    d.run(10, lambda t: face(t, "happy"))  # the child smiles again: still halted
    assert d.state.mode == "halted" and d.state.output == (0.0, 0.0, 0.0)
    assert "negative_halt" in d.actions()
    for before, after in zip(d.history, d.history[1:], strict=False):
        assert_ramped(before.state.output, after.state.output, DT)
    d.tick(face(d.t + DT), [Operator("start")])
    assert d.state.mode == "running" and d.state.step_index == 0 and d.state.level == 1.0


def test_sustained_negative_halts_after_the_scenarios_time() -> None:
    r = SC.rules
    sad = 0.7  # negative, but below the strong threshold
    assert negative_probability(face(0, "sad", sad).probs) < r.halt_negative_prob
    d = Driver()
    d.start()
    d.run(4, lambda t: face(t))
    first = d.t + DT
    while d.t + DT < first + r.sustained_negative_s:
        d.tick(face(d.t + DT, "sad", sad))
        assert d.state.mode == "running", d.t - first
    d.tick(face(d.t + DT, "sad", sad))
    assert d.t - first == pytest.approx(r.sustained_negative_s)
    assert d.state.mode == "halted"
    assert d.history[-1].alerts[0].kind == "adverse_reaction"


def test_stress_over_the_threshold_halts() -> None:
    sc = make_scenario(rules={"halt_arousal": 0.8})
    d = Driver(sc)
    d.start()
    d.run(3, lambda t: face(t, arousal=0.5))
    assert d.state.mode == "running"
    d.tick(face(d.t + DT, arousal=0.9))
    assert d.state.mode == "halted" and "stress" in d.history[-1].alerts[0].message


def test_leaving_a_step_depends_on_the_childs_reaction() -> None:
    first = SC.steps[0]
    uneasy = {"sad": 0.1, "neutral": 0.9}  # below the step's min_valence, not negative enough to lower
    assert SC.rules.negative_valence < valence_from_probs(uneasy) < first.advance.min_valence

    def reading(t: float) -> Reading:
        return Reading(time=t, probs=uneasy, valence=valence_from_probs(uneasy))

    d = Driver()
    d.start()
    d.run(first.duration_s + 2, reading)
    assert d.state.step_index == 0 and "extend" in d.actions()
    d.run(first.advance.max_extend_s, reading)
    assert d.state.step_index == 1  # on_timeout = next

    calm = Driver()
    calm.start()
    calm.run(first.duration_s, lambda t: face(t, "neutral"))
    assert calm.state.step_index == 1 and "advance" in calm.actions() and "extend" not in calm.actions()
    calm.run(SC.steps[1].duration_s, lambda t: face(t, "neutral"))
    assert calm.state.mode == "idle" and "finish" in calm.actions()
    calm.run(10)
    assert calm.state.output == (0.0, 0.0, 0.0)


def test_advance_step_transition_on_its_own() -> None:
    first = SC.steps[0]
    s = State(mode="running", step_elapsed=first.duration_s, valence=first.advance.min_valence, last_fresh=10.0)
    ch = advance_step(s, 10.0, SC)
    assert ch is not None and ch.action == "advance" and ch.state.step_index == 1 and ch.state.step_elapsed == 0
    assert advance_step(replace(s, step_elapsed=first.duration_s - DT), 10.0, SC) is None
    uneasy = replace(s, valence=first.advance.min_valence - 0.1)
    ch = advance_step(uneasy, 10.0, SC)
    assert ch is not None and ch.action == "extend" and ch.state.step_index == 0
    assert advance_step(ch.state, 10.0, SC) is None  # announced once
    # stale data is no reaction: the step goes on
    assert advance_step(s, 10.0 + SC.safety.stale_after_s + 1, SC) == Change(replace(s, extending=True), "extend")
    data = scenario_dict()
    data["steps"][0]["advance"]["on_timeout"] = "finish"
    finishing = scenario_from_dict(data)
    timed_out = replace(uneasy, step_elapsed=first.duration_s + first.advance.max_extend_s)
    ch = advance_step(timed_out, 10.0, finishing)
    assert ch is not None and ch.action == "finish" and ch.state.mode == "idle"
    ch = advance_step(timed_out, 10.0, SC)
    assert ch is not None and ch.action == "advance" and ch.state.step_index == 1


# ------------------------------------------------------------------------ faults and safety


def test_no_face_holds_then_fades_to_the_safe_level_then_resumes() -> None:
    sf = SC.safety
    d = Driver()
    d.start()
    d.run(15, lambda t: face(t))
    last_face = d.t
    playing = d.state.output
    d.run(sf.stale_after_s + DT)
    assert d.state.mode == "holding"
    hold_alert = [a for o in d.history for a in o.alerts if a.kind == "no_reading"]
    assert [a.priority for a in hold_alert] == ["low"]
    assert d.state.output == playing  # held
    d.run(sf.hold_s)
    assert d.state.mode == "safe" and d.state.safe_reason == "no_reading"
    assert d.t - last_face >= sf.stale_after_s + sf.hold_s
    assert [a.priority for o in d.history for a in o.alerts if a.kind == "no_reading"] == ["low", "medium"]
    d.run(10)
    safe = tuple(min(p, SC.limits(m).safe) for p, m in zip(playing, MODALITIES, strict=True))  # type: ignore[arg-type]
    assert d.state.output == pytest.approx(safe)
    for before, after in zip(d.history, d.history[1:], strict=False):
        assert_ramped(before.state.output, after.state.output, DT)
    d.tick(face(d.t + DT))
    assert d.state.mode == "running" and "face_back" in d.history[-1].action


def test_a_no_face_reading_counts_as_no_reading() -> None:
    d = Driver()
    d.start()
    d.run(5, lambda t: face(t))
    d.run(SC.safety.stale_after_s + DT, lambda t: Reading(time=t))
    assert d.state.mode == "holding"
    assert any(e.kind == "no_face" for o in d.history for e in o.events)


def test_a_stale_reading_is_ignored() -> None:
    d = Driver()
    d.start()
    d.run(10, lambda t: face(t))
    stale = face(d.t + DT, "happy", age=SC.safety.stale_after_s + 0.5)
    with_stale = step(d.state, stale, d.t + DT, SC)
    without = step(d.state, None, d.t + DT, SC)
    assert with_stale.state == without.state and with_stale.commands == without.commands
    assert [e.kind for e in with_stale.events] == ["stale_reading"]


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_fault_goes_to_the_safe_state_with_an_alert(kind: str) -> None:
    d = Driver()
    d.start()
    d.run(10, lambda t: face(t, "happy"))
    out = d.tick(face(d.t + DT), [Fault(kind, "test")])  # type: ignore[arg-type]
    assert out.state.mode == "safe" and out.state.safe_reason == kind
    assert [(a.kind, a.priority) for a in out.alerts] == [(kind, FAULT_PRIORITY[kind])]
    again = d.tick(face(d.t + DT), [Fault(kind, "test")])  # type: ignore[arg-type]
    assert again.alerts == ()  # the same fault is not announced twice
    d.run(10, lambda t: face(t, "happy"))  # a face alone does not leave a fault's safe state
    assert d.state.mode == "safe"
    assert all(p <= SC.limits(m).safe + 1e-12 for p, m in zip(d.state.output, MODALITIES, strict=True))  # type: ignore[arg-type]
    d.tick(face(d.t + DT), [Operator("resume")])
    assert d.state.mode == "running" and d.state.faults == frozenset()


def test_a_fault_while_idle_alerts_but_starts_nothing() -> None:
    d = Driver()
    out = d.tick(None, [Fault("device_error")])
    assert out.state.mode == "idle" and [a.priority for a in out.alerts] == ["high"]


def test_emergency_stop_is_immediate_latched_and_needs_reset_then_start() -> None:
    d = Driver()
    d.start()
    d.run(15, lambda t: face(t, "happy"))
    assert max(d.state.output) > 0
    out = d.tick(face(d.t + DT, "happy"), [Operator("estop")])
    assert out.state.mode == "estop"
    assert all(c.intensity == 0.0 and c.params == {} for c in out.commands)  # off on the very next command
    assert [(a.kind, a.priority) for a in out.alerts] == [("emergency_stop", "high")]
    for action in ("start", "resume", "stop", "pause"):
        o = d.tick(face(d.t + DT, "happy"), [Operator(action)])  # type: ignore[arg-type]
        assert o.state.mode == "estop" and all(c.intensity == 0.0 for c in o.commands)
    d.run(10, lambda t: face(t, "happy"))
    assert d.state.mode == "estop" and all(c.intensity == 0.0 for o in d.history[-20:] for c in o.commands)
    d.tick(face(d.t + DT, "happy"), [Operator("reset")])
    assert d.state.mode == "idle"
    d.run(10, lambda t: face(t, "happy"))  # nothing restarts by itself
    assert d.state.mode == "idle" and d.state.output == (0.0, 0.0, 0.0)
    d.tick(face(d.t + DT, "happy"), [Operator("start")])
    d.run(5, lambda t: face(t, "happy"))
    assert d.state.mode == "running" and max(d.state.output) > 0


def test_pause_fades_to_the_safe_level_and_stops_the_steps_clock() -> None:
    d = Driver()
    d.start()
    d.run(10, lambda t: face(t))
    d.tick(face(d.t + DT), [Operator("pause")])
    elapsed = d.state.step_elapsed
    d.run(20, lambda t: face(t))
    assert d.state.mode == "paused" and d.state.step_elapsed == elapsed
    assert all(p <= SC.limits(m).safe + 1e-12 for p, m in zip(d.state.output, MODALITIES, strict=True))  # type: ignore[arg-type]
    d.tick(face(d.t + DT), [Operator("resume")])
    d.run(5, lambda t: face(t))
    assert d.state.mode == "running" and d.state.step_elapsed > elapsed


def test_stop_ends_the_session_and_fades_out() -> None:
    d = Driver()
    d.start()
    d.run(10, lambda t: face(t))
    d.tick(face(d.t + DT), [Operator("stop")])
    assert d.state.mode == "idle"
    d.run(10, lambda t: face(t, "happy"))
    assert d.state.output == (0.0, 0.0, 0.0)


def test_a_clock_going_back_changes_nothing() -> None:
    d = Driver()
    d.start()
    d.run(5, lambda t: face(t))
    before = d.state
    out = step(before, face(before.last_time or 0.0), (before.last_time or 0.0) - 3.0, SC)
    assert out.state.output == before.output and out.state.last_time == before.last_time


def test_modes_are_the_documented_ones() -> None:
    assert MODES == ("idle", "running", "paused", "holding", "safe", "halted", "estop")
    assert State().mode == "idle"


# ------------------------------------------------------------------ the wristband (issue 13)

BODY = make_scenario(rules={"halt_arousal": 0.9, "warn_arousal": 0.6})


def body(t: float, arousal: float, *, seen: float | None = None) -> Reading:
    """A body-only reading: the wristband's stress, no face."""
    return Reading(time=t, arousal=arousal, arousal_time=seen)


def test_stress_over_the_threshold_halts_without_a_face() -> None:
    d = Driver(BODY)
    d.start()
    d.run(2, lambda t: face(t))
    out = d.tick(body(d.t + DT, 0.95))
    assert d.state.mode == "halted" and "stress at 0.95" in out.alerts[0].message
    assert "no_face" not in [e.kind for e in out.events]  # a body-only reading says nothing about the face


def test_stale_stress_is_never_used() -> None:
    d = Driver(BODY)
    d.start()
    d.run(2, lambda t: face(t))
    t = d.t + DT
    out = d.tick(replace(face(t), arousal=0.95, arousal_time=t - BODY.safety.stale_after_s - 0.5))
    assert d.state.mode == "running" and [e.kind for e in out.events] == ["stale_arousal"]
    # a fresh one that then goes quiet stops counting after stale_after_s
    d.tick(face(d.t + DT, arousal=0.7))
    assert d.state.arousal == 0.7
    d.run(BODY.safety.stale_after_s + 1, lambda t: face(t))
    assert d.state.arousal == 0.7 and d.state.mode == "running"
    assert "stress_warning" in d.actions()  # while it was fresh
    d.tick(face(d.t + DT, "happy"))
    assert not d.state.stress_warned  # stale: the episode is over


def test_a_calm_face_with_rising_stress_warns_once_per_episode() -> None:
    d = Driver(BODY)
    d.start()
    d.run(4, lambda t: face(t, arousal=0.3))
    level = d.state.level
    rising = [0.4, 0.5, 0.58, 0.62, 0.7, 0.75, 0.7, 0.65]
    outs = [d.tick(face(d.t + DT, arousal=a)) for a in rising]
    warned = [i for i, o in enumerate(outs) if "stress_warning" in o.action]
    assert warned == [rising.index(0.62)]
    alert = outs[warned[0]].alerts[0]
    assert (alert.kind, alert.priority) == ("stress_warning", "medium") and "0.62" in alert.message
    assert d.state.level == pytest.approx(level - BODY.rules.lower_step)
    # inside the hysteresis band the episode goes on; below it a new rise warns again
    d.tick(face(d.t + DT, arousal=0.55))
    assert d.state.stress_warned
    d.tick(face(d.t + DT, arousal=0.45))
    assert not d.state.stress_warned
    assert "stress_warning" in d.tick(face(d.t + DT, arousal=0.66)).action


def test_no_rise_while_stressed_and_no_warning_for_a_negative_face() -> None:
    d = Driver(BODY)
    d.start()
    d.run(20, lambda t: face(t, "happy", arousal=0.7))
    acts = d.actions()
    assert acts.count("stress_warning") == 1 and "positive_raise" not in acts
    d2 = Driver(BODY)
    d2.start()
    d2.run(4, lambda t: face(t, "sad", 0.5, arousal=0.7))
    assert "stress_warning" not in d2.actions() and "negative_lower" in d2.actions()
    d3 = Driver(BODY)  # the same happy face without stress rises
    d3.start()
    d3.run(20, lambda t: face(t, "happy", arousal=0.3))
    assert "positive_raise" in d3.actions()


def test_readings_that_are_not_numbers_never_raise_the_stimulus() -> None:
    """NaN or out-of-range probabilities, and an age that is not finite, are not a happy child."""
    bad = [
        Reading(0.0, {"happy": math.nan}),
        Reading(0.0, {label: math.nan for label in face(0.0).probs}, math.nan),
        Reading(0.0, {"sad": -5.0, "happy": 0.2}),
    ]
    for make in bad:
        d = Driver()
        d.start()
        outs = d.run(20, lambda t, r=make: replace(r, time=t))  # type: ignore[misc]
        assert "positive_raise" not in d.actions()
        assert any(e.kind == "unusable_reading" for o in outs for e in o.events)
        assert d.state.level <= 1.0
    for age in (math.inf, math.nan):
        d = Driver()
        d.start()
        outs = d.run(20, lambda t, a=age: face(t, "happy", 0.9, age=a))  # type: ignore[misc]
        assert "positive_raise" not in d.actions()
        assert any(e.kind == "stale_reading" for o in outs for e in o.events)


def test_a_clock_that_is_not_a_number_is_refused_and_cannot_skip_the_ramp() -> None:
    d = Driver()
    d.start()
    d.run(5, lambda t: face(t, "neutral"))
    before = d.state.output
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="finite time"):
            step(d.state, face(d.t, "happy", 0.9), bad, SC)
    assert d.state.output == before
