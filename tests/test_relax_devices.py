"""The relaxation devices without a broker: the sim backend, the topic tree, payload checks, the
agent's outputs (print, and GPIO through gpiozero's mock pins)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from emolens.errors import EmolensError
from emolens.mqtt import parse_broker
from emolens.relax.agent import GpioOutputs, PrintOutputs, output_line, parse_pins
from emolens.relax.devices import Fault, create_devices
from emolens.relax.devices.sim import SimDevices
from emolens.relax.devices.topics import Topics, command_from
from emolens.relax.types import Command, all_off


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_sim_records_every_command_with_its_time() -> None:
    clock = Clock()
    sim = create_devices("sim", clock=clock)
    assert isinstance(sim, SimDevices)
    sim.send([Command("light", 0.4, {"color": "#112233"}, 1), Command("sound", 0.2, {}, 1)])
    clock.t = 101.5
    sim.send([Command("light", 0.5, {}, 2)])
    log = sim.commands()
    assert [(s.t, s.command.modality, s.command.intensity) for s in log] == [
        (100.0, "light", 0.4),
        (100.0, "sound", 0.2),
        (101.5, "light", 0.5),
    ]
    state = sim.state()
    assert state.outputs["light"].intensity == 0.5 and state.outputs["light"].reported == 0.5
    assert state.outputs["sound"].reported == 0.2
    assert not state.all_off and state.connected and not state.faults


def test_sim_estop_is_latched_until_released() -> None:
    sim = SimDevices()
    sim.send([Command("vibration", 0.7, {}, 1)])
    sim.estop(True)
    state = sim.state()
    assert state.estop and state.all_off
    assert state.outputs["vibration"].reason == "estop"
    sim.send([Command("vibration", 0.3, {}, 2)])  # refused while latched
    assert sim.state().all_off
    assert sim.commands()[-1].refused
    sim.send(all_off(3))  # off is always accepted
    assert not sim.commands()[-1].refused
    sim.estop(False)
    sim.send([Command("vibration", 0.3, {}, 4)])
    assert sim.state().outputs["vibration"].reported == 0.3


def test_sim_faults_and_close() -> None:
    sim = SimDevices()
    sim.inject(Fault("device_silent", "the light is silent"))
    assert [f.kind for f in sim.state().faults] == ["device_silent"]
    sim.inject()
    assert sim.state().faults == ()
    sim.send([Command("light", 0.5, {}, 1)])
    sim.close()
    assert sim.state().all_off and not sim.state().connected


def test_unknown_devices_and_bad_brokers() -> None:
    with pytest.raises(EmolensError, match="unknown devices"):
        create_devices("serial:/dev/ttyUSB0")
    assert parse_broker("mqtt://127.0.0.1:1884") == ("127.0.0.1", 1884)
    assert parse_broker("mqtt://board.local") == ("board.local", 1883)
    for bad in ("tcp://x:1", "mqtt://", "mqtt://h:99999", "mqtt://u@h:1", "mqtt://h:1/path"):
        with pytest.raises(EmolensError):
            parse_broker(bad)


def test_topic_tree() -> None:
    t = Topics("chair-7")
    assert t.set("light") == "emolens/relax/chair-7/light/set"
    assert t.state("vibration") == "emolens/relax/chair-7/vibration/state"
    assert t.heartbeat == "emolens/relax/chair-7/controller/heartbeat"
    assert t.status == "emolens/relax/chair-7/controller/status"
    assert t.estop == "emolens/relax/chair-7/estop"
    assert t.agent_alert("a1") == "emolens/relax/chair-7/agent/a1/alert"
    assert t.parse("emolens/relax/chair-7/agent/a1/alert") == ("agent", "a1", "alert")
    assert t.parse("emolens/relax/other/light/set") == ()
    with pytest.raises(EmolensError):
        Topics("chair/1")
    with pytest.raises(EmolensError):
        Topics("+")


def test_command_payloads_are_checked() -> None:
    c = command_from({"modality": "light", "intensity": 0.25, "params": {"color": "#fff000"}, "seq": 3}, "light")
    assert c == Command("light", 0.25, {"color": "#fff000"}, 3)
    for bad in (
        {"intensity": 1.5},
        {"intensity": -0.1},
        {"intensity": "0.5"},
        {"intensity": True},
        {"intensity": float("nan")},
        {"intensity": 0.5, "seq": "1"},
        {"intensity": 0.5, "params": []},
        {"modality": "sound", "intensity": 0.5},
    ):
        with pytest.raises(ValueError):
            command_from(bad, "light")


def test_print_outputs_write_one_line_per_change() -> None:
    lines: list[str] = []
    out = PrintOutputs(lines.append)
    out.seq["light"] = 7
    out.set("light", 0.5, {"color": "#88aaff"}, "command")
    assert lines == ['light 0.500 command seq=7 {"color":"#88aaff"}']
    assert output_line("sound", 0.0, {}, "watchdog", 3) == "sound 0.000 watchdog seq=3 {}"


def test_gpio_outputs_drive_pwm_pins() -> None:
    pytest.importorskip("gpiozero", reason="gpiozero is not installed (pip install -e '.[dev]')")
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    factory = MockFactory(pin_class=MockPWMPin)
    out = GpioOutputs(parse_pins(["light=17/27/22", "vibration=13"]), pin_factory=factory)
    try:
        out.set("light", 0.5, {"color": "#ff8000"}, "command")
        assert out.value("light") == pytest.approx([0.5, 0.5 * 0x80 / 255, 0.0])
        out.set("vibration", 0.75, {"pattern": "steady"}, "command")
        assert factory.pin(13).state == pytest.approx(0.75)
        out.set("sound", 0.3, {}, "command")
        assert factory.pin(12).state == pytest.approx(0.3)
        out.set("vibration", 0.0, {}, "watchdog")
        assert factory.pin(13).state == 0.0
    finally:
        out.close()
    assert factory.pin(17).state == 0.0


def test_pins_are_checked() -> None:
    assert parse_pins([])["light"] == (18,)
    for bad in ("light=a", "heat=4", "vibration=1/2/3", "light=1/2"):
        with pytest.raises(EmolensError):
            parse_pins([bad])


def test_gpio_without_gpiozero_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gpiozero", None)  # as on a machine without it
    with pytest.raises(EmolensError, match="needs gpiozero"):
        GpioOutputs()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--broker", "tcp://board:1883"], "a broker is given as mqtt://HOST:PORT, got 'tcp://board:1883'"),
        (["--broker", "mqtt://127.0.0.1:1"], "cannot reach the MQTT broker at 127.0.0.1:1"),
        (["--broker", "mqtt://127.0.0.1:1", "--estop-pin", "4"], "--estop-pin needs --outputs gpio"),
        (["--broker", "mqtt://127.0.0.1:1", "--modalities", "heat"], "outputs are some of light, sound, vibration"),
        (["--broker", "mqtt://127.0.0.1:1", "--name", "a/b"], "the agent name 'a/b' must be"),
    ],
)
def test_device_agent_errors_are_one_line(args: list[str], message: str) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "emolens", "relax", "device", *args], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emolens: error: " + message), lines
