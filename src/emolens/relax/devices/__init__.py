"""The chair's actuators behind one interface, with backends by name.

``create_devices("sim")`` gives :class:`~emolens.relax.devices.sim.SimDevices` (in-process, records
every command with its time; for demos, tests and ``relax simulate``);
``create_devices("mqtt://HOST:PORT")`` gives :class:`~emolens.relax.devices.mqtt.MqttDevices`,
which talks to the device agents (:mod:`emolens.relax.agent`) through an MQTT broker over the topic
tree of :mod:`emolens.relax.devices.topics`.

Every backend has the methods of :class:`Devices`: ``send`` the controller's commands,
``heartbeat`` (the devices' watchdogs turn everything off when it stops), ``estop`` (the latched
emergency stop at device level), ``state`` (what each output runs and what is wrong) and
``close``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from emolens.errors import EmolensError
from emolens.relax.types import MODALITIES, Alert, Command

Clock = Callable[[], float]


@dataclass(frozen=True)
class Fault:
    """Something wrong with the devices: ``kind`` (``broker_lost``, ``device_silent``,
    ``device_offline``, ``device_error``) and a sentence for the operator."""

    kind: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message}


@dataclass(frozen=True)
class OutputState:
    """One actuator as the controller knows it.

    ``intensity``, ``params``, ``seq``, ``commanded_at``: the last command sent (seq -1: none yet).
    ``reported``, ``reported_seq``, ``reason``: what the device says it runs, and why (``command``,
    ``watchdog``, ``estop``, ``controller_offline``, ``broker_lost``, ``start``); None before the
    first report. ``seen_at``: when the device last said anything (a report or its heartbeat).
    Times are on the backend's clock.
    """

    modality: str
    intensity: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    seq: int = -1
    commanded_at: float | None = None
    reported: float | None = None
    reported_seq: int | None = None
    reason: str = ""
    seen_at: float | None = None

    @property
    def off(self) -> bool:
        """True when the device reports this output off (or, before any report, it was never commanded on)."""
        return (self.reported if self.reported is not None else self.intensity) == 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "modality": self.modality,
            "intensity": self.intensity,
            "params": dict(self.params),
            "seq": self.seq,
            "reported": self.reported,
            "reported_seq": self.reported_seq,
            "reason": self.reason,
            "off": self.off,
        }


@dataclass(frozen=True)
class DevicesState:
    """Every actuator and the link to them at one moment.

    ``connected``: the link to the devices works (always True for ``sim``); ``estop``: the
    device-level emergency stop is latched (by :meth:`Devices.estop` or a physical button);
    ``faults``: what is wrong now; ``alerts``: alerts raised by the devices themselves, oldest
    first (the last 50).
    """

    backend: str
    connected: bool
    estop: bool
    outputs: dict[str, OutputState]
    faults: tuple[Fault, ...] = ()
    alerts: tuple[Alert, ...] = ()

    @property
    def all_off(self) -> bool:
        """True when every output is (reported) off."""
        return all(o.off for o in self.outputs.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "connected": self.connected,
            "estop": self.estop,
            "all_off": self.all_off,
            "outputs": {m: o.as_dict() for m, o in self.outputs.items()},
            "faults": [f.as_dict() for f in self.faults],
            "alerts": [a.as_dict() for a in self.alerts],
        }


def empty_outputs() -> dict[str, OutputState]:
    return {m: OutputState(m) for m in MODALITIES}


class Devices(Protocol):
    """What the controller's side needs from the chair's actuators, whatever the backend."""

    name: str

    def send(self, commands: Sequence[Command]) -> None:
        """Pass each command to its actuator (at once; never blocks on the network)."""

    def heartbeat(self, now: float) -> None:
        """Tell the devices the controller is alive (call it every loop; backends limit the rate)."""

    def estop(self, active: bool) -> None:
        """Latch (True) or release (False, an operator's explicit reset) the emergency stop at device
        level: every output off at once and none above zero until released."""

    def state(self) -> DevicesState:
        """Every output, the link, and what is wrong."""

    def close(self) -> None:
        """Every output off, then let go of the devices."""


@contextlib.contextmanager
def heartbeating(devices: Devices, every_s: float = 0.05, clock: Clock = time.monotonic) -> Iterator[None]:
    """Call ``devices.heartbeat`` every ``every_s`` seconds from a background thread while the block
    runs: a controller that is alive but not looping (a benchmark, a test waiting on the devices)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            devices.heartbeat(clock())

    beater = threading.Thread(target=beat, name="relax-heartbeat", daemon=True)
    beater.start()
    try:
        yield
    finally:
        stop.set()
        beater.join()


def create_devices(spec: str, *, chair: str = "chair1", clock: Clock = time.monotonic, **options: Any) -> Devices:
    """The devices named by ``spec``: ``sim`` or ``mqtt://HOST:PORT``.

    ``chair``: the chair's id in the MQTT topics. ``options`` go to the backend (for mqtt:
    ``heartbeat_s``, ``silent_s``, ``connect_timeout_s``). An unknown name, a bad broker address or
    an unreachable broker is an EmolensError.
    """
    if spec == "sim":
        from emolens.relax.devices.sim import SimDevices

        return SimDevices(clock=clock)
    if spec.startswith("mqtt://"):
        from emolens.relax.devices.mqtt import MqttDevices

        return MqttDevices(spec, chair=chair, clock=clock, **options)
    raise EmolensError(f"unknown devices {spec!r}: use 'sim' or 'mqtt://HOST:PORT'")


__all__ = [
    "Clock",
    "Devices",
    "DevicesState",
    "Fault",
    "OutputState",
    "create_devices",
    "empty_outputs",
    "heartbeating",
]
