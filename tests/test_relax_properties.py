"""Safety properties of the relaxation controller over arbitrary readings, inputs and clocks (hypothesis)."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emolens.labels import EMOTIONS
from emolens.relax.controller import FAULT_KINDS, OPERATOR_ACTIONS, Fault, Input, Operator, Outcome, State, step
from emolens.relax.scenarios import Scenario, load_scenario
from emolens.relax.types import MODALITIES, Reading
from relax_util import make_scenario

SCENARIOS = [make_scenario(), make_scenario(rules={"halt_arousal": 0.7}), load_scenario("calm-evening")]
EPS = 1e-9
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Tick:
    dt: float
    kind: str  # none, noface, face
    probs: tuple[float, ...]
    age: float
    arousal: float | None
    inputs: tuple[Input, ...]


ALL_INPUTS: list[Input] = [Operator(a) for a in OPERATOR_ACTIONS] + [Fault(k) for k in FAULT_KINDS]

ticks = st.builds(
    Tick,
    dt=st.one_of(st.just(0.0), st.floats(0.0, 3.0), st.floats(-2.0, 0.0), st.floats(3.0, 30.0)),
    kind=st.sampled_from(["none", "noface", "face", "face", "face"]),
    probs=st.lists(st.floats(0.0, 1.0), min_size=7, max_size=7).map(tuple),
    age=st.one_of(st.just(0.0), st.floats(0.0, 8.0)),
    arousal=st.one_of(st.none(), st.floats(0.0, 1.0)),
    inputs=st.tuples(st.integers(0, 11), st.lists(st.sampled_from(ALL_INPUTS), min_size=1, max_size=3)).map(
        lambda x: tuple(x[1]) if x[0] == 0 else ()
    ),
)
sessions = st.tuples(
    st.sampled_from(range(len(SCENARIOS))), st.floats(0.0, 1e6), st.lists(ticks, min_size=1, max_size=60)
)


def reading(tick: Tick, now: float) -> Reading | None:
    if tick.kind == "none":
        return None
    if tick.kind == "noface" or sum(tick.probs) <= 0:
        return Reading(time=now, age_s=tick.age, arousal=tick.arousal)
    total = sum(tick.probs)
    probs = {e: p / total for e, p in zip(EMOTIONS, tick.probs, strict=True)}
    return Reading(time=now, probs=probs, age_s=tick.age, arousal=tick.arousal)


def replay(
    sc: Scenario, t0: float, seq: list[Tick]
) -> list[tuple[State, Outcome, float, Reading | None, tuple[Input, ...]]]:
    """(state before, outcome, now, reading, inputs) for every tick; the first tick starts a session."""
    state, now = State(), t0
    out = []
    for i, tick in enumerate(seq):
        now += tick.dt
        inputs = ((Operator("start"),) + tick.inputs) if i == 0 else tick.inputs
        r = reading(tick, now)
        o = step(state, r, now, sc, inputs)
        out.append((state, o, now, r, inputs))
        state = o.state
    return out


@PROPERTY
@given(sessions)
def test_intensities_stay_in_range_and_under_each_maximum(session: tuple[int, float, list[Tick]]) -> None:
    sc = SCENARIOS[session[0]]
    for _, o, *_ in replay(sc, session[1], session[2]):
        assert len(o.commands) == len(MODALITIES)
        for c in o.commands:
            assert 0.0 <= c.intensity <= 1.0
            assert c.intensity <= sc.limits(c.modality).max + EPS


@PROPERTY
@given(sessions)
def test_no_change_is_larger_than_the_ramp_limit(session: tuple[int, float, list[Tick]]) -> None:
    sc = SCENARIOS[session[0]]
    for before, o, _, _, _ in replay(sc, session[1], session[2]):
        if o.state.mode == "estop":
            continue  # the emergency stop cuts at once, by design
        elapsed = 0.0 if before.last_time is None else o.state.last_time - before.last_time  # type: ignore[operator]
        assert elapsed >= 0.0
        for i, m in enumerate(MODALITIES):
            lim = sc.limits(m)  # type: ignore[arg-type]
            change = o.state.output[i] - before.output[i]
            assert change <= lim.ramp_up_per_s * elapsed + EPS
            assert -change <= lim.ramp_down_per_s * elapsed + EPS


@PROPERTY
@given(sessions)
def test_after_an_emergency_stop_every_command_is_all_off_until_a_reset(session: tuple[int, float, list[Tick]]) -> None:
    sc = SCENARIOS[session[0]]
    latched = False
    for _, o, _, _, inputs in replay(sc, session[1], session[2]):
        for item in inputs:
            if item == Operator("estop"):
                latched = True
            elif item == Operator("reset"):
                latched = False
        if latched:
            assert o.state.mode == "estop"
            assert all(c.intensity == 0.0 for c in o.commands)
        elif o.state.mode == "estop":
            raise AssertionError("estop without an emergency stop")


@PROPERTY
@given(sessions)
def test_a_halted_stimulus_never_restarts_without_a_new_start(session: tuple[int, float, list[Tick]]) -> None:
    sc = SCENARIOS[session[0]]
    halted = False
    for before, o, _, _, inputs in replay(sc, session[1], session[2]):
        started = Operator("start") in inputs and before.mode != "estop"
        if halted and not started:
            assert o.state.mode in ("halted", "idle", "estop")
            assert all(a <= b + EPS for a, b in zip(o.state.output, before.output, strict=True))
        if started:
            halted = False
        if o.state.mode == "halted":
            halted = True


@PROPERTY
@given(sessions)
def test_stale_readings_never_raise_an_intensity(session: tuple[int, float, list[Tick]]) -> None:
    sc = SCENARIOS[session[0]]
    for before, o, now, r, inputs in replay(sc, session[1], session[2]):
        fresh_data = o.state.last_fresh is not None and now - o.state.last_fresh <= sc.safety.stale_after_s
        if not fresh_data:  # nothing fresh to go on: nothing rises
            assert all(a <= b + EPS for a, b in zip(o.state.output, before.output, strict=True))
        seen = None if r is None else min(r.time, max(now, before.last_time or now)) - r.age_s
        if r is not None and seen is not None and max(now, before.last_time or now) - seen > sc.safety.stale_after_s:
            # a stale reading is ignored: the same as no reading at all
            without = step(before, None, now, sc, inputs)
            assert without.state == o.state and without.commands == o.commands and without.alerts == o.alerts
