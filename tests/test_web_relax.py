"""The relaxation panel's API on the real app (sim devices, a scripted demo child): the token, a
session, the emergency stop and its reset, alerts to acknowledge, the history; with MQTT devices
through a real mosquitto broker; and the panel page in real Chromium (slow)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed (pip install 'emolens[web]')")

from fastapi.testclient import TestClient  # noqa: E402

from emolens.errors import EmolensError  # noqa: E402
from emolens.runtime.recognizer import Recognizer  # noqa: E402
from emolens.web.app import create_app  # noqa: E402
from emolens.web.settings import ServeOptions  # noqa: E402
from relax_support import Agent, Broker, running_broker, wait_until  # noqa: E402

BASE = "http://127.0.0.1:8000"
TOKEN = "relax-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer(threads=1)


@pytest.fixture
def client(recognizer: Recognizer) -> Iterator[TestClient]:
    with TestClient(create_app(ServeOptions(token=TOKEN), recognizer), base_url=BASE) as c:
        yield c


def status(client: TestClient) -> dict[str, Any]:
    r = client.get("/api/v1/relax", headers=AUTH)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def post(client: TestClient, path: str, json: Any = None, status_code: int = 200) -> dict[str, Any]:
    r = client.post(f"/api/v1/relax/{path}", headers=AUTH, json=json)
    assert r.status_code == status_code, r.text
    body: dict[str, Any] = r.json()
    return body


def test_the_panel_needs_the_token(client: TestClient) -> None:
    for method, path in (("GET", "/api/v1/relax"), ("POST", "/api/v1/relax/estop"), ("GET", "/api/v1/relax/options")):
        r = client.request(method, path)
        assert r.status_code == 401 and "token" in r.json()["detail"]
    page = client.get("/relax")  # the page itself is public; everything it shows needs the token
    assert page.status_code == 200 and "EMERGENCY STOP" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_options(client: TestClient) -> None:
    r = client.get("/api/v1/relax/options", headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    assert {"calm-evening", "forest-rest"} <= {s["name"] for s in body["scenarios"]}
    assert [s["name"] for s in body["sources"]] == ["demo:calm", "demo:upset", "demo:gaps"]
    assert body["backend"] == "sim" and body["children"] == []


def test_session_estop_reset_and_history(client: TestClient) -> None:
    s = status(client)
    assert s["mode"] == "idle" and s["devices"]["all_off"] and s["alerts"] == []
    s = post(client, "start", {"child": "kid-1", "scenario": "calm-evening", "source": "demo:calm"})
    assert s["child"] == "kid-1" and s["scenario"] == "calm-evening"
    assert wait_until(lambda: status(client)["mode"] == "running", 5)
    assert wait_until(lambda: status(client)["intensity"]["light"] > 0, 5)
    s = status(client)
    assert s["reading"]["has_face"] and s["timeline"] and not s["devices"]["all_off"]
    post(client, "start", {"child": "kid-1"}, status_code=409)  # one at a time
    # the emergency stop: every device output off in the answer itself
    s = post(client, "estop")
    assert s["devices"]["all_off"] and s["devices"]["estop"]
    assert all(o["reported"] == 0.0 for o in s["devices"]["outputs"].values())
    assert wait_until(lambda: status(client)["mode"] == "estop", 5)
    s = status(client)
    alert = s["alerts"][0]
    assert (alert["kind"], alert["priority"], alert["acknowledged"]) == ("emergency_stop", "high", False)
    assert s["unacknowledged"] == 1
    assert "reset it first" in post(client, "start", {"child": "kid-1"}, status_code=409)["detail"]
    time.sleep(0.3)
    assert status(client)["mode"] == "estop" and status(client)["devices"]["all_off"]
    s = post(client, f"alerts/{alert['id']}/ack")
    assert s["unacknowledged"] == 0 and s["alerts"][0]["acknowledged"]
    post(client, "alerts/999/ack", status_code=404)
    post(client, "reset")
    assert wait_until(lambda: status(client)["mode"] == "idle", 5)
    time.sleep(0.3)
    s = status(client)
    assert s["devices"]["all_off"] and not s["devices"]["estop"]  # nothing restarts by itself
    assert [(x["child"], x["outcome"]) for x in s["sessions"]] == [("kid-1", "emergency stop")]


def test_pause_resume_stop(client: TestClient) -> None:
    post(client, "start", {"child": "kid-2", "scenario": "forest-rest", "source": "demo:calm"})
    assert wait_until(lambda: status(client)["mode"] == "running", 5)
    post(client, "pause")
    assert wait_until(lambda: status(client)["mode"] == "paused", 5)
    post(client, "resume")
    assert wait_until(lambda: status(client)["mode"] == "running", 5)
    post(client, "stop")
    assert wait_until(lambda: status(client)["sessions"] != [], 5)
    assert status(client)["sessions"][0]["outcome"] == "stopped"


def test_bad_start_requests(client: TestClient) -> None:
    assert "pseudonym" in post(client, "start", {"child": "Anna Smith"}, status_code=422)["detail"]
    assert "unknown source" in post(client, "start", {"child": "k", "source": "camera:0"}, status_code=422)["detail"]
    assert "unknown scenario" in post(client, "start", {"child": "k", "scenario": "nope"}, status_code=422)["detail"]
    assert post(client, "start", {}, status_code=422)["detail"].startswith("invalid request")


def test_panel_with_mqtt_devices_and_the_agent(recognizer: Recognizer, tmp_path: Path) -> None:
    broker = running_broker(tmp_path)
    b: Broker = next(broker)
    agent = Agent(b.url)
    try:
        agent.ready()
        options = ServeOptions(token=TOKEN, relax_devices=b.url, relax_store=str(tmp_path / "relax.sqlite"))
        with TestClient(create_app(options, recognizer), base_url=BASE) as client:
            post(client, "start", {"child": "kid-3", "scenario": "calm-evening", "source": "demo:calm"})
            assert wait_until(lambda: agent.value("light") > 0, 15), agent.snapshot_lines()[-5:]
            assert wait_until(lambda: (status(client)["devices"]["outputs"]["light"]["reported"] or 0) > 0, 5)
            post(client, "estop")
            assert wait_until(agent.all_off, 5)
            assert wait_until(lambda: status(client)["devices"]["all_off"], 5)
            assert status(client)["devices"]["backend"] == "mqtt"
            post(client, "reset")
            assert wait_until(lambda: status(client)["sessions"] != [], 5)
        # the server stopped: the records stayed
        from emolens.relax.store import Store

        with Store(tmp_path / "relax.sqlite") as store:
            assert [s.outcome for s in store.sessions("kid-3")] == ["emergency stop"]
    finally:
        agent.close()
        broker.close()


def test_unreachable_broker_is_503(recognizer: Recognizer) -> None:
    from relax_support import free_port

    options = ServeOptions(token=TOKEN, relax_devices=f"mqtt://127.0.0.1:{free_port()}")
    with TestClient(create_app(options, recognizer), base_url=BASE) as client:
        r = client.get("/api/v1/relax", headers=AUTH)
        assert r.status_code == 503 and "cannot reach the MQTT broker" in r.json()["detail"]


def test_bad_devices_option() -> None:
    with pytest.raises(EmolensError, match="mqtt://HOST:PORT"):
        ServeOptions(relax_devices="serial")
    with pytest.raises(EmolensError, match="the chair id"):
        ServeOptions(relax_chair="chair/1")
