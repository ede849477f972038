"""The event rules, pure functions over a stream of frame results: each rule on its own, then
properties that must hold for any stream (hypothesis)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emolens.errors import EmolensError
from emolens.event import Event, EventOptions, EventRules, detect_events
from emolens.event.rules import EventState, face_events, stress_events, voice_events
from emolens.labels import EMOTIONS, valence_of
from emolens.types import Face, FrameResult

FPS = 10.0


def face(track: int | None, label: str, p: float = 0.7) -> Face:
    rest = (1.0 - p) / (len(EMOTIONS) - 1)
    scores = {e: (p if e == label else rest) for e in EMOTIONS}
    return Face((10 * (track or 0), 10, 40, 40), label, scores, valence_of(label), track_id=track)


def frames(script: Sequence[Sequence[Face]], fps: float = FPS) -> list[FrameResult]:
    """One FrameResult per entry, ``1/fps`` seconds apart, no image."""
    return [FrameResult(i, i / fps, list(faces), None) for i, faces in enumerate(script)]  # type: ignore[arg-type]


def run(script: Sequence[Sequence[Face]], options: EventOptions | None = None) -> list[Event]:
    return list(detect_events(frames(script), options, "test"))


def kinds(events: Sequence[Event]) -> list[tuple[str, int | None, str | None]]:
    return [(e.kind, e.track_id, e.label) for e in events]


def seconds(n: float) -> int:
    return round(n * FPS)


def test_a_person_enters_and_leaves() -> None:
    script = [[face(1, "neutral")]] * seconds(2) + [[]] * seconds(3)
    events = run(script)
    assert kinds(events) == [("person_entered", 1, "neutral"), ("person_left", 1, "neutral")]
    left = events[1]
    assert left.time == pytest.approx(2 - 0.1 + EventOptions().left_after_s)  # last seen at 1.9 s
    assert left.duration_s == pytest.approx(1.9)
    assert [e.seq for e in events] == [1, 2] and all(e.source == "test" for e in events)


def test_the_end_of_the_stream_ends_every_track() -> None:
    events = run([[face(1, "happy"), face(2, "sad")]] * 5)
    assert kinds(events)[-2:] == [("person_left", 1, "happy"), ("person_left", 2, "sad")]


def test_faces_without_a_track_are_not_people() -> None:
    assert run([[face(None, "happy")]] * 5) == []


def test_a_change_is_announced_once_it_has_held() -> None:
    hold = EventOptions().change_hold_s
    script = [[face(1, "neutral")]] * 10 + [[face(1, "happy")]] * seconds(hold + 1)
    events = run(script)
    changed = [e for e in events if e.kind == "emotion_changed"]
    assert len(changed) == 1
    assert (changed[0].label, changed[0].previous) == ("happy", "neutral")
    assert changed[0].time == pytest.approx(1.0 + hold) and changed[0].duration_s == pytest.approx(hold)
    valence = [e for e in events if e.kind == "valence_changed"]
    assert [(e.previous, e.label) for e in valence] == [("neutral", "positive")]


def test_flicker_shorter_than_the_hold_is_not_an_event() -> None:
    blip = seconds(EventOptions().change_hold_s) - 1
    script = ([[face(1, "neutral")]] * 10 + [[face(1, "surprise")]] * blip) * 4 + [[face(1, "neutral")]] * 10
    assert [e.kind for e in run(script)] == ["person_entered", "person_left"]


def test_a_change_back_and_a_zero_hold() -> None:
    script = [[face(1, "neutral")]] * 3 + [[face(1, "sad")]] * 2 + [[face(1, "neutral")]] * 2
    events = run(script, EventOptions(change_hold_s=0.0, valence_hold_s=0.0))
    changed = [(e.previous, e.label, e.frame) for e in events if e.kind == "emotion_changed"]
    assert changed == [("neutral", "sad", 3), ("sad", "neutral", 5)]


def test_a_strong_watched_emotion_is_sustained_once_per_episode() -> None:
    opts = EventOptions(sustained_s=2.0, sustained_prob=0.6)
    script = (
        [[face(1, "angry", 0.8)]] * seconds(3)  # fires at 2 s
        + [[face(1, "angry", 0.5)]] * 5  # falls below: re-armed
        + [[face(1, "angry", 0.8)]] * seconds(2.5)  # fires again
        + [[face(1, "happy", 0.9)]] * seconds(5)  # not watched
    )
    sustained = [e for e in run(script, opts) if e.kind == "emotion_sustained"]
    assert [(e.label, e.time) for e in sustained] == [("angry", pytest.approx(2.0)), ("angry", pytest.approx(5.5))]
    assert all(e.duration_s == pytest.approx(2.0) for e in sustained)
    everything = EventOptions(sustained_labels="all", sustained_s=2.0)
    assert {e.label for e in run(script, everything) if e.kind == "emotion_sustained"} == {"angry", "happy"}
    off = EventOptions(sustained_labels="")
    assert not [e for e in run(script, off) if e.kind == "emotion_sustained"]


def test_people_are_followed_apart() -> None:
    script = [[face(1, "neutral"), face(2, "neutral")]] * 5 + [[face(1, "neutral"), face(2, "happy")]] * 20
    events = run(script)
    assert [(e.kind, e.track_id) for e in events if e.kind == "emotion_changed"] == [("emotion_changed", 2)]


def test_voice_and_stress() -> None:
    opts = EventOptions(change_hold_s=1.0)
    state = EventState()
    out: list[Event] = []
    for t, label in [
        (0.0, "silence"),
        (0.5, "calm"),
        (1.0, "angry"),
        (1.5, "calm"),
        (2.0, "angry"),
        (2.5, "silence"),
        (3.2, "angry"),
    ]:
        state, ev = voice_events(state, t, label, {label: 0.9}, opts, "mic")
        out += ev
    assert [(e.kind, e.label, e.previous, e.time) for e in out] == [
        ("voice_emotion_changed", "calm", None, 0.5),
        ("voice_emotion_changed", "angry", "calm", 3.2),  # from 2.0, silence in between changes nothing
    ]
    stress: list[Event] = []
    for t, p in enumerate([0.2, 0.5, 0.7, 0.6, 0.56, 0.5, 0.9]):
        state, ev = stress_events(state, float(t), p, EventOptions(stress_high=0.65, stress_hysteresis=0.1), "band")
        stress += ev
    assert [(e.label, e.previous, e.time) for e in stress] == [
        ("low", None, 0),
        ("high", "low", 2),
        ("low", "high", 5),
        ("high", "low", 6),
    ]
    assert [e.seq for e in out + stress] == list(range(1, 7))


def test_options_are_checked() -> None:
    with pytest.raises(EmolensError, match="sustained_prob"):
        EventOptions(sustained_prob=0.0)
    with pytest.raises(EmolensError, match="left_after_s"):
        EventOptions(left_after_s=-1)
    with pytest.raises(EmolensError, match="stress_hysteresis"):
        EventOptions(stress_high=0.5, stress_hysteresis=0.5)
    with pytest.raises(EmolensError, match="unknown labels contempt"):
        EventRules(EventOptions(sustained_labels="sad,contempt"))


def test_rules_object_equals_the_pure_functions() -> None:
    script = [[face(1, "neutral")]] * 5 + [[face(1, "sad")]] * 20 + [[]] * 20
    rules = EventRules(source="test")
    by_object = [e for r in frames(script) for e in rules.frame(r)] + rules.end()
    state, by_function = EventState(), []
    for r in frames(script):
        state, ev = face_events(state, r.time, r.index, r.faces, EventOptions(), "test")
        by_function += ev
    assert by_object == by_function == run(script)


# ------------------------------------------------------------------------- any stream at all

frame_faces = st.lists(
    st.tuples(st.integers(1, 3), st.sampled_from(EMOTIONS), st.floats(0.2, 0.95)),
    max_size=3,
    unique_by=lambda x: x[0],
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(frame_faces, min_size=1, max_size=80), st.sampled_from([0.0, 0.3, 1.0]), st.sampled_from([0.0, 0.5, 2.0])
)
def test_any_stream_gives_consistent_events(
    script_raw: list[list[tuple[int, str, float]]], hold: float, left: float
) -> None:
    script = [[face(t, lab, p) for t, lab, p in faces] for faces in script_raw]
    opts = EventOptions(change_hold_s=hold, valence_hold_s=hold, left_after_s=left, sustained_s=1.0)
    events = run(script, opts)
    assert events == run(script, opts)  # deterministic
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len({(e.kind, e.track_id, e.seq) for e in events}) == len(events)
    present: dict[int, str] = {}  # track -> announced label
    seen_label: dict[int, list[tuple[float, str]]] = {}
    for r in frames(script):
        for f in r.faces:
            assert f.track_id is not None
            seen_label.setdefault(f.track_id, []).append((r.time, f.label))
    for e in events:
        assert e.track_id is not None
        if e.kind == "person_entered":
            assert e.track_id not in present
            present[e.track_id] = str(e.label)
        elif e.kind == "person_left":
            assert present.pop(e.track_id) == e.label
        elif e.kind == "emotion_changed":
            assert e.previous == present[e.track_id] != e.label
            assert e.duration_s is not None and e.duration_s >= hold - 1e-9
            # the new label was the track's label on every frame of the hold
            held = [lab for t, lab in seen_label[e.track_id] if e.time - e.duration_s - 1e-9 <= t <= e.time + 1e-9]
            assert held and set(held) == {e.label}
            present[e.track_id] = str(e.label)
        else:
            assert e.track_id in present
    assert present == {}  # the end of the stream ends everyone
