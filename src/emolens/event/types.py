"""What an emotion event is, and the one set of thresholds every sink shares: light records, no I/O.

An :class:`Event` says that something happened to one person (a track) at one moment of a stream:
they came into view, left, their smoothed emotion changed and held, one emotion stayed strong for
a while, their valence changed; or, with a voice or a wristband attached, the voice's emotion or
the body's stress changed. :class:`EventOptions` holds the thresholds and hold times: the rules of
:mod:`emolens.event.rules` read them, and every sink (Python, CLI, MQTT, webhooks, the web page)
gets the events those rules make, so the same stream gives the same events everywhere.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from emolens.errors import EmolensError

EventKind = Literal[
    "person_entered",
    "person_left",
    "emotion_changed",
    "emotion_sustained",
    "valence_changed",
    "voice_emotion_changed",
    "stress_changed",
]
EVENT_KINDS: tuple[EventKind, ...] = typing.get_args(EventKind)
"""Every kind of event, in the order of :data:`EventKind`."""

__all__ = ["EVENT_KINDS", "Event", "EventKind", "EventOptions"]


@dataclass(frozen=True)
class EventOptions:
    """The thresholds and hold times of the event rules (seconds are the stream's seconds).

    ``change_hold_s``: a track's smoothed emotion must stay on a new label this long before
    ``emotion_changed`` (the event carries the time the change began). ``sustained_labels``:
    comma-separated labels watched for ``emotion_sustained`` (``all``: every label; empty: off);
    such a label at or above ``sustained_prob`` for ``sustained_s`` seconds fires once, and again
    only after it fell below. ``valence_hold_s``: as ``change_hold_s``, for the valence (negative,
    neutral, positive). ``left_after_s``: a track unseen this long has left (a stream's end ends
    every track). ``stress_high``: a wristband's stress probability at or above it is ``high``;
    it is ``low`` again below ``stress_high - stress_hysteresis``.
    """

    change_hold_s: float = field(
        default=1.0, metadata={"help": "seconds a new emotion must hold before emotion_changed"}
    )
    sustained_labels: str = field(
        default="angry,disgust,fear,sad",
        metadata={"help": "labels watched for emotion_sustained, comma-separated (all: every label; '': off)"},
    )
    sustained_prob: float = field(
        default=0.6, metadata={"help": "probability an emotion must keep for emotion_sustained"}
    )
    sustained_s: float = field(default=3.0, metadata={"help": "seconds it must keep it"})
    valence_hold_s: float = field(
        default=1.0, metadata={"help": "seconds a new valence must hold before valence_changed"}
    )
    left_after_s: float = field(default=1.0, metadata={"help": "seconds unseen after which a person has left"})
    stress_high: float = field(default=0.65, metadata={"help": "wristband stress probability counted as high"})
    stress_hysteresis: float = field(default=0.1, metadata={"help": "how far below stress_high stress is low again"})

    def __post_init__(self) -> None:
        for name in ("change_hold_s", "sustained_s", "valence_hold_s", "left_after_s"):
            value = getattr(self, name)
            if not 0.0 <= value <= 3600.0:
                raise EmolensError(f"event option {name} must lie in [0, 3600] seconds, got {value}")
        for name in ("sustained_prob", "stress_high"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise EmolensError(f"event option {name} must lie in (0, 1], got {value}")
        if not 0.0 <= self.stress_hysteresis < self.stress_high:
            raise EmolensError(
                f"event option stress_hysteresis must lie in [0, stress_high), got {self.stress_hysteresis}"
            )

    def watched(self, labels: tuple[str, ...]) -> frozenset[str]:
        """The labels of ``labels`` watched for ``emotion_sustained``."""
        text = self.sustained_labels.strip()
        if text == "all":
            return frozenset(labels)
        wanted = {x.strip() for x in text.split(",") if x.strip()}
        unknown = wanted - set(labels)
        if unknown:
            raise EmolensError(
                f"sustained_labels: unknown labels {', '.join(sorted(unknown))}; the model has {', '.join(labels)}"
            )
        return frozenset(wanted)


@dataclass(frozen=True)
class Event:
    """One thing that happened to one person.

    ``kind``: one of :data:`EVENT_KINDS`. ``time``: seconds of the stream when it happened (for
    the changes: when the new state began; for ``person_left``: when the person was last seen).
    ``track_id``: the person (None for a voice or wristband not tied to a face). ``label``: the
    emotion (for ``stress_changed``: ``high`` or ``low``; for ``valence_changed``: the valence),
    ``previous``: what it was before (None on entering). ``probs``: the smoothed probabilities
    when it was decided (for stress: ``{"stress": p}``). ``valence``: the person's valence then.
    ``source``: where it came from (a file, ``camera:0``, ``live``...). ``frame``: the frame that
    decided it. ``duration_s``: how long the state had lasted (sustained, left). ``seq``: its
    number in its stream, from 1: events are numbered in the order they are made.
    """

    kind: EventKind
    time: float
    track_id: int | None
    label: str | None
    probs: dict[str, float]
    valence: str | None
    source: str
    frame: int | None = None
    previous: str | None = None
    duration_s: float | None = None
    seq: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "seq": self.seq,
            "time": round(self.time, 4),
            "track_id": self.track_id,
            "label": self.label,
            "previous": self.previous,
            "probs": {k: round(v, 4) for k, v in self.probs.items()},
            "valence": self.valence,
            "source": self.source,
            "frame": self.frame,
            "duration_s": None if self.duration_s is None else round(self.duration_s, 4),
        }
