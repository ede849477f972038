"""The event rules: pure functions from (memory, what was observed at time t) to (memory, events).

:func:`face_events` reads one frame's faces (smoothed, tracked: :class:`~emolens.types.FrameResult`)
and says who came, who left, whose emotion or valence changed and held, and whose watched emotion
stayed strong; :func:`voice_events` and :func:`stress_events` do the same for a voice's emotion and
a wristband's stress; :func:`end_events` closes every track at the end of a stream. No clock, no
I/O: the same observations always give the same events, numbered in order (``seq``).

Every event's ``time`` is the stream time of the observation that decided it; ``duration_s`` says
how long the new state had already lasted (the hold), or how long a person was in view.
:class:`EventRules` keeps the memory between calls for callers that want an object, and
:func:`detect_events` turns a stream of frame results into a stream of events.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from emolens.event.types import Event, EventKind, EventOptions
from emolens.labels import EMOTIONS
from emolens.types import Face, FrameResult

__all__ = [
    "EventRules",
    "EventState",
    "Pending",
    "TrackMemory",
    "detect_events",
    "end_events",
    "face_events",
    "stress_events",
    "voice_events",
]

NOT_SPEECH = frozenset({"silence", "non-speech", "music", "noise"})
"""Voice window labels that are not an emotion: they never change the voice's emotion."""


@dataclass(frozen=True)
class Pending:
    """A new value seen since ``since`` and not yet held long enough to be announced."""

    value: str
    since: float


@dataclass(frozen=True)
class TrackMemory:
    """What the rules remember of one person: when seen, what was announced, what is pending."""

    first_seen: float
    last_seen: float
    label: str
    valence: str
    probs: Mapping[str, float]
    pending_label: Pending | None = None
    pending_valence: Pending | None = None
    strong: str | None = None
    strong_since: float = 0.0
    strong_fired: bool = False


@dataclass(frozen=True)
class EventState:
    """Everything the rules remember between observations. Start from ``EventState()``."""

    tracks: Mapping[int, TrackMemory] = field(default_factory=dict)
    seq: int = 0
    voice: str | None = None
    voice_pending: Pending | None = None
    stress: str | None = None


def _held(pending: Pending | None, value: str, t: float, hold: float) -> tuple[Pending | None, float | None]:
    """The pending change after seeing ``value`` at ``t``: (pending, None) while it waits; (None, held
    seconds) once it has held ``hold`` seconds (announce it)."""
    if pending is None or pending.value != value:
        pending = Pending(value, t)
    held = t - pending.since
    if held >= hold:
        return None, held
    return pending, None


class _Emitter:
    """Numbers the events of one call in order, from the state's counter."""

    def __init__(self, seq: int, source: str) -> None:
        self.seq = seq
        self.source = source
        self.events: list[Event] = []

    def emit(self, kind: EventKind, t: float, track: int | None, label: str | None, probs: Mapping[str, float],
             valence: str | None, *, frame: int | None = None, previous: str | None = None,
             duration_s: float | None = None) -> None:  # fmt: skip
        self.seq += 1
        self.events.append(
            Event(kind, t, track, label, dict(probs), valence, self.source, frame, previous, duration_s, self.seq)
        )

    def left(self, t: float, track: int, mem: TrackMemory, frame: int | None) -> None:
        """``person_left`` for a track last seen as ``mem``, lasting from its first to its last sighting."""
        self.emit("person_left", t, track, mem.label, mem.probs, mem.valence, frame=frame,
                  duration_s=mem.last_seen - mem.first_seen)  # fmt: skip


def _strongest(face: Face, watched: frozenset[str], threshold: float) -> str | None:
    """The watched label with the highest probability, if at least ``threshold``."""
    best = max((lab for lab in face.scores if lab in watched), key=lambda lab: face.scores[lab], default=None)
    return best if best is not None and face.scores[best] >= threshold else None


def _follow(mem: TrackMemory, face: Face, t: float, frame: int, opts: EventOptions, watched: frozenset[str],
            out: _Emitter) -> TrackMemory:  # fmt: skip
    track = face.track_id
    # the emotion: a new label must hold change_hold_s
    pending_label, held = (
        (None, None) if face.label == mem.label else _held(mem.pending_label, face.label, t, opts.change_hold_s)
    )
    if held is not None:
        out.emit(
            "emotion_changed",
            t,
            track,
            face.label,
            face.scores,
            face.valence,
            frame=frame,
            previous=mem.label,
            duration_s=held,
        )
        mem = replace(mem, label=face.label)
    # the valence: likewise
    pending_valence, vheld = (
        (None, None)
        if face.valence == mem.valence
        else _held(mem.pending_valence, face.valence, t, opts.valence_hold_s)
    )
    if vheld is not None:
        out.emit(
            "valence_changed",
            t,
            track,
            face.valence,
            face.scores,
            face.valence,
            frame=frame,
            previous=mem.valence,
            duration_s=vheld,
        )
        mem = replace(mem, valence=face.valence)
    # a watched emotion that stays strong
    strong = _strongest(face, watched, opts.sustained_prob)
    if strong != mem.strong:
        mem = replace(mem, strong=strong, strong_since=t, strong_fired=False)
    if mem.strong is not None and not mem.strong_fired and t - mem.strong_since >= opts.sustained_s:
        out.emit(
            "emotion_sustained",
            t,
            track,
            mem.strong,
            face.scores,
            face.valence,
            frame=frame,
            duration_s=t - mem.strong_since,
        )
        mem = replace(mem, strong_fired=True)
    return replace(
        mem, last_seen=t, probs=dict(face.scores), pending_label=pending_label, pending_valence=pending_valence
    )


def face_events(
    state: EventState,
    t: float,
    frame: int,
    faces: Sequence[Face],
    options: EventOptions,
    source: str,
    labels: Sequence[str] = EMOTIONS,
) -> tuple[EventState, list[Event]]:
    """The events of one frame at stream time ``t``: its tracked ``faces`` (faces without a track id
    are not people the rules can follow and are skipped). Returns the new state and the events."""
    out = _Emitter(state.seq, source)
    watched = options.watched(tuple(labels))
    tracks = dict(state.tracks)
    seen: set[int] = set()
    for face in faces:
        if face.track_id is None or face.track_id in seen:
            continue
        track = face.track_id
        seen.add(track)
        mem = tracks.get(track)
        if mem is None:
            out.emit("person_entered", t, track, face.label, face.scores, face.valence, frame=frame)
            mem = TrackMemory(t, t, face.label, face.valence, dict(face.scores))
        tracks[track] = _follow(mem, face, t, frame, options, watched, out)
    for track in sorted(set(tracks) - seen):
        mem = tracks[track]
        if t - mem.last_seen >= options.left_after_s:
            out.left(t, track, mem, frame)
            del tracks[track]
    return replace(state, tracks=tracks, seq=out.seq), out.events


def end_events(state: EventState, t: float, source: str, frame: int | None = None) -> tuple[EventState, list[Event]]:
    """The stream ended at ``t``: every person still in view has left."""
    out = _Emitter(state.seq, source)
    for track in sorted(state.tracks):
        out.left(t, track, state.tracks[track], frame)
    return replace(state, tracks={}, seq=out.seq), out.events


def voice_events(
    state: EventState,
    t: float,
    label: str,
    probs: Mapping[str, float],
    options: EventOptions,
    source: str,
    valence: str | None = None,
) -> tuple[EventState, list[Event]]:
    """A voice window's ``label`` at ``t``: ``voice_emotion_changed`` once a new emotion has held
    ``change_hold_s`` (the first one is announced at once); silence and non-speech change nothing."""
    if label in NOT_SPEECH:
        return state, []
    out = _Emitter(state.seq, source)
    if state.voice is None:
        out.emit("voice_emotion_changed", t, None, label, probs, valence, duration_s=0.0)
        return replace(state, voice=label, voice_pending=None, seq=out.seq), out.events
    if label == state.voice:
        return replace(state, voice_pending=None), []
    pending, held = _held(state.voice_pending, label, t, options.change_hold_s)
    if held is None:
        return replace(state, voice_pending=pending), []
    out.emit("voice_emotion_changed", t, None, label, probs, valence, previous=state.voice, duration_s=held)
    return replace(state, voice=label, voice_pending=None, seq=out.seq), out.events


def stress_events(
    state: EventState, t: float, p_stress: float, options: EventOptions, source: str
) -> tuple[EventState, list[Event]]:
    """A wristband's stress probability at ``t``: ``stress_changed`` when it becomes ``high`` (at or
    above ``stress_high``) or ``low`` again (below ``stress_high - stress_hysteresis``); the first
    reading announces the level it starts at."""
    if p_stress >= options.stress_high:
        level = "high"
    elif p_stress < options.stress_high - options.stress_hysteresis or state.stress is None:
        level = "low"
    else:
        level = state.stress
    if level == state.stress:
        return state, []
    out = _Emitter(state.seq, source)
    out.emit("stress_changed", t, None, level, {"stress": p_stress}, None, previous=state.stress)
    return replace(state, stress=level, seq=out.seq), out.events


class EventRules:
    """The rules with their memory, for one stream: :meth:`frame`, :meth:`voice`, :meth:`stress`,
    :meth:`end` return the events each observation makes (see the module)."""

    def __init__(self, options: EventOptions | None = None, source: str = "", labels: Sequence[str] = EMOTIONS) -> None:
        self.options = options or EventOptions()
        self.source = source
        self.labels = tuple(labels)
        self.options.watched(self.labels)  # unknown labels fail now
        self.state = EventState()
        self.last_time: float | None = None
        self.last_frame: int | None = None

    def frame(self, result: FrameResult) -> list[Event]:
        self.state, events = face_events(
            self.state, result.time, result.index, result.faces, self.options, self.source, self.labels
        )
        self.last_time, self.last_frame = result.time, result.index
        return events

    def voice(self, t: float, label: str, probs: Mapping[str, float], valence: str | None = None) -> list[Event]:
        self.state, events = voice_events(self.state, t, label, probs, self.options, self.source, valence)
        return events

    def stress(self, t: float, p_stress: float) -> list[Event]:
        self.state, events = stress_events(self.state, t, p_stress, self.options, self.source)
        return events

    def end(self, t: float | None = None) -> list[Event]:
        """Every person still in view leaves (at ``t``, default the last frame's time)."""
        when = t if t is not None else (self.last_time if self.last_time is not None else 0.0)
        self.state, events = end_events(self.state, when, self.source, self.last_frame)
        return events

    def reset(self) -> None:
        """Forget every person (the numbering goes on)."""
        self.state = EventState(seq=self.state.seq)


def detect_events(
    results: Iterable[FrameResult],
    options: EventOptions | None = None,
    source: str = "",
    labels: Sequence[str] = EMOTIONS,
) -> Iterator[Event]:
    """The events of a stream of frame results, then ``person_left`` for everyone at its end."""
    rules = EventRules(options, source, labels)
    for result in results:
        yield from rules.frame(result)
    yield from rules.end()
