"""Where events go: JSON lines, callbacks, webhooks (a real local HTTP receiver: signatures, retries,
a dead endpoint), MQTT (a real mosquitto), and the same events from all of them for one clip."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from conftest import MEDIA, need
from emolens.errors import EmolensError
from emolens.event import Event
from emolens.event.sinks import JsonlSink, open_sink
from emolens.event.webhook import SIGNATURE_HEADER, WebhookSink, signature
from relax_support import Broker, Listener, running_broker, wait_until

CLIP = "fer_test.mp4"  # one face, sad then happy


def event(seq: int, kind: str = "person_entered") -> Event:
    return Event(kind, seq / 10, 1, "happy", {"happy": 0.9, "sad": 0.1}, "positive", "test", seq, None, None, seq)  # type: ignore[arg-type]


class Receiver:
    """A local webhook endpoint that records each POST; ``fail_first`` answers 503 that many times."""

    def __init__(self, fail_first: int = 0) -> None:
        self.bodies: list[tuple[bytes, dict[str, str]]] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.fail_first > 0:
                    receiver.fail_first -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.bodies.append((body, dict(self.headers)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(b) for b, _ in self.bodies]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    yield from running_broker(tmp_path)


def test_jsonl_lines_and_bad_sinks(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "e.jsonl")
    for i in range(1, 4):
        sink.send(event(i))
    sink.close()
    lines = (tmp_path / "e.jsonl").read_text().splitlines()
    assert [json.loads(x)["seq"] for x in lines] == [1, 2, 3] and sink.stats()["sent"] == 3
    with pytest.raises(EmolensError, match="unknown event sink"):
        open_sink("ftp://x")
    with pytest.raises(EmolensError, match="does not exist"):
        open_sink(str(tmp_path / "missing" / "e.jsonl"))
    with pytest.raises(EmolensError, match="mqtt://HOST:PORT"):
        open_sink("mqtt://:1883/x")


def test_webhooks_are_signed_and_retried(receiver: Receiver) -> None:
    receiver.fail_first = 2
    sink = WebhookSink(receiver.url, secret="s3cret", backoff_s=0.05)
    for i in range(1, 6):
        sink.send(event(i))
    sink.close()
    assert [e["seq"] for e in receiver.events()] == [1, 2, 3, 4, 5]
    assert sink.stats() == {"sent": 5, "dropped": 0, "failed": 2, "queued": 0}
    for body, headers in receiver.bodies:
        expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        assert headers[SIGNATURE_HEADER] == expected == signature(body, "s3cret")
        assert headers["X-Emolens-Event"] == "person_entered"


def test_a_dead_endpoint_drops_events_instead_of_waiting() -> None:
    with socket.socket() as hanging:  # accepts connections, never answers
        hanging.bind(("127.0.0.1", 0))
        hanging.listen(16)
        port = hanging.getsockname()[1]
        sink = WebhookSink(f"http://127.0.0.1:{port}/", timeout_s=3.0, retries=0, queue_size=2, close_timeout_s=0.2)
        for i in range(1, 11):
            sink.send(event(i))  # returns at once: the queue holds 2, the rest are dropped
        stats = sink.stats()
        assert stats["sent"] == 0 and stats["dropped"] >= 7
        sink.close()
        assert sink.stats()["dropped"] + sink.stats()["sent"] + sink.stats()["queued"] <= 10


def test_webhook_4xx_is_not_retried() -> None:
    class Refuse(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(400)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sink = WebhookSink(f"http://127.0.0.1:{server.server_address[1]}/", retries=3, backoff_s=0.01)
        sink.send(event(1))
        sink.close()
        assert sink.stats() == {"sent": 0, "dropped": 1, "failed": 1, "queued": 0}
    finally:
        server.shutdown()
        server.server_close()


def test_mqtt_topics_and_retained_state(broker: Broker) -> None:
    listener = Listener(broker.url, "ev/+", "ev/person/+")
    sink = open_sink(f"{broker.url}/ev")
    try:
        sink.send(event(1))
        sink.send(event(2, "person_left"))
        sink.close()
        assert wait_until(lambda: len(listener.on("ev/person_left")) == 1, 5)
        assert [json.loads(p)["seq"] for p in listener.on("ev/person_entered")] == [1]
        assert sink.stats()["sent"] == 2 and sink.stats()["dropped"] == 0
    finally:
        listener.close()
    late = Listener(broker.url, "ev/person/+")  # connects afterwards: gets the retained state
    try:
        assert wait_until(lambda: len(late.on("ev/person/1")) == 1, 5)
        state = json.loads(late.on("ev/person/1")[0])
        assert state["present"] is False and state["seq"] == 2
    finally:
        late.close()


@pytest.mark.slow
def test_the_same_events_everywhere_for_one_clip(broker: Broker, receiver: Receiver, tmp_path: Path) -> None:
    """CLI stdout, a JSONL file, MQTT and a webhook get the same events; a replay gives them again."""
    clip = str(need(MEDIA / CLIP))
    listener = Listener(broker.url, "clip/+")
    runs = []
    try:
        for n in range(2):
            jsonl = tmp_path / f"run{n}.jsonl"
            cmd = [sys.executable, "-m", "emolens", "watch", clip, "--jsonl", str(jsonl),
                   "--mqtt", f"{broker.url}/clip", "--webhook", receiver.url, "--webhook-secret", "k"]  # fmt: skip
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            assert res.returncode == 0, res.stderr
            stdout = [json.loads(x) for x in res.stdout.splitlines()]
            assert stdout == [json.loads(x) for x in jsonl.read_text().splitlines()]
            runs.append(stdout)
        assert runs[0] == runs[1]  # replayed: the same events, none lost, none added
        events = runs[0]
        assert [e["kind"] for e in events][0] == "person_entered" and events[-1]["kind"] == "person_left"
        assert "emotion_changed" in {e["kind"] for e in events}
        assert len({e["seq"] for e in events}) == len(events)
        assert receiver.events() == events + events
        assert wait_until(
            lambda: sum(len(listener.on(f"clip/{k}")) for k in {e["kind"] for e in events}) == 2 * len(events), 5
        )
        by_mqtt = sorted(
            (json.loads(p) for k in {e["kind"] for e in events} for p in listener.on(f"clip/{k}")),
            key=lambda e: e["seq"],
        )
        assert by_mqtt == sorted(events + events, key=lambda e: e["seq"])
    finally:
        listener.close()


def test_watch_says_what_is_wrong(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "emolens", "watch", str(tmp_path / "none.mp4")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode != 0 and res.stdout == "" and len(res.stderr.strip().splitlines()) == 1
    res = subprocess.run(
        [sys.executable, "-m", "emolens", "watch", "x.mp4", "--webhook", "ftp://h"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode != 0 and "http://" in res.stderr
