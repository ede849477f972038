"""The MQTT topic tree of one chair, and the JSON payloads on it: shared by the controller's
:mod:`~emolens.relax.devices.mqtt` backend and the device-side :mod:`~emolens.relax.agent`.

Every topic starts with ``emolens/relax/<chair>/``; every message is QoS 1.

* ``<modality>/set`` (controller, not retained): a command, ``{"modality", "intensity",
  "params", "seq"}`` (:meth:`~emolens.relax.types.Command.as_dict`).
* ``<modality>/state`` (agent, retained): what the output runs now, ``{"modality", "intensity",
  "params", "seq", "reason", "t"}``.
* ``controller/heartbeat`` (controller, not retained): ``{"t": seconds, "n": count}`` every
  ``heartbeat_s``.
* ``controller/status`` (controller, retained): ``online``, or ``offline``, also its last will.
* ``estop`` (anyone, retained): ``stop`` (a physical button, the panel, the API) or ``reset``
  (an operator's explicit reset).
* ``agent/<name>/status`` (agent, retained): ``online``, or ``offline``, also its last will.
* ``agent/<name>/heartbeat`` (agent, not retained): ``{"t", "outputs": {modality: intensity}}``.
* ``agent/<name>/alert`` (agent, not retained): ``{"t", "kind", "priority", "message"}``.

``<modality>`` is one of :data:`~emolens.relax.types.MODALITIES` (``light``, ``sound``,
``vibration``). A device agent turns every output off by itself when the controller's heartbeat
is older than its watchdog, when the controller's status becomes ``offline`` (its last will:
the broker publishes it when the controller's connection drops), when it loses the broker, or
on ``estop``; after an ``estop`` it refuses any output above zero until ``reset``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from emolens.errors import EmolensError
from emolens.relax.types import MODALITIES, PRIORITIES, Alert, Command, Modality

ROOT = "emolens/relax"
ONLINE = "online"
OFFLINE = "offline"
ESTOP_STOP = "stop"
ESTOP_RESET = "reset"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def check_name(kind: str, name: str) -> str:
    """``name`` when it is usable as one level of a topic (letters, digits, ``_ . -``); else an EmolensError."""
    if not _NAME.match(name):
        raise EmolensError(f"{kind} {name!r} must be 1 to 64 letters, digits, '_', '.' or '-'")
    return name


@dataclass(frozen=True)
class Topics:
    """The topics of one chair (see the module's table)."""

    chair: str = "chair1"

    def __post_init__(self) -> None:
        check_name("the chair id", self.chair)

    @property
    def base(self) -> str:
        return f"{ROOT}/{self.chair}"

    def set(self, modality: str) -> str:
        return f"{self.base}/{modality}/set"

    def state(self, modality: str) -> str:
        return f"{self.base}/{modality}/state"

    @property
    def heartbeat(self) -> str:
        return f"{self.base}/controller/heartbeat"

    @property
    def status(self) -> str:
        return f"{self.base}/controller/status"

    @property
    def estop(self) -> str:
        return f"{self.base}/estop"

    def agent_status(self, name: str = "+") -> str:
        return f"{self.base}/agent/{name}/status"

    def agent_heartbeat(self, name: str = "+") -> str:
        return f"{self.base}/agent/{name}/heartbeat"

    def agent_alert(self, name: str = "+") -> str:
        return f"{self.base}/agent/{name}/alert"

    def parse(self, topic: str) -> tuple[str, ...]:
        """The levels of ``topic`` below this chair (``("light", "state")``, ``("agent", "a1", "alert")``);
        empty when the topic is not this chair's."""
        prefix = self.base + "/"
        return tuple(topic[len(prefix) :].split("/")) if topic.startswith(prefix) else ()


def command_from(payload: dict[str, Any], modality: str) -> Command:
    """The command a ``<modality>/set`` payload carries; ValueError when it is not a valid one."""
    if payload.get("modality", modality) != modality or modality not in MODALITIES:
        raise ValueError(f"a command for {payload.get('modality')!r} on the topic of {modality!r}")
    intensity = payload.get("intensity")
    if isinstance(intensity, bool) or not isinstance(intensity, (int, float)) or not math.isfinite(intensity):
        raise ValueError(f"intensity must be a number, got {intensity!r}")
    if not 0.0 <= intensity <= 1.0:
        raise ValueError(f"intensity must be from 0 to 1, got {intensity}")
    seq = payload.get("seq", 0)
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise ValueError(f"seq must be an integer, got {seq!r}")
    params = payload.get("params", {})
    if not isinstance(params, dict):
        raise ValueError("params must be a JSON object")
    mod: Modality = modality
    return Command(mod, float(intensity), params, seq)


def alert_from(payload: dict[str, Any]) -> Alert:
    """The alert an ``agent/<name>/alert`` payload carries; ValueError when malformed."""
    priority = payload.get("priority")
    t = payload.get("t")
    if priority not in PRIORITIES or not isinstance(t, (int, float)):
        raise ValueError("an alert needs a priority (high, medium, low) and a time")
    return Alert(float(t), str(payload.get("kind", "device")), priority, str(payload.get("message", "")))
