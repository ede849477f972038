"""What the relaxation controller reads and what it tells the devices: plain frozen records, no I/O.

:class:`Reading` is one observation of the child (smoothed emotion probabilities and valence from
the face pipeline, optionally arousal or stress) with the time it was made. :class:`Command` is
what one actuator must do now; :class:`Alert` is a message for the caregivers with an IEC
60601-1-8 priority. These are the contract between the controller, the device backends (``sim``,
``mqtt``), the device-side agent, the store and the web panel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Modality = Literal["light", "sound", "vibration"]
MODALITIES: tuple[Modality, ...] = ("light", "sound", "vibration")
"""The actuators of the chair, in a fixed order."""

Priority = Literal["high", "medium", "low"]
PRIORITIES: tuple[Priority, ...] = ("high", "medium", "low")


@dataclass(frozen=True)
class Reading:
    """One observation of the child at ``time`` (seconds, the controller's clock).

    ``probs``: calibrated, smoothed emotion probabilities by label (empty when no face was seen);
    ``valence``: -1 (negative) to +1 (positive), None without a face; ``arousal``: 0 to 1, the
    stress probability from a wristband, when there is one; ``age_s``: how old the underlying frame
    was when read; ``arousal_time``: when the wristband's reading was observed, on the controller's
    clock (None: with the face, at ``time - age_s``). A reading with an arousal and no
    probabilities is a body-only reading: it says nothing about the face.
    """

    time: float
    probs: dict[str, float] = field(default_factory=dict)
    valence: float | None = None
    arousal: float | None = None
    age_s: float = 0.0
    arousal_time: float | None = None

    @property
    def has_face(self) -> bool:
        return bool(self.probs)


@dataclass(frozen=True)
class Command:
    """What actuator ``modality`` must do now: ``intensity`` in [0, 1] (0 = off) and its settings
    (light: ``color`` "#rrggbb", ``pattern``; sound: ``track``; vibration: ``pattern``).

    ``seq`` increases with every command the controller sends, so a device can drop stale ones.
    """

    modality: Modality
    intensity: float
    params: dict[str, Any] = field(default_factory=dict)
    seq: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"modality": self.modality, "intensity": self.intensity, "params": dict(self.params), "seq": self.seq}


ALL_OFF_PARAMS: dict[str, Any] = {}


def all_off(seq: int = 0) -> tuple[Command, ...]:
    """The safe state of every actuator: off."""
    return tuple(Command(m, 0.0, ALL_OFF_PARAMS, seq) for m in MODALITIES)


@dataclass(frozen=True)
class Alert:
    """A message for the caregivers at time ``t``: ``kind`` (e.g. ``"adverse_reaction"``,
    ``"emergency_stop"``, ``"stale_reading"``, ``"device_error"``), its priority, and text."""

    t: float
    kind: str
    priority: Priority
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"t": self.t, "kind": self.kind, "priority": self.priority, "message": self.message}
