"""Real parts for the relaxation tests: a Debian mosquitto broker on a free loopback port, and the
device agent (`emolens relax device --outputs print`) as a child process whose lines are read back.

mosquitto is installed with apt-get when missing (as root); otherwise the tests that need it skip,
saying why.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")


def _find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    return found or next((p for p in MOSQUITTO_PATHS if Path(p).exists()), None)


def mosquitto_binary() -> str:
    """The mosquitto executable, installed with apt-get when missing; skips the test when impossible."""
    found = _find_mosquitto()
    if found:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip("mosquitto is missing and cannot be installed here (needs apt-get as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "install", "-y", "mosquitto"],
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "mosquitto"],
    ):
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        except subprocess.TimeoutExpired:
            pytest.skip(f"mosquitto is missing and `{' '.join(cmd)}` timed out")
        if res.returncode == 0 and _find_mosquitto():
            break
    found = _find_mosquitto()
    if not found:
        pytest.skip("mosquitto is missing and `apt-get install -y mosquitto` did not install it")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout_s: float, step_s: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step_s)
    return check()


@dataclass
class Broker:
    """A mosquitto process on 127.0.0.1:``port`` (no persistence, anonymous, loopback only)."""

    binary: str
    folder: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        conf = self.folder / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n"
        )
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if not wait_until(self._listening, 10.0, 0.05):
            self.stop()
            pytest.fail(f"mosquitto did not listen on port {self.port} within 10 s")

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: the broker vanishes without a word, as on a crash."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None


def running_broker(tmp_path: Path) -> Iterator[Broker]:
    """A real mosquitto broker on a free loopback port, started and stopped by the test (the body
    of each test module's ``broker`` fixture)."""
    pytest.importorskip("paho.mqtt.client", reason="paho-mqtt is not installed (pip install -e '.[relax]')")
    b = Broker(mosquitto_binary(), tmp_path)
    b.start()
    try:
        yield b
    finally:
        b.stop()


def emolens_process(*args: str, log: Path | None = None) -> subprocess.Popen[str]:
    """``python -m emolens ARGS`` with its output read line by line (or written to ``log``)."""
    out = log.open("w") if log is not None else None
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "emolens", *args],
            stdout=out if out is not None else subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    finally:
        if out is not None:
            out.close()  # the child has its own copy


@dataclass
class OutputLine:
    modality: str
    intensity: float
    reason: str


class Agent:
    """``emolens relax device --outputs print`` in a child process; :attr:`values` follows its lines."""

    def __init__(self, broker_url: str, *extra: str, watchdog_s: float = 1.0, chair: str = "chair1") -> None:
        self.proc = emolens_process(
            "relax", "device", "--broker", broker_url, "--outputs", "print", "--watchdog-s", str(watchdog_s),
            "--chair", chair, "--heartbeat-s", "0.2", *extra,
        )  # fmt: skip
        self.lines: list[str] = []
        self.values: dict[str, float] = {}
        self.reasons: dict[str, str] = {}
        self.changes: queue.Queue[OutputLine] = queue.Queue()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.rstrip("\n")
            with self._lock:
                self.lines.append(line)
                parts = line.split()
                if len(parts) >= 3 and parts[0] in ("light", "sound", "vibration"):
                    try:
                        value = float(parts[1])
                    except ValueError:
                        continue
                    self.values[parts[0]] = value
                    self.reasons[parts[0]] = parts[2]
                    self.changes.put(OutputLine(parts[0], value, parts[2]))

    def ready(self, timeout_s: float = 20.0) -> None:
        """Wait for the agent's start line."""
        if not wait_until(lambda: any("device agent" in x for x in self.snapshot_lines()), timeout_s):
            pytest.fail(f"the device agent did not start: {self.snapshot_lines()[-10:]}")

    def snapshot_lines(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def value(self, modality: str) -> float:
        with self._lock:
            return self.values.get(modality, 0.0)

    def any_on(self) -> bool:
        with self._lock:
            return any(v > 0 for v in self.values.values())

    def all_off(self) -> bool:
        with self._lock:
            return all(v == 0.0 for v in self.values.values())

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class Listener:
    """A plain MQTT client that records every message on ``topics`` (and can publish)."""

    def __init__(self, broker_url: str, *topics: str) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        host, port = broker_url.removeprefix("mqtt://").split(":")
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-listener-{os.getpid()}-{id(self)}")

        def on_connect(c: mqtt.Client, u: object, f: object, rc: object, p: object) -> None:
            c.subscribe([(t, 1) for t in topics])
            ready.set()

        def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
            with self._lock:
                self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

        self.client.on_connect = on_connect
        self.client.on_message = on_message
        self.client.connect(host, int(port))
        self.client.loop_start()
        assert ready.wait(10), "the test's MQTT listener could not connect"
        time.sleep(0.2)  # the subscription settles

    def on(self, topic_part: str) -> list[bytes]:
        with self._lock:
            return [p for t, p, _ in self.messages if topic_part in t]

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
