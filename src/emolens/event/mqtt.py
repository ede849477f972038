"""Events over MQTT: one topic per event kind under a prefix, QoS 1, and each person's last state retained.

Given ``mqtt://HOST:PORT/PREFIX`` (PREFIX default ``emolens/events``):

* ``PREFIX/<kind>`` (not retained): every event of that kind, the JSON of
  :func:`~emolens.event.sinks.event_json`. Subscribe to ``PREFIX/+`` for all of them.
* ``PREFIX/person/<track_id>`` (retained): the person's last known state, ``{"track_id",
  "present", "label", "valence", "probs", "time", "seq"}``; ``present`` is false once they left,
  so a client that connects later learns who is in view without waiting for an event.
* ``PREFIX/voice`` and ``PREFIX/stress`` (retained): the voice's last emotion and the body's last
  stress level, when those are attached.

paho's network thread sends; :meth:`MqttSink.send` only queues in paho's own buffer, bounded by
``queue_size`` messages in flight: beyond it events are dropped and counted. Needs paho-mqtt.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
from typing import Any

from emolens.errors import EmolensError
from emolens.event.sinks import event_json
from emolens.event.types import Event
from emolens.mqtt import QOS, connect, encode, make_client, parse_topic_url

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_PREFIX", "MqttSink", "state_payload"]

DEFAULT_PREFIX = "emolens/events"


def state_payload(event: Event) -> dict[str, Any]:
    """The retained state a person's (or the voice's, the body's) topic holds after ``event``."""
    return {
        "track_id": event.track_id,
        "present": event.kind != "person_left",
        "label": event.label,
        "valence": event.valence,
        "probs": {k: round(v, 4) for k, v in event.probs.items()},
        "time": round(event.time, 4),
        "seq": event.seq,
    }


class MqttSink:
    """Publish events to an MQTT broker (see the module)."""

    def __init__(
        self, url: str, *, queue_size: int = 1000, connect_timeout_s: float = 5.0, close_timeout_s: float = 5.0
    ) -> None:
        host, port, self.prefix = parse_topic_url(url, DEFAULT_PREFIX)
        if queue_size < 1:
            raise EmolensError("mqtt sink: queue_size must be 1 or more")
        self.name = f"mqtt://{host}:{port}/{self.prefix}"
        self.close_timeout_s = close_timeout_s
        self._counts = {"sent": 0, "dropped": 0, "failed": 0}
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._client = make_client(f"emolens-events-{os.getpid()}-{secrets.token_hex(3)}")
        self._client.max_queued_messages_set(queue_size)
        self._client.on_connect = lambda c, u, f, rc, p: self._connected.set() if not rc.is_failure else None
        self._client.on_disconnect = lambda c, u, f, rc, p: self._connected.clear()
        self._pending: list[tuple[Any, bool]] = []
        connect(
            self._client,
            f"mqtt://{host}:{port}",
            keepalive_s=30,
            timeout_s=connect_timeout_s,
            connected=self._connected,
        )

    def _sweep(self) -> None:
        """Count the events the broker has acknowledged; forget them (call with the lock held)."""
        left = []
        for info, is_event in self._pending:
            if info.is_published():
                self._counts["sent"] += is_event
            else:
                left.append((info, is_event))
        self._pending = left

    def stats(self) -> dict[str, int]:
        with self._lock:
            self._sweep()
            return {**self._counts, "queued": len(self._pending)}

    def _publish(self, topic: str, payload: bytes, *, retain: bool, event: bool) -> None:
        info = self._client.publish(topic, payload, qos=QOS, retain=retain)
        with self._lock:
            if info.rc != 0:  # paho's queue is full, or the client is gone
                self._counts["dropped" if event else "failed"] += 1
                return
            self._pending.append((info, event))
            if len(self._pending) > 256:
                self._sweep()

    def send(self, event: Event) -> None:
        self._publish(f"{self.prefix}/{event.kind}", event_json(event).encode(), retain=False, event=True)
        if event.track_id is not None:
            state_topic = f"{self.prefix}/person/{event.track_id}"
        elif event.kind == "voice_emotion_changed":
            state_topic = f"{self.prefix}/voice"
        elif event.kind == "stress_changed":
            state_topic = f"{self.prefix}/stress"
        else:
            return
        self._publish(state_topic, encode(state_payload(event)), retain=True, event=False)

    def close(self) -> None:
        """Wait up to ``close_timeout_s`` for what is queued to reach the broker, then disconnect."""
        with self._lock:
            pending = [info for info, _ in self._pending]
        for info in pending:
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=self.close_timeout_s)
        self._client.disconnect()
        self._client.loop_stop()
        with self._lock:
            self._sweep()
            self._counts["dropped"] += sum(is_event for _, is_event in self._pending)
            self._pending = []
