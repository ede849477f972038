"""The body's side of the child's reading: the newest wristband stress, handed to the controller.

A :class:`BodyFeed` holds the newest :class:`BodyReading` (stress probability, arousal level, when
it was observed on the controller's clock); anything may :meth:`~BodyFeed.put` into it from any
thread (the MQTT subscriber of :mod:`emolens.relax.physio_mqtt`, a test, a replay). The runner
:meth:`~BodyFeed.take`\\ s what is new at each tick and :func:`with_body` adds it to the face's
reading. The controller applies the face's staleness rule to it (``stale_after_s``), from the time
it was observed here: the time the window that produced it was completed on this machine, not the
wristband's own clock, so a replayed recording or a band with a wrong clock still counts as fresh
exactly while it keeps arriving.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from emolens.relax.types import Reading

Clock = Callable[[], float]

__all__ = ["BodyFeed", "BodyReading", "with_body"]


@dataclass(frozen=True)
class BodyReading:
    """One wristband reading: ``stress`` (probability of stress, 0-1, what the controller's
    ``warn_arousal`` and ``halt_arousal`` compare against), ``arousal`` (0-1 level, for display),
    ``seen_at`` (the controller's clock), ``quality`` (the physio flags of its window)."""

    stress: float
    seen_at: float
    arousal: float | None = None
    quality: tuple[str, ...] = ()

    def as_dict(self, now: float) -> dict[str, object]:
        return {
            "stress": round(self.stress, 4),
            "arousal": None if self.arousal is None else round(self.arousal, 4),
            "age_s": round(max(0.0, now - self.seen_at), 3),
            "quality": list(self.quality),
        }


class BodyFeed:
    """The newest :class:`BodyReading`, written from any thread, read by the loop (see the module)."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._latest: BodyReading | None = None
        self._new = False
        self.count = 0

    def put(self, stress: float, arousal: float | None = None, quality: tuple[str, ...] = ()) -> BodyReading | None:
        """Record a reading observed now; a non-finite stress (a window without usable signal) is dropped."""
        if not math.isfinite(stress):
            return None
        reading = BodyReading(min(1.0, max(0.0, stress)), self.clock(), arousal, tuple(quality))
        with self._lock:
            self._latest = reading
            self._new = True
            self.count += 1
        return reading

    def take(self) -> BodyReading | None:
        """The newest reading if it came after the last call, else None."""
        with self._lock:
            if not self._new:
                return None
            self._new = False
            return self._latest

    @property
    def latest(self) -> BodyReading | None:
        with self._lock:
            return self._latest


def with_body(reading: Reading | None, body: BodyReading | None, now: float) -> Reading | None:
    """The face's ``reading`` with the wristband's ``body`` added; a body-only reading (no face) when
    the camera brought nothing new; ``reading`` as it is without a new body reading."""
    if body is None:
        return reading
    if reading is None:
        return Reading(time=now, arousal=body.stress, arousal_time=body.seen_at)
    return replace(reading, arousal=body.stress, arousal_time=body.seen_at)
