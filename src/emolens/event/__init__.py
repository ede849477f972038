"""Emotion events that applications can act on: who came, who left, whose emotion changed.

``emolens.events(source)`` (:func:`emolens.event.watch.events`) yields :class:`Event` records as
a video, stream or camera is analysed; :class:`EventOptions` holds the thresholds every sink
shares; the rules are pure functions in :mod:`emolens.event.rules`; sinks (JSON lines, callbacks,
MQTT, webhooks) are in :mod:`emolens.event.sinks`, :mod:`emolens.event.mqtt` and
:mod:`emolens.event.webhook`.
"""

from __future__ import annotations

from emolens.event.rules import EventRules, detect_events
from emolens.event.types import EVENT_KINDS, Event, EventKind, EventOptions

__all__ = ["EVENT_KINDS", "Event", "EventKind", "EventOptions", "EventRules", "detect_events"]
