"""The wristband's live samples from MQTT, turned into stress readings for the controller.

:class:`PhysioSubscriber` subscribes to ``emolens/physio/<child>/+`` (the topic and payload of
:mod:`emolens.physio.mqtt`: a band, or a bridge app beside it, publishes its samples there; ``emolens
physio-replay`` replays a recorded E4 folder the same way), pushes every message through a
:class:`~emolens.physio.recognizer.PhysioRecognizer` stream of its own, and puts each completed
window's stress probability into a :class:`~emolens.relax.body.BodyFeed`. A malformed message is
counted and logged (at most once a minute), never raised: a bad band must not stop the chair.
Needs paho-mqtt (the ``relax`` extra).
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any

from emolens.errors import EmolensError
from emolens.mqtt import QOS, connect, make_client
from emolens.relax.body import BodyFeed

if TYPE_CHECKING:
    from emolens.physio.recognizer import PhysioRecognizer

log = logging.getLogger(__name__)

__all__ = ["PhysioSubscriber"]


class PhysioSubscriber:
    """Feed ``feed`` from the samples of ``child``'s wristband on the broker at ``url`` (see the module)."""

    def __init__(
        self,
        url: str,
        child: str,
        feed: BodyFeed,
        recognizer: PhysioRecognizer | None = None,
        *,
        connect_timeout_s: float = 5.0,
    ) -> None:
        from emolens.physio.mqtt import decode_samples, topic_filter
        from emolens.physio.recognizer import PhysioRecognizer

        self.topic = topic_filter(child)
        self.child = child
        self.feed = feed
        self._decode = decode_samples
        self._stream = (recognizer or PhysioRecognizer()).stream()
        self.messages = 0
        self.bad = 0
        self.readings = 0
        self.last_reading: dict[str, Any] | None = None
        self._warned_at = -float("inf")
        self._lock = threading.Lock()
        connected = threading.Event()
        self._client = make_client(f"emolens-physio-{child}-{os.getpid()}-{secrets.token_hex(3)}")
        self._client.on_connect = lambda c, u, f, rc, p: self._on_connect(rc, connected)
        self._client.on_message = lambda c, u, msg: self._on_message(msg.topic, bytes(msg.payload))
        connect(self._client, url, keepalive_s=30, timeout_s=connect_timeout_s, connected=connected)

    def _on_connect(self, reason: Any, connected: threading.Event) -> None:
        if reason.is_failure:
            log.warning("the MQTT broker refused the wristband subscription: %s", reason)
            return
        self._client.subscribe(self.topic, qos=QOS)
        connected.set()

    def _on_message(self, topic: str, payload: bytes) -> None:
        with self._lock:
            self.messages += 1
            try:
                s = self._decode(topic, payload)
                readings = self._stream.push(s.channel, s.t, s.values, s.fs)
            except EmolensError as e:
                self.bad += 1
                now = time.monotonic()
                if now - self._warned_at > 60.0:
                    self._warned_at = now
                    log.warning("wristband message on %s ignored: %s (%d so far)", topic, e, self.bad)
                return
            for r in readings:
                if self.feed.put(r.p_stress, r.arousal, tuple(r.quality)) is not None:
                    self.readings += 1
                    self.last_reading = r.as_dict()

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"messages": self.messages, "bad": self.bad, "readings": self.readings}

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
