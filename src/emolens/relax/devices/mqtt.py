"""``mqtt://HOST:PORT``: the chair's actuators behind an MQTT broker, driven by device agents.

The controller's side of the topic tree of :mod:`emolens.relax.devices.topics`: commands go to
``<modality>/set``, a heartbeat to ``controller/heartbeat`` every ``heartbeat_s``, the status
``online`` (retained) to ``controller/status``, with the last will ``offline`` so that the broker
tells the devices when this process vanishes. The devices' ``state``, heartbeats, status and
alerts come back and make :meth:`MqttDevices.state`; a device that says nothing for ``silent_s``
(or whose agent goes ``offline``), and the loss of the broker, are faults. Every message is QoS 1;
the socket has TCP no-delay. Needs paho-mqtt (the ``relax`` extra).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from emolens.mqtt import QOS, connect, decode, encode, make_client, parse_broker
from emolens.relax.devices import Clock, DevicesState, Fault, empty_outputs
from emolens.relax.devices.topics import (
    ESTOP_RESET,
    ESTOP_STOP,
    OFFLINE,
    ONLINE,
    Topics,
    alert_from,
)
from emolens.relax.types import MODALITIES, Alert, Command, all_off

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

MAX_ALERTS = 50


@dataclass
class _Agent:
    status: str = ""
    seen_at: float | None = None
    modalities: set[str] = field(default_factory=set)


class MqttDevices:
    """:class:`~emolens.relax.devices.Devices` over MQTT (see the module).

    ``heartbeat_s``: the least time between two controller heartbeats (the agents' watchdogs must
    be several times longer). ``silent_s``: a device that says nothing for this long is a fault.
    ``modalities``: the outputs this chair must have. Raises an EmolensError when the broker cannot
    be reached within ``connect_timeout_s``.
    """

    name = "mqtt"

    def __init__(
        self,
        url: str,
        *,
        chair: str = "chair1",
        clock: Clock = time.monotonic,
        heartbeat_s: float = 0.2,
        silent_s: float = 2.0,
        connect_timeout_s: float = 5.0,
        keepalive_s: int = 5,
        modalities: Sequence[str] = MODALITIES,
    ) -> None:
        self.url = url
        self.host, self.port = parse_broker(url)
        self.topics = Topics(chair)
        self.clock = clock
        self.heartbeat_s = heartbeat_s
        self.silent_s = silent_s
        self.modalities = tuple(modalities)
        self._cond = threading.Condition()
        self._outputs = empty_outputs()
        self._agents: dict[str, _Agent] = {}
        self._alerts: deque[Alert] = deque(maxlen=MAX_ALERTS)
        self._estop = False
        self._heard_estop = False
        self._connected = False
        self._connected_at = clock()
        self._lost_at: float | None = None
        self._last_heartbeat: float | None = None
        self._beats = 0
        self._seq = 0
        self._closed = False
        self.dropped = 0
        first = threading.Event()
        client_id = f"emolens-controller-{chair}-{os.getpid()}-{secrets.token_hex(3)}"
        self._client = make_client(client_id, will=(self.topics.status, OFFLINE))
        self._client.on_connect = lambda c, u, f, rc, p: self._on_connect(rc, first)
        self._client.on_disconnect = lambda c, u, f, rc, p: self._on_disconnect(rc)
        self._client.on_message = lambda c, u, msg: self._on_message(msg.topic, bytes(msg.payload), bool(msg.retain))
        connect(self._client, url, keepalive_s=keepalive_s, timeout_s=connect_timeout_s, connected=first)

    # ------------------------------------------------------------------ the Devices interface

    def send(self, commands: Sequence[Command]) -> None:
        with self._cond:
            if not self._connected or self._closed:
                self.dropped += len(commands)  # never queue commands for later: they would arrive stale
                return
            now = self.clock()
            for c in commands:
                self._seq = max(self._seq, c.seq)
                self._client.publish(self.topics.set(c.modality), encode(c.as_dict()), qos=QOS)
                self._outputs[c.modality] = replace(
                    self._outputs[c.modality], intensity=c.intensity, params=dict(c.params), seq=c.seq, commanded_at=now
                )

    def heartbeat(self, now: float) -> None:
        with self._cond:
            if not self._connected or self._closed:
                return
            if self._last_heartbeat is not None and now - self._last_heartbeat < self.heartbeat_s:
                return
            self._last_heartbeat = now
            self._beats += 1
            self._client.publish(self.topics.heartbeat, encode({"t": time.time(), "n": self._beats}), qos=QOS)

    def estop(self, active: bool) -> None:
        with self._cond:
            self._estop = active
            self._heard_estop = active
            if self._connected:
                self._client.publish(self.topics.estop, ESTOP_STOP if active else ESTOP_RESET, qos=QOS, retain=True)

    def state(self) -> DevicesState:
        with self._cond:
            return self._state_locked()

    def close(self) -> None:
        """Every output off, the status ``offline``, and disconnect."""
        with self._cond:
            if self._closed:
                return
            connected = self._connected
        if connected:
            self.send(all_off(self._seq + 1))
            with self._cond:
                info = self._client.publish(self.topics.status, OFFLINE, qos=QOS, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):  # the connection went meanwhile
                info.wait_for_publish(timeout=2.0)
        with self._cond:
            self._closed = True
        self._client.disconnect()
        self._client.loop_stop()

    # ------------------------------------------------------------------ extras

    def wait(self, predicate: Callable[[DevicesState], bool], timeout_s: float) -> bool:
        """Wait until ``predicate(state)`` holds (checked after every message heard) or ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not predicate(self._state_locked()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    @property
    def connected(self) -> bool:
        with self._cond:
            return self._connected

    # ------------------------------------------------------------------ internals

    def _state_locked(self) -> DevicesState:
        now = self.clock()
        faults: list[Fault] = []
        if not self._connected:
            since = f" {now - self._lost_at:.1f} s ago" if self._lost_at is not None else ""
            faults.append(Fault("broker_lost", f"lost the MQTT broker at {self.host}:{self.port}{since}; reconnecting"))
        else:
            offline = sorted(n for n, a in self._agents.items() if a.status == OFFLINE and a.modalities)
            if offline:
                faults.append(Fault("device_offline", f"device agent {', '.join(offline)} went offline"))
            silent = [m for m in self.modalities if self._silent(m, now)]
            if silent:
                faults.append(
                    Fault(
                        "device_silent",
                        f"no word from the {', '.join(silent)} device for over {self.silent_s:g} s "
                        f"(is `emolens relax device` running for chair {self.topics.chair}?)",
                    )
                )
        return DevicesState(
            "mqtt",
            self._connected,
            self._estop or self._heard_estop,
            dict(self._outputs),
            tuple(faults),
            tuple(self._alerts),
        )

    def _silent(self, modality: str, now: float) -> bool:
        seen = self._outputs[modality].seen_at
        if seen is None:  # never heard: a fault once the devices had time to answer
            return now - self._connected_at > self.silent_s
        return now - seen > self.silent_s

    def _on_connect(self, reason: Any, first: threading.Event) -> None:
        if reason.is_failure:
            log.warning("the MQTT broker at %s:%d refused the connection: %s", self.host, self.port, reason)
            return
        subscriptions = [
            (self.topics.state("+"), QOS),
            (self.topics.agent_status(), QOS),
            (self.topics.agent_heartbeat(), QOS),
            (self.topics.agent_alert(), QOS),
            (self.topics.estop, QOS),
        ]
        with self._cond:
            self._client.subscribe(subscriptions)
            self._client.publish(self.topics.status, ONLINE, qos=QOS, retain=True)
            if self._estop:  # a broker that restarted forgot the retained stop
                self._client.publish(self.topics.estop, ESTOP_STOP, qos=QOS, retain=True)
            if self._lost_at is not None:
                log.warning("reconnected to the MQTT broker at %s:%d", self.host, self.port)
            self._connected = True
            self._connected_at = self.clock()
            self._cond.notify_all()
        first.set()

    def _on_disconnect(self, reason: Any) -> None:
        with self._cond:
            was = self._connected
            self._connected = False
            self._lost_at = self.clock()
            self._cond.notify_all()
        if was and not self._closed:
            log.warning("lost the MQTT broker at %s:%d (%s)", self.host, self.port, reason)

    def _on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        levels = self.topics.parse(topic)
        now = self.clock()
        try:
            with self._cond:
                self._handle(levels, payload, retained, now)
                self._cond.notify_all()
        except (ValueError, UnicodeDecodeError) as e:
            log.warning("ignored a malformed message on %s: %s", topic, e)

    def _handle(self, levels: tuple[str, ...], payload: bytes, retained: bool, now: float) -> None:
        if levels == ("estop",):
            self._heard_estop = payload.decode() == ESTOP_STOP
        elif len(levels) == 2 and levels[0] in self._outputs and levels[1] == "state":
            body = decode(payload)
            old = self._outputs[levels[0]]
            self._outputs[levels[0]] = replace(
                old,
                reported=float(body["intensity"]),
                reported_seq=int(body.get("seq", -1)),
                reason=str(body.get("reason", "")),
                seen_at=old.seen_at if retained else now,  # a retained state is old news
            )
        elif len(levels) == 3 and levels[0] == "agent":
            agent = self._agents.setdefault(levels[1], _Agent())
            if levels[2] == "status":
                agent.status = payload.decode()
            elif levels[2] == "heartbeat":
                body = decode(payload)
                outputs = body.get("outputs", {})
                agent.modalities = {m for m in outputs if m in self._outputs}
                agent.status = ONLINE
                agent.seen_at = now
                for m in agent.modalities:
                    self._outputs[m] = replace(self._outputs[m], seen_at=now)
            elif levels[2] == "alert" and not retained:
                alert = alert_from(decode(payload))
                self._alerts.append(alert)
                log.warning("device agent %s: %s (%s)", levels[1], alert.message, alert.priority)
