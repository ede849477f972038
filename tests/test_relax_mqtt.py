"""The MQTT devices end to end: a real mosquitto broker started by each test, the device agent
(in this process, or `emolens relax device --outputs print` as a child process), the controller's
MQTT backend, and the relaxation loop. Fault injection: the broker killed mid-session, the
controller killed or frozen (the agent's watchdog), a silent device; and the emergency stop."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from emolens.errors import EmolensError
from emolens.relax.agent import DeviceAgent, PrintOutputs
from emolens.relax.devices import DevicesState, create_devices, heartbeating
from emolens.relax.devices.mqtt import MqttDevices
from emolens.relax.devices.topics import Topics
from emolens.relax.runner import RelaxRunner, RelaxSession
from emolens.relax.scenarios import load_scenario
from emolens.relax.sources import DemoReadings
from emolens.relax.types import Command, all_off
from relax_support import Agent, Broker, Listener, emolens_process, free_port, running_broker, wait_until

pytest.importorskip("paho.mqtt.client", reason="paho-mqtt is not installed (pip install -e '.[relax]')")

TOPICS = Topics("chair1")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    yield from running_broker(tmp_path)


@pytest.fixture
def agent(broker: Broker) -> Iterator[Agent]:
    a = Agent(broker.url, watchdog_s=1.0)
    a.ready()
    try:
        yield a
    finally:
        a.close()


class InProcessAgent:
    """A DeviceAgent in this process whose print outputs go to a list."""

    def __init__(self, url: str, watchdog_s: float = 0.5) -> None:
        self.lines: list[str] = []
        self.agent = DeviceAgent(url, PrintOutputs(self.lines.append), watchdog_s=watchdog_s, heartbeat_s=0.1)
        self.agent.start()

    def value(self, modality: str) -> float:
        return float(self.agent.snapshot()[modality]["intensity"])

    def close(self) -> None:
        self.agent.close()


@pytest.fixture
def local_agent(broker: Broker) -> Iterator[InProcessAgent]:
    a = InProcessAgent(broker.url)
    try:
        yield a
    finally:
        a.close()


@pytest.fixture
def devices(broker: Broker) -> Iterator[MqttDevices]:
    d = create_devices(broker.url, heartbeat_s=0.05, silent_s=1.5)
    assert isinstance(d, MqttDevices)
    try:
        yield d
    finally:
        d.close()


def reported(modality: str, value: float) -> object:
    return lambda s: s.outputs[modality].reported == value


def all_reported_off(s: DevicesState) -> bool:
    return all(o.reported == 0.0 for o in s.outputs.values())


def session_runner(devices: MqttDevices, demo: str = "calm") -> tuple[RelaxSession, RelaxRunner]:
    session = RelaxSession(devices, load_scenario("calm-evening"), child="test-child", source_name=f"demo:{demo}")
    runner = RelaxRunner(session, DemoReadings(demo), tick_s=0.05)
    runner.start_thread()
    session.start()
    return session, runner


def alert_kinds(session: RelaxSession) -> list[str]:
    return [a.alert.kind for a in session.alerts]


# ------------------------------------------------------------------------------- round trips


def test_unreachable_broker_is_a_clear_error() -> None:
    with pytest.raises(EmolensError, match="cannot reach the MQTT broker"):
        MqttDevices(f"mqtt://127.0.0.1:{free_port()}", connect_timeout_s=2)


def test_round_trip_with_the_agent_process(devices: MqttDevices, agent: Agent) -> None:
    devices.heartbeat(time.monotonic())
    devices.send(
        [
            Command("light", 0.4, {"color": "#3050c0", "pattern": "breathe"}, 1),
            Command("sound", 0.2, {"track": "rain"}, 1),
        ]
    )
    assert devices.wait(lambda s: s.outputs["light"].reported == 0.4 and s.outputs["sound"].reported == 0.2, 10)
    assert wait_until(lambda: agent.value("light") == 0.4, 5)
    assert any(x == 'light 0.400 command seq=1 {"color":"#3050c0","pattern":"breathe"}' for x in agent.snapshot_lines())
    state = devices.state()
    assert state.outputs["light"].reason == "command" and state.outputs["light"].reported_seq == 1
    assert state.connected and not state.estop
    # the agent's heartbeat keeps every output known as alive
    assert wait_until(lambda: all(o.seen_at is not None for o in devices.state().outputs.values()), 5)
    time.sleep(0.5)
    assert devices.state().faults == ()
    # closing the controller turns everything off
    devices.close()
    assert wait_until(agent.all_off, 5), agent.snapshot_lines()[-5:]


def test_agent_refuses_commands_without_a_heartbeat(devices: MqttDevices, local_agent: InProcessAgent) -> None:
    devices.send([Command("vibration", 0.5, {}, 1)])
    devices.send([Command("light", 0.0, {}, 1)])  # off is always taken: it tells us the first was handled
    assert devices.wait(reported("light", 0.0), 5)
    assert local_agent.value("vibration") == 0.0
    devices.heartbeat(time.monotonic())
    devices.send([Command("vibration", 0.5, {}, 2)])
    assert devices.wait(reported("vibration", 0.5), 5)


def test_agent_drops_stale_commands(devices: MqttDevices, local_agent: InProcessAgent) -> None:
    devices.heartbeat(time.monotonic())
    devices.send([Command("light", 0.6, {}, 5)])
    devices.send([Command("light", 0.9, {}, 3)])  # older than the one run: dropped
    devices.send([Command("sound", 0.1, {}, 6)])
    assert devices.wait(reported("sound", 0.1), 5)
    assert local_agent.value("light") == 0.6
    assert not any(x.startswith("light 0.900") for x in local_agent.lines)


def test_agent_ignores_malformed_commands(broker: Broker, devices: MqttDevices, local_agent: InProcessAgent) -> None:
    raw = Listener(broker.url, TOPICS.state("light"))
    try:
        devices.heartbeat(time.monotonic())
        for payload in ("not json", "[1, 2]", '{"intensity": 7}', '{"intensity": 0.5, "modality": "sound"}'):
            raw.publish(TOPICS.set("light"), payload)
        devices.send([Command("light", 0.25, {}, 1)])
        assert devices.wait(reported("light", 0.25), 5)
        assert not any(x.startswith("light") and not x.startswith("light 0.250") for x in local_agent.lines)
    finally:
        raw.close()


def test_agent_watchdog_turns_outputs_off_and_alerts(devices: MqttDevices, local_agent: InProcessAgent) -> None:
    devices.heartbeat(time.monotonic())
    devices.send([Command("light", 0.5, {}, 1), Command("vibration", 0.3, {}, 1)])
    assert devices.wait(reported("vibration", 0.3), 5)
    t = time.monotonic()  # no more heartbeats: the agent's watchdog (0.5 s) must act by itself
    assert devices.wait(all_reported_off, 5)
    waited = time.monotonic() - t
    assert 0.3 < waited < 2.5, waited
    assert {o.reason for o in devices.state().outputs.values()} >= {"watchdog"}
    assert devices.wait(lambda s: any(a.kind == "watchdog" and a.priority == "high" for a in s.alerts), 5)


# ------------------------------------------------------------------------------- emergency stop


def test_emergency_stop_turns_every_output_off_through_mosquitto(devices: MqttDevices, agent: Agent) -> None:
    session, runner = session_runner(devices)
    try:
        assert wait_until(lambda: agent.value("light") > 0 and agent.value("sound") > 0, 15), agent.snapshot_lines()[
            -5:
        ]
        t = time.monotonic()
        session.emergency_stop("test")
        assert wait_until(agent.all_off, 5), agent.snapshot_lines()[-5:]
        assert devices.wait(all_reported_off, 5)
        assert time.monotonic() - t < 2.0
        assert agent.reasons["light"] == "estop"
        assert wait_until(lambda: session.state.mode == "estop", 5)
        assert "emergency_stop" in alert_kinds(session)
        # latched: the loop goes on ticking, nothing comes back on
        time.sleep(1.0)
        assert agent.all_off() and devices.state().estop
        # reset: still nothing plays until a new start
        session.reset()
        assert wait_until(lambda: session.state.mode == "idle", 5)
        time.sleep(1.0)
        assert agent.all_off()
        session.start()
        assert wait_until(lambda: agent.value("light") > 0, 10), agent.snapshot_lines()[-5:]
    finally:
        runner.close()


def test_physical_button_on_the_estop_topic(broker: Broker, devices: MqttDevices, agent: Agent) -> None:
    session, runner = session_runner(devices)
    button = Listener(broker.url, TOPICS.estop)
    try:
        assert wait_until(lambda: agent.value("light") > 0, 15)
        button.publish(TOPICS.estop, "stop", retain=True)
        assert wait_until(agent.all_off, 5), agent.snapshot_lines()[-5:]
        assert wait_until(lambda: session.state.mode == "estop", 5)
        assert "emergency_stop" in alert_kinds(session)
        session.start()  # refused while latched
        time.sleep(1.0)
        assert agent.all_off() and session.state.mode == "estop"
    finally:
        button.close()
        runner.close()


# ------------------------------------------------------------------------------- fault injection


def test_broker_killed_mid_session(broker: Broker, devices: MqttDevices, agent: Agent) -> None:
    session, runner = session_runner(devices)
    try:
        assert wait_until(lambda: agent.value("light") > 0, 15), agent.snapshot_lines()[-5:]
        broker.kill()
        # the agent turns everything off at once, by itself
        assert wait_until(agent.all_off, 5), agent.snapshot_lines()[-5:]
        assert agent.reasons["light"] == "broker_lost"
        # the controller goes to its safe state and raises a high alert
        assert wait_until(lambda: "broker_lost" in alert_kinds(session), 5), alert_kinds(session)
        assert session.state.mode == "safe"
        alert = next(a.alert for a in session.alerts if a.alert.kind == "broker_lost")
        assert alert.priority == "high"
        # the broker comes back: both reconnect, and nothing resumes by itself
        broker.start()
        assert wait_until(lambda: devices.connected, 15)
        time.sleep(1.5)
        assert session.state.mode == "safe"
        # the controller follows what the devices really run: nothing jumps back on
        assert agent.all_off(), agent.snapshot_lines()[-5:]
        assert session.state.output == (0.0, 0.0, 0.0)
    finally:
        runner.close()


def _controller(url: str, log: Path) -> subprocess.Popen[str]:
    return emolens_process(
        "relax", "run", "--demo", "calm", "--devices", url, "--child", "c1", "--scenario", "calm-evening",
        "--no-keyboard", log=log,
    )  # fmt: skip


@pytest.mark.parametrize(("how", "reason"), [("kill", "controller_offline"), ("freeze", "watchdog")])
def test_controller_killed_or_frozen_agent_turns_outputs_off(
    broker: Broker, agent: Agent, how: str, reason: str, tmp_path: Path
) -> None:
    alerts = Listener(broker.url, TOPICS.agent_alert())
    controller = _controller(broker.url, tmp_path / "controller.log")
    try:
        assert wait_until(lambda: agent.value("light") > 0, 30), agent.snapshot_lines()[-5:]
        t = time.monotonic()
        controller.send_signal(signal.SIGKILL if how == "kill" else signal.SIGSTOP)
        assert wait_until(agent.all_off, 5), agent.snapshot_lines()[-5:]
        assert time.monotonic() - t < 3.0
        assert agent.reasons["light"] == reason
        assert wait_until(lambda: bool(alerts.on("/alert")), 5)
        alert = json.loads(alerts.on("/alert")[-1])
        assert alert["kind"] == reason and alert["priority"] == "high"
        time.sleep(1.5)  # no command runs again while the controller is gone
        assert agent.all_off()
    finally:
        alerts.close()
        controller.kill()
        controller.wait(10)


def test_device_silent(devices: MqttDevices, agent: Agent) -> None:
    session, runner = session_runner(devices)
    try:
        assert wait_until(lambda: agent.value("light") > 0, 15)
        agent.pause()  # the board hangs: no heartbeat, no state, no last will
        assert wait_until(lambda: "device_error" in alert_kinds(session), 8), alert_kinds(session)
        alert = next(a.alert for a in session.alerts if a.alert.kind == "device_error")
        assert alert.priority == "high" and "no word from" in alert.message
        assert session.state.mode == "safe"
    finally:
        agent.resume()
        runner.close()


def test_gpio_agent_with_its_own_estop_button(broker: Broker, devices: MqttDevices) -> None:
    pytest.importorskip("gpiozero", reason="gpiozero is not installed (pip install -e '.[dev]')")
    from gpiozero import Button
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    from emolens.relax.agent import GpioOutputs

    factory = MockFactory(pin_class=MockPWMPin)
    outputs = GpioOutputs(pin_factory=factory)
    agent = DeviceAgent(broker.url, outputs, watchdog_s=1.0, heartbeat_s=0.1)
    button = Button(4, pin_factory=factory)
    button.when_pressed = agent.press_estop
    agent.start()
    try:
        with heartbeating(devices, 0.05):
            time.sleep(0.2)
            devices.send([Command("vibration", 0.6, {"pattern": "steady"}, 1), Command("light", 0.3, {}, 1)])
            # both reports, not the first: the agent applies the two commands one after the other
            assert devices.wait(
                lambda s: s.outputs["vibration"].reported == 0.6 and s.outputs["light"].reported == 0.3, 5
            )
            assert factory.pin(13).state == pytest.approx(0.6) and factory.pin(18).state == pytest.approx(0.3)
            factory.pin(4).drive_low()  # the button is pressed
            assert factory.pin(13).state == 0.0 and factory.pin(18).state == 0.0
            assert devices.wait(lambda s: s.estop and all_reported_off(s), 5)
            devices.send([Command("vibration", 0.6, {}, 2)])  # refused: latched
            devices.send(all_off(2))
            time.sleep(0.3)
            assert factory.pin(13).state == 0.0
    finally:
        button.close()
        agent.close()
