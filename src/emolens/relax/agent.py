"""The device-side agent: runs on the board next to the chair's hardware (``emolens relax device``).

It subscribes to the commands of its outputs on the MQTT topic tree of
:mod:`emolens.relax.devices.topics`, drives the outputs (:class:`PrintOutputs` writes a line per
change; :class:`GpioOutputs` drives PWM pins through gpiozero, imported only then), publishes what
each output runs (retained) and its own heartbeat, and keeps the chair safe by itself: every output
goes off, and an alert is published, when

* the controller's heartbeat is older than ``watchdog_s`` (the controller hangs or its network
  goes),
* the controller's status becomes ``offline`` (its last will: the process died),
* the agent loses the broker,
* an emergency stop arrives on ``estop`` (or its own button, ``estop_pin``, is pressed); after it,
  nothing above zero runs until an explicit ``reset`` on that topic.

A command above zero is refused while the heartbeat is stale or the stop is latched, and a command
older (by ``seq``) than the last one run is dropped.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from emolens.errors import EmolensError
from emolens.mqtt import QOS, connect, decode, encode, make_client
from emolens.relax.devices.topics import (
    ESTOP_RESET,
    ESTOP_STOP,
    OFFLINE,
    ONLINE,
    Topics,
    check_name,
    command_from,
)
from emolens.relax.types import MODALITIES, Alert, Priority

log = logging.getLogger(__name__)

DEFAULT_PINS: dict[str, tuple[int, ...]] = {"light": (18,), "sound": (12,), "vibration": (13,)}
"""BCM pin numbers: hardware PWM pins of a Raspberry Pi. Three pins for light drive an RGB strip."""


class Outputs(Protocol):
    """The physical outputs: ``set`` one to an intensity in [0, 1] with its parameters."""

    def set(self, modality: str, intensity: float, params: Mapping[str, Any], reason: str) -> None: ...

    def close(self) -> None: ...


def output_line(modality: str, intensity: float, params: Mapping[str, Any], reason: str, seq: int) -> str:
    """One output change as a line: ``light 0.500 command seq=7 {"color":"#88aaff"}``."""
    return f"{modality} {intensity:.3f} {reason} seq={seq} {json.dumps(dict(params), sort_keys=True, separators=(',', ':'))}"


class PrintOutputs:
    """Outputs that only write a line per change (see :func:`output_line`) to ``write`` (default: stdout)."""

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self.write = write or _stdout_line
        self.seq: dict[str, int] = {}

    def set(self, modality: str, intensity: float, params: Mapping[str, Any], reason: str) -> None:
        self.write(output_line(modality, intensity, params, reason, self.seq.get(modality, -1)))

    def close(self) -> None:
        pass


def _stdout_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def parse_pins(specs: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """``["light=17/27/22", "vibration=13"]`` over :data:`DEFAULT_PINS`; an EmolensError when malformed."""
    pins = dict(DEFAULT_PINS)
    for spec in specs:
        name, _, value = spec.partition("=")
        try:
            numbers = tuple(int(v) for v in value.split("/"))
        except ValueError:
            numbers = ()
        if name not in MODALITIES or len(numbers) not in ((1, 3) if name == "light" else (1,)):
            raise EmolensError(f"a pin is given as MODALITY=PIN (light=R/G/B for an RGB light), got {spec!r}")
        pins[name] = numbers
    return pins


def _rgb(color: Any) -> tuple[float, float, float]:
    text = str(color or "#ffffff").lstrip("#")
    try:
        return tuple(int(text[i : i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]
    except ValueError:
        return (1.0, 1.0, 1.0)


class GpioOutputs:
    """PWM outputs through gpiozero: one pin per modality (three for an RGB light, coloured by the
    command's ``color``); sound's pin drives the amplifier's volume or enable input.

    ``pin_factory``: gpiozero's (e.g. ``MockFactory(pin_class=MockPWMPin)`` in tests); default: the
    board's. Raises an EmolensError when gpiozero is missing or a pin cannot be used.
    """

    def __init__(
        self, pins: Mapping[str, Sequence[int]] | None = None, *, pin_factory: Any = None, frequency_hz: int = 1000
    ) -> None:
        try:
            from gpiozero import GPIOZeroError, PWMOutputDevice
        except ImportError:
            raise EmolensError("--outputs gpio needs gpiozero on the board: pip install gpiozero") from None
        self._pwm: dict[str, list[Any]] = {}
        try:
            for modality, numbers in (pins or DEFAULT_PINS).items():
                self._pwm[modality] = [
                    PWMOutputDevice(n, frequency=frequency_hz, initial_value=0.0, pin_factory=pin_factory)
                    for n in numbers
                ]
        except (GPIOZeroError, OSError) as e:
            self.close()
            raise EmolensError(f"cannot drive the GPIO pins {dict(pins or DEFAULT_PINS)}: {e}") from None

    def set(self, modality: str, intensity: float, params: Mapping[str, Any], reason: str) -> None:
        devices = self._pwm.get(modality, [])
        if len(devices) == 3:
            for dev, c in zip(devices, _rgb(params.get("color")), strict=True):
                dev.value = intensity * c
        for dev in devices if len(devices) != 3 else ():
            dev.value = intensity
        log.debug("%s", output_line(modality, intensity, params, reason, -1))

    def value(self, modality: str) -> list[float]:
        """The duty cycle of each pin of ``modality`` now."""
        return [float(d.value) for d in self._pwm.get(modality, [])]

    def close(self) -> None:
        for devices in self._pwm.values():
            for dev in devices:
                dev.value = 0.0
                dev.close()
        self._pwm = {}


@dataclass
class _Output:
    intensity: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    seq: int = -1
    reason: str = "start"


class DeviceAgent:
    """One board's agent (see the module): :meth:`start` it, or :meth:`run` it until stopped.

    ``modalities``: the outputs this board drives. ``watchdog_s``: how stale the controller's
    heartbeat may get before everything goes off (several times the controller's ``heartbeat_s``).
    ``heartbeat_s``: how often this agent says it is alive (the controller calls a device silent
    after its ``silent_s``).
    """

    def __init__(
        self,
        broker: str,
        outputs: Outputs,
        *,
        chair: str = "chair1",
        name: str = "agent",
        modalities: Sequence[str] = MODALITIES,
        watchdog_s: float = 1.0,
        heartbeat_s: float = 0.5,
        connect_timeout_s: float = 5.0,
    ) -> None:
        if watchdog_s <= 0 or heartbeat_s <= 0:
            raise EmolensError("the watchdog and the heartbeat need a time above 0 s")
        unknown = [m for m in modalities if m not in MODALITIES]
        if unknown or not modalities:
            raise EmolensError(f"outputs are some of {', '.join(MODALITIES)}, got {', '.join(modalities) or 'none'}")
        self.broker = broker
        self.outputs = outputs
        self.topics = Topics(chair)
        self.name = check_name("the agent name", name)
        self.modalities = tuple(modalities)
        self.watchdog_s = watchdog_s
        self.heartbeat_s = heartbeat_s
        self.connect_timeout_s = connect_timeout_s
        self._state = {m: _Output() for m in self.modalities}
        self._lock = threading.RLock()
        self._last_controller: float | None = None
        self._estop = False
        self._connected = False
        self._lost_broker: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.alerts: list[Alert] = []
        self._first = threading.Event()
        client_id = f"emolens-agent-{chair}-{name}-{os.getpid()}-{secrets.token_hex(3)}"
        self._client = make_client(client_id, will=(self.topics.agent_status(name), OFFLINE))
        self._client.on_connect = lambda c, u, f, rc, p: self._on_connect(rc)
        self._client.on_disconnect = lambda c, u, f, rc, p: self._on_disconnect()
        self._client.on_message = lambda c, u, msg: self._on_message(msg.topic, bytes(msg.payload), bool(msg.retain))

    # ------------------------------------------------------------------ running

    def start(self) -> None:
        """Connect to the broker (an EmolensError when it cannot be reached) and start the watchdog."""
        connect(self._client, self.broker, keepalive_s=5, timeout_s=self.connect_timeout_s, connected=self._first)
        self._thread = threading.Thread(target=self._watch, name="relax-agent-watchdog", daemon=True)
        self._thread.start()
        log.info(
            "device agent %s of chair %s on %s: outputs %s, watchdog %g s",
            self.name,
            self.topics.chair,
            self.broker,
            ", ".join(self.modalities),
            self.watchdog_s,
        )

    def run(self, stop: threading.Event | None = None) -> None:
        """:meth:`start`, wait for ``stop`` (or Ctrl-C), then :meth:`close`."""
        try:
            self.start()
            (stop or threading.Event()).wait()
        finally:
            self.close()

    def close(self) -> None:
        """Every output off, the status ``offline``, disconnect."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        with self._lock:
            self._all_off("stopped", alert=None)
            info = self._client.publish(self.topics.agent_status(self.name), OFFLINE, qos=QOS, retain=True)
        if self._connected:
            try:
                info.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError):
                log.debug("the agent's offline status was not delivered")
        self._client.disconnect()
        self._client.loop_stop()
        self.outputs.close()

    def press_estop(self) -> None:
        """The agent's own emergency-stop button: every output off at once, then ``stop`` to every device."""
        with self._lock:
            self._latch_estop("the emergency-stop button of agent " + self.name)
            self._client.publish(self.topics.estop, ESTOP_STOP, qos=QOS, retain=True)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """What each output runs now: ``{modality: {"intensity", "params", "seq", "reason"}}``."""
        with self._lock:
            return {
                m: {"intensity": o.intensity, "params": dict(o.params), "seq": o.seq, "reason": o.reason}
                for m, o in self._state.items()
            }

    @property
    def estop_latched(self) -> bool:
        with self._lock:
            return self._estop

    # ------------------------------------------------------------------ internals

    def _watch(self) -> None:
        tick = min(0.02, self.watchdog_s / 10)
        next_beat = 0.0
        while not self._stop.wait(tick):
            now = time.monotonic()
            with self._lock:
                stale = self._last_controller is None or now - self._last_controller > self.watchdog_s
                if stale and any(o.intensity > 0 for o in self._state.values()):
                    self._all_off(
                        "watchdog",
                        alert=f"no heartbeat from the controller for {self.watchdog_s:g} s: every output turned off",
                    )
                if self._connected and now >= next_beat:
                    next_beat = now + self.heartbeat_s
                    outputs = {m: o.intensity for m, o in self._state.items()}
                    self._client.publish(
                        self.topics.agent_heartbeat(self.name), encode({"t": time.time(), "outputs": outputs}), qos=QOS
                    )

    def _set(self, modality: str, intensity: float, params: dict[str, Any], seq: int, reason: str) -> None:
        """Drive one output and publish its state (with the lock held)."""
        out = self._state[modality]
        changed = out.intensity != intensity or out.params != params
        out.intensity, out.params, out.seq, out.reason = intensity, params, seq, reason
        if changed:
            if isinstance(self.outputs, PrintOutputs):
                self.outputs.seq[modality] = seq
            try:
                self.outputs.set(modality, intensity, params, reason)
            except Exception as e:  # a broken output must not stop the others from going off
                log.error("output %s failed: %s", modality, e)
                self._alert("device_error", "high", f"output {modality} of agent {self.name} failed: {e}")
        self._publish_state(modality)

    def _publish_state(self, modality: str) -> None:
        if not self._connected:
            return
        out = self._state[modality]
        body = {
            "modality": modality,
            "intensity": out.intensity,
            "params": out.params,
            "seq": out.seq,
            "reason": out.reason,
            "t": time.time(),
        }
        self._client.publish(self.topics.state(modality), encode(body), qos=QOS, retain=True)

    def _all_off(self, reason: str, *, alert: str | None) -> None:
        was_on = any(o.intensity > 0 for o in self._state.values())
        for m, o in self._state.items():
            if o.intensity > 0 or o.params or o.reason != reason:
                self._set(m, 0.0, {}, o.seq, reason)
        if alert is not None and was_on:
            log.warning("device agent %s: %s", self.name, alert)
            self._alert(reason, "high", alert)

    def _alert(self, kind: str, priority: Priority, message: str) -> None:
        alert = Alert(time.time(), kind, priority, message)
        self.alerts.append(alert)
        if self._connected:
            self._client.publish(self.topics.agent_alert(self.name), encode(alert.as_dict()), qos=QOS)

    def _latch_estop(self, source: str) -> None:
        if not self._estop:
            log.warning(
                "device agent %s: emergency stop (%s): every output off, latched until reset", self.name, source
            )
        self._estop = True
        self._all_off("estop", alert=f"emergency stop from {source}: every output turned off")

    def _on_connect(self, reason: Any) -> None:
        if reason.is_failure:
            log.warning("the MQTT broker refused agent %s: %s", self.name, reason)
            return
        with self._lock:
            self._connected = True
            subs = [(self.topics.set(m), QOS) for m in self.modalities]
            subs += [(self.topics.heartbeat, QOS), (self.topics.status, QOS), (self.topics.estop, QOS)]
            self._client.subscribe(subs)
            self._client.publish(self.topics.agent_status(self.name), ONLINE, qos=QOS, retain=True)
            for m in self.modalities:
                self._publish_state(m)
            if self._lost_broker is not None:
                self._alert(
                    "broker_lost", "high", f"agent {self.name} lost the MQTT broker and turned every output off"
                )
                self._lost_broker = None
        self._first.set()

    def _on_disconnect(self) -> None:
        with self._lock:
            if not self._connected:
                return
            self._connected = False
            if self._stop.is_set():
                return
            self._lost_broker = time.monotonic()
            log.warning("device agent %s lost the MQTT broker: every output off", self.name)
            self._last_controller = None
            self._all_off("broker_lost", alert=None)

    def _on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        levels = self.topics.parse(topic)
        try:
            with self._lock:
                self._handle(levels, payload, retained)
        except (ValueError, UnicodeDecodeError, KeyError) as e:
            log.warning("device agent %s ignored a malformed message on %s: %s", self.name, topic, e)

    def _handle(self, levels: tuple[str, ...], payload: bytes, retained: bool) -> None:
        now = time.monotonic()
        if levels == ("controller", "heartbeat"):
            self._last_controller = now
        elif levels == ("controller", "status"):
            status = payload.decode()
            if status == OFFLINE:
                self._last_controller = None
                self._all_off("controller_offline", alert="the controller went offline: every output turned off")
            elif status == ONLINE and not retained:  # a new controller session: its seq starts again
                for o in self._state.values():
                    o.seq = -1
        elif levels == ("estop",):
            word = payload.decode()
            if word == ESTOP_STOP:
                self._latch_estop("the estop topic")
            elif word == ESTOP_RESET and self._estop:
                self._estop = False
                log.warning("device agent %s: emergency stop reset by the operator", self.name)
        elif len(levels) == 2 and levels[1] == "set" and levels[0] in self._state:
            self._command(levels[0], decode(payload), now)

    def _command(self, modality: str, body: dict[str, Any], now: float) -> None:
        cmd = command_from(body, modality)
        out = self._state[modality]
        if cmd.seq < out.seq:
            log.debug("device agent %s dropped a stale %s command (seq %d < %d)", self.name, modality, cmd.seq, out.seq)
            return
        if cmd.intensity > 0:
            why = (
                "the emergency stop is latched"
                if self._estop
                else "the controller's heartbeat is stale"
                if self._last_controller is None or now - self._last_controller > self.watchdog_s
                else ""
            )
            if why:
                log.info("device agent %s refused %s %.3f: %s", self.name, modality, cmd.intensity, why)
                return
        self._set(modality, cmd.intensity, dict(cmd.params), cmd.seq, "estop" if self._estop else "command")


def make_outputs(
    kind: str, *, pins: Sequence[str] = (), pin_factory: Any = None, write: Callable[[str], None] | None = None
) -> Outputs:
    """``print`` or ``gpio`` outputs (``pins``: ``MODALITY=PIN`` overrides of :data:`DEFAULT_PINS`)."""
    if kind == "print":
        return PrintOutputs(write)
    if kind == "gpio":
        return GpioOutputs(parse_pins(pins), pin_factory=pin_factory)
    raise EmolensError(f"unknown outputs {kind!r}: use print or gpio")


def run_device_agent(
    broker: str,
    outputs: str = "print",
    *,
    chair: str = "chair1",
    name: str = "agent",
    modalities: Sequence[str] = MODALITIES,
    watchdog_s: float = 1.0,
    heartbeat_s: float = 0.5,
    pins: Sequence[str] = (),
    estop_pin: int | None = None,
    stop: threading.Event | None = None,
) -> None:
    """``emolens relax device``: run an agent until ``stop`` is set, Ctrl-C or SIGTERM (every
    output off on the way out). ``estop_pin``: a normally-open emergency-stop button between this
    BCM pin and ground (gpio outputs only)."""
    if estop_pin is not None and outputs != "gpio":
        raise EmolensError("--estop-pin needs --outputs gpio")
    outs = make_outputs(outputs, pins=pins)
    try:
        agent = DeviceAgent(
            broker, outs, chair=chair, name=name, modalities=modalities, watchdog_s=watchdog_s, heartbeat_s=heartbeat_s
        )
    except BaseException:
        outs.close()
        raise
    button = None
    if estop_pin is not None:
        from gpiozero import Button

        button = Button(estop_pin)
        button.when_pressed = agent.press_estop
    try:
        agent.run(stop)
    finally:
        if button is not None:
            button.close()
