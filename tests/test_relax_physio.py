"""The wristband live: a recorded E4 folder replayed into a real mosquitto broker (`emolens
physio-replay`), the relaxation side's subscriber turning the samples into stress readings, bad
messages counted and never raised, and the stress reaching the controller of a running session."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from emolens.mqtt import make_client
from emolens.physio.mqtt import encode_samples, topic_for
from emolens.relax.body import BodyFeed
from emolens.relax.devices.sim import SimDevices
from emolens.relax.physio_mqtt import PhysioSubscriber
from emolens.relax.runner import RelaxRunner, RelaxSession
from emolens.relax.scenarios import load_scenario
from emolens.relax.sources import DemoReadings
from physio_support import recording_arrays, write_e4
from relax_support import Broker, running_broker, wait_until


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    yield from running_broker(tmp_path)


@pytest.fixture(scope="module")
def e4_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_e4(tmp_path_factory.mktemp("e4") / "S99", recording_arrays(duration_s=330.0))


def test_a_replayed_wristband_feeds_stress_readings(broker: Broker, e4_folder: Path) -> None:
    feed = BodyFeed()
    band = PhysioSubscriber(broker.url, "kid7", feed)
    try:
        cmd = [sys.executable, "-m", "emolens", "physio-replay", str(e4_folder), "--mqtt", broker.url,
               "--child", "kid7", "--speed", "60"]  # fmt: skip
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        sent = int(re.search(r"published (\d+) messages", res.stdout).group(1))  # type: ignore[union-attr]
        assert wait_until(lambda: band.stats()["messages"] == sent, 30), (
            sent,
            band.stats(),
        )  # QoS 1 on loopback: every one
        stats = band.stats()
        assert stats["bad"] == 0 and stats["readings"] == feed.count >= 5 and sent > 300
        reading = feed.latest
        assert reading is not None and 0.0 <= reading.stress <= 1.0
        assert band.last_reading is not None and band.last_reading["t_end"] > band.last_reading["t_start"]
        # another child's band and a malformed message are not this child's readings, and nothing breaks
        other = make_client("test-other-band")
        other.connect("127.0.0.1", broker.port)
        other.loop_start()
        other.publish(topic_for("kid8", "hr"), encode_samples("hr", 1.7e9, [80.0] * 5, 1.0), qos=1).wait_for_publish(5)
        other.publish(topic_for("kid7", "eda"), b"{not json", qos=1).wait_for_publish(5)
        other.publish(topic_for("kid7", "eda"), b'{"t": 1, "fs": 4, "v": "x"}', qos=1).wait_for_publish(5)
        assert wait_until(lambda: band.stats()["bad"] == 2, 5), band.stats()
        assert band.stats()["messages"] == stats["messages"] + 2
        other.loop_stop()
        other.disconnect()
    finally:
        band.close()


def test_the_bands_stress_reaches_a_running_session(broker: Broker, e4_folder: Path) -> None:
    """The wristband's readings join the face's at the controller; with a high halt threshold
    the session goes on and the panel shows the stress as fresh."""
    sim = SimDevices()
    session = RelaxSession(sim, load_scenario("calm-evening"), child="kid7", source_name="demo:calm")
    feed = BodyFeed(session.clock)
    band = PhysioSubscriber(broker.url, "kid7", feed)
    runner = RelaxRunner(session, DemoReadings("calm", fps=20), tick_s=0.05, body=feed)
    try:
        session.start()
        cmd = [sys.executable, "-m", "emolens", "physio-replay", str(e4_folder), "--mqtt", broker.url,
               "--child", "kid7", "--speed", "60"]  # fmt: skip
        replay = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and session.snapshot()["body"] is None:
            runner.tick_once()
        body = session.snapshot()["body"]
        assert body is not None and 0.0 <= body["stress"] <= 1.0, band.stats()
        assert session.state.arousal == pytest.approx(body["stress"], abs=1e-4) and body["fresh"]
        assert session.state.mode == "running"  # calm face, a resting band: the session goes on
        assert replay.wait(60) == 0
    finally:
        runner.close()
        band.close()
    assert sim.state().all_off


def test_the_live_page_and_the_panel_show_the_bands_stress(broker: Broker, e4_folder: Path) -> None:
    pytest.importorskip("fastapi", reason="the web extra is not installed (pip install 'emolens[web]')")
    import cv2
    from fastapi.testclient import TestClient

    from conftest import MEDIA, need
    from emolens.runtime.recognizer import Recognizer
    from emolens.web.app import create_app
    from emolens.web.settings import ServeOptions

    cap = cv2.VideoCapture(str(need(MEDIA / "pyfeat_single_face.mp4")))
    ok, img = cap.read()
    cap.release()
    assert ok
    frame = cv2.imencode(".jpg", img)[1].tobytes()
    app = create_app(ServeOptions(physio_mqtt=broker.url, physio_child="kid7"), Recognizer(threads=1))
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        assert c.get("/api/v1/relax").json()["body"] is None  # the panel, before the band says anything
        started = c.post(
            "/api/v1/relax/start", json={"child": "kid7", "scenario": "calm-evening", "source": "demo:calm"}
        )
        assert started.status_code == 200, started.text
        with c.websocket_connect("ws://127.0.0.1:8000/api/v1/stream") as ws:
            ws.send_bytes(frame)
            assert json.loads(ws.receive_text())["body"] is None  # nothing from the band yet
            cmd = [sys.executable, "-m", "emolens", "physio-replay", str(e4_folder), "--mqtt", broker.url,
                   "--child", "kid7", "--speed", "60"]  # fmt: skip
            replay = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # while the band sends, the panel's controller uses its readings: fresh stress in the status
            assert wait_until(lambda: (c.get("/api/v1/relax").json()["body"] or {}).get("fresh") is True, 60)
            status = c.get("/api/v1/relax").json()
            assert 0.0 <= status["body"]["stress"] <= 1.0 and status["mode"] == "running"
            assert replay.wait(60) == 0
            ws.send_bytes(frame)
            body = json.loads(ws.receive_text())["body"]
            assert body is not None and 0.0 <= body["stress"] <= 1.0
            assert set(body) == {"stress", "arousal", "age_s", "quality", "fresh"}
        c.post("/api/v1/relax/stop")
    with pytest.raises(Exception, match="mqtt://HOST:PORT"):
        ServeOptions(physio_mqtt="http://nope")
