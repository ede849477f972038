"""The live WebSocket on the real app: real frames in, tracked faces out, bad frames, the token, dropping."""

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed (pip install 'emolens[web]')")

from fastapi.testclient import TestClient  # noqa: E402
from starlette.testclient import WebSocketDenialResponse  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

from emolens.labels import EMOTIONS  # noqa: E402
from emolens.runtime.recognizer import Recognizer  # noqa: E402
from emolens.web.app import create_app  # noqa: E402
from emolens.web.settings import ServeOptions  # noqa: E402
from test_web_sniff import jpeg_header, png_header  # noqa: E402

BASE = "http://127.0.0.1:8000"
STREAM = "ws://127.0.0.1:8000/api/v1/stream"  # TestClient.websocket_connect would use "testserver"
TOKEN = "live-token"


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer(threads=1)


@pytest.fixture(scope="module")
def frames(media: Path) -> list[bytes]:
    """The first 40 frames of the real single-face clip, JPEG-encoded as a browser would send them."""
    cap = cv2.VideoCapture(str(media / "pyfeat_single_face.mp4"))
    out = []
    for _ in range(40):
        ok, img = cap.read()
        assert ok
        out.append(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes())
    cap.release()
    return out


@pytest.fixture(scope="module")
def media(request: pytest.FixtureRequest) -> Path:
    from conftest import MEDIA, need

    return need(MEDIA)


@pytest.fixture
def client(recognizer: Recognizer) -> Iterator[TestClient]:
    with TestClient(create_app(ServeOptions(), recognizer), base_url=BASE) as c:
        yield c


def receive(ws: Any) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.receive_text())
    return message


def test_frames_of_a_real_clip_get_faces_with_a_stable_track_id(client: TestClient, frames: list[bytes]) -> None:
    with client.websocket_connect(STREAM) as ws:
        assert client.get("/api/v1/health").json()["live_connections"] == 1
        results = []
        for i, frame in enumerate(frames[:15]):
            ws.send_bytes(frame)
            msg = receive(ws)
            assert msg["type"] == "result" and msg["frame"] == i, msg
            assert msg["received"] == i + 1 and msg["dropped"] == 0
            assert (msg["width"], msg["height"]) == (640, 360) and msg["processing_ms"] > 0
            results.append(msg)
        faces = [m["faces"] for m in results]
        # one face on every frame from frame 2 on: a new face shows once its track is confirmed,
        # after 3 detections (TrackerOptions.min_hits), and it is detected on each frame until then
        assert [len(f) for f in faces] == [0, 0] + [1] * 13
        ids = {f[0]["track_id"] for f in faces if f}
        assert len(ids) == 1 and isinstance(ids.pop(), int)
        for face in (f[0] for f in faces if f):
            assert set(face) == {"number", "box", "label", "confidence", "scores", "valence", "track_id"}
            assert face["number"] == 1  # the only face: first from the left
            assert list(face["scores"]) == list(EMOTIONS) and face["box"][2] > 50
            assert sum(face["scores"].values()) == pytest.approx(1, abs=1e-3)
            assert face["confidence"] == pytest.approx(face["scores"][face["label"]])
        # forgetting the tracks (e.g. after a camera switch) keeps the connection working
        ws.send_text(json.dumps({"type": "reset"}))
        for i in (15, 16, 17):  # the face is new again: it shows on its 3rd frame, once confirmed
            ws.send_bytes(frames[i])
            msg = receive(ws)
            assert msg["type"] == "result" and msg["frame"] == i and len(msg["faces"]) == (1 if i == 17 else 0), msg
        assert msg["faces"][0]["track_id"] not in {f[0]["track_id"] for f in faces if f}  # ids are never reused
        # the events of the stream: the person entered on the frame its track was confirmed; after the
        # reset the rules start afresh and the new track enters again
        events = [(m["frame"], e["kind"], e["track_id"]) for m in results for e in m["events"]]
        first = faces[2][0]["track_id"]
        assert (2, "person_entered", first) in events
        assert [k for _, k, _ in events].count("person_entered") == 1
        assert [(e["kind"], e["track_id"]) for e in msg["events"]] == [("person_entered", msg["faces"][0]["track_id"])]
        assert msg["events"][0]["source"] == "live" and msg["events"][0]["frame"] == 17
    deadline = time.monotonic() + 5
    while client.get("/api/v1/health").json()["live_connections"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert client.get("/api/v1/health").json()["live_connections"] == 0


def test_a_bad_frame_gets_an_error_and_the_connection_goes_on(
    recognizer: Recognizer, frames: list[bytes], media: Path
) -> None:
    app = create_app(ServeOptions(max_image_pixels=1_000_000), recognizer)
    with TestClient(app, base_url=BASE) as c, c.websocket_connect(STREAM) as ws:
        bad = [
            (b"definitely not a jpeg", "not a JPEG"),
            (frames[0][: len(frames[0]) // 2], "cut short"),
            (b"", "empty"),
            (png_header(100_000, 100_000), "10,000,000,000 pixels"),
            (jpeg_header(2000, 1000), "2,000,000 pixels, more than the limit of 1,000,000"),
            ((media / "pyfeat_single_face.mp4").read_bytes()[:4096], "mp4 video"),
        ]
        for n, (data, why) in enumerate(bad):
            ws.send_bytes(data)
            msg = receive(ws)
            assert msg["type"] == "error" and msg["frame"] == n and why in msg["detail"], msg
            assert msg["received"] == n + 1
        ws.send_text("hello")
        msg = receive(ws)
        assert msg["type"] == "error" and msg["frame"] is None and "reset" in msg["detail"]
        ws.send_text(json.dumps({"type": "dance"}))
        assert receive(ws)["type"] == "error"
        for k in range(3):  # a new face shows on its 3rd frame, once its track is confirmed (min_hits=3)
            ws.send_bytes(frames[k])
            msg = receive(ws)
            assert msg["type"] == "result" and msg["frame"] == len(bad) + k, msg
        assert len(msg["faces"]) == 1


class GatedRecognizer(Recognizer):
    """The real recognizer, but its first classification waits until the test opens the gate: the
    server is then busy for as long as the test wants, on a fast machine as on a slow one."""

    def __init__(self) -> None:
        super().__init__(threads=1)
        self.gate = threading.Event()
        self.waited = False

    def classify(self, x: Any) -> Any:
        if not self.waited:
            self.waited = True
            assert self.gate.wait(timeout=30)
        return super().classify(x)


def test_the_server_drops_frames_instead_of_queueing_them(frames: list[bytes]) -> None:
    sent = 30
    rec = GatedRecognizer()
    with TestClient(create_app(ServeOptions(), rec), base_url=BASE) as c, c.websocket_connect(STREAM) as ws:
        for frame in frames[:sent]:
            ws.send_bytes(frame)  # all at once, while frame 0 is held in the classifier
        time.sleep(0.5)  # let the server's reader take them all in
        rec.gate.set()
        answers = []
        while not answers or answers[-1]["frame"] != sent - 1:
            msg = receive(ws)
            assert msg["type"] == "result", msg
            answers.append(msg)
    numbers = [m["frame"] for m in answers]
    assert numbers[0] == 0 and numbers[-1] == sent - 1  # the held frame, then the newest one
    assert numbers == sorted(set(numbers))  # increasing, none twice
    assert len(answers) < sent // 2, numbers  # frames that arrived while the server was busy were dropped
    last = answers[-1]
    assert last["received"] == sent and last["dropped"] >= sent // 2
    assert len(answers) + last["dropped"] == sent  # every frame is either answered or dropped


def test_the_token_guards_the_websocket(recognizer: Recognizer, frames: list[bytes]) -> None:
    with TestClient(create_app(ServeOptions(token=TOKEN), recognizer), base_url=BASE) as c:
        for url in (STREAM, f"{STREAM}?token=wrong", f"{STREAM}?token="):
            with pytest.raises(WebSocketDenialResponse) as info, c.websocket_connect(url):
                pass  # refused before the handshake completes: HTTP 401 and the JSON reason
            assert info.value.status_code == 401 and "token" in info.value.json()["detail"]
            assert info.value.headers["www-authenticate"] == "Bearer"
        for url, headers in ((f"{STREAM}?token={TOKEN}", {}), (STREAM, {"Authorization": f"Bearer {TOKEN}"})):
            with c.websocket_connect(url, headers=headers) as ws:
                ws.send_bytes(frames[0])
                assert receive(ws)["type"] == "result"


def test_websockets_from_other_sites_and_hosts_are_refused(client: TestClient) -> None:
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {"Host": "evil.example"}):
        with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect(STREAM, headers=headers):
            pass
        assert info.value.code == 1008, headers
    with client.websocket_connect(STREAM, headers={"Origin": BASE}) as ws:
        ws.send_text(json.dumps({"type": "reset"}))


def test_live_streams_beyond_the_cap_are_told_to_come_back_later(recognizer: Recognizer, frames: list[bytes]) -> None:
    with TestClient(create_app(ServeOptions(max_live=1), recognizer), base_url=BASE) as c:
        with c.websocket_connect(STREAM) as first:
            first.send_bytes(frames[0])
            assert receive(first)["type"] == "result"
            with c.websocket_connect(STREAM) as second, pytest.raises(WebSocketDisconnect) as info:
                second.receive_text()
            assert info.value.code == 1013 and "at most" in info.value.reason
            first.send_bytes(frames[1])
            assert receive(first)["type"] == "result"  # the first stream goes on
        with c.websocket_connect(STREAM) as again:  # its place is free again
            again.send_bytes(frames[2])
            assert receive(again)["type"] == "result"
