"""Decode attacks of issue 11 against the web app: memory and CPU bombs, reduced decoding, the decode gate,
video frames larger than their header. On the real app (TestClient) and on a real `emolens serve` on loopback."""

import json
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed (pip install 'emolens[web]')")

from fastapi.testclient import TestClient  # noqa: E402

from bombs import png16_rgba, progressive_scan_bomb, small_header_video  # noqa: E402
from emolens.imagecheck import (
    ANALYSIS_PIXELS,  # noqa: E402
    read_header,  # noqa: E402
)
from emolens.runtime.recognizer import Recognizer  # noqa: E402
from emolens.web.app import create_app  # noqa: E402
from emolens.web.decode import DECODES, BadImage, DecodeGate, decode_cost  # noqa: E402
from emolens.web.settings import ServeOptions  # noqa: E402

BASE = "http://127.0.0.1:8000"
STREAM = "ws://127.0.0.1:8000/api/v1/stream"


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer(threads=1)


@pytest.fixture(scope="module")
def media() -> Path:
    from conftest import MEDIA, need

    return need(MEDIA)


@pytest.fixture(scope="module")
def png_bomb() -> bytes:
    return png16_rgba(6000, 6000)  # 280 kB, 36 M pixels of 16-bit RGBA: under the 40 M pixel limit


@pytest.fixture(scope="module")
def scan_bomb() -> bytes:
    return progressive_scan_bomb(6000, 6000, 5000)  # 507 kB; 33.8 s to decode before the scan limit


def client_for(recognizer: Recognizer, **options: Any) -> TestClient:
    return TestClient(create_app(ServeOptions(**options), recognizer), base_url=BASE)


def upload(c: TestClient, path: str, data: bytes, name: str = "x.bin") -> Any:
    return c.post(path, files={"file": (name, data, "application/octet-stream")})


def test_the_16_bit_png_bomb_is_refused_by_its_decoded_bytes(recognizer: Recognizer, png_bomb: bytes) -> None:
    with client_for(recognizer) as c:
        r = upload(c, "/api/v1/analyze", png_bomb, "bomb.png")
        assert r.status_code == 413, r.text
        assert r.json()["detail"] == (
            "the image is 6000x6000 with 4 channels of 16 bits: 288,000,000 bytes once decoded, "
            "more than the limit of 120,000,000 (40,000,000 pixels of 8-bit color)"
        )
        assert DECODES.used == 0 and c.get("/api/v1/health").json()["status"] == "ok"


def test_the_scan_bomb_is_refused_on_the_rest_and_live_paths(
    recognizer: Recognizer, scan_bomb: bytes, media: Path
) -> None:
    frame = cv2.imencode(".jpg", cv2.imread(str(media / "fer_justin.jpg")))[1].tobytes()
    with client_for(recognizer) as c:
        r = upload(c, "/api/v1/analyze", scan_bomb, "scans.jpg")
        assert r.status_code == 422, r.text
        assert r.json()["detail"].startswith("the JPEG has more than 100 scans (a progressive JPEG has about 10)")
        with c.websocket_connect(STREAM) as ws:
            ws.send_bytes(scan_bomb)
            msg = json.loads(ws.receive_text())
            assert msg["type"] == "error" and msg["frame"] == 0 and "more than 100 scans" in msg["detail"], msg
            ws.send_bytes(frame)  # the connection goes on
            msg = json.loads(ws.receive_text())
            assert msg["type"] == "result" and msg["frame"] == 1, msg


def test_large_images_are_analysed_reduced_with_sizes_and_boxes_of_the_full_image(
    recognizer: Recognizer, media: Path
) -> None:
    photo = cv2.imread(str(media / "facerec_two_people.jpg"))[:250]  # 1126x250: the two faces, not the shirts
    big = cv2.resize(photo, None, fx=8, fy=8, interpolation=cv2.INTER_CUBIC)  # 9008x2000 = 18 M pixels
    data = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    with client_for(recognizer) as c:
        small = upload(c, "/api/v1/analyze", cv2.imencode(".jpg", photo)[1].tobytes()).json()
        pool = c.app.state.web.pool  # type: ignore[attr-defined]
        assert pool.idle == 1  # the detector of a small image is kept for the next request
        r = upload(c, "/api/v1/analyze", data, "big.jpg")
        assert r.status_code == 200, r.text
        body = r.json()
        assert pool.idle == 0  # ... that of a large one is not: its buffers go with it
        assert DECODES.used == 0
    assert (body["width"], body["height"]) == (9008, 2000)
    assert len(small["faces"]) == 2 and len(body["faces"]) >= 2  # Haar adds small false faces at this scale

    def matches(box: list[int], full: list[int]) -> bool:
        x, y, w, h = (8 * v for v in box)
        bx, by, bw, bh = full
        near = abs((bx + bw / 2) - (x + w / 2)) < 0.15 * w and abs((by + bh / 2) - (y + h / 2)) < 0.15 * h
        return near and 0.75 < bw / w < 1.33

    for face in small["faces"]:  # each face, found again where it is in the full image's pixels
        assert any(matches(face["box"], f["box"]) for f in body["faces"]), (face["box"], body["faces"])
    assert all(f["box"][0] + f["box"][2] <= 9008 and f["box"][1] + f["box"][3] <= 2000 for f in body["faces"])


def test_the_decode_gate_bounds_the_bytes_held_at_once() -> None:
    gate = DecodeGate(budget=100, wait_s=0.3)
    holding, release = threading.Event(), threading.Event()

    def hold(n: int) -> None:
        with gate.hold(n):
            holding.set()
            release.wait(10)

    other = threading.Thread(target=hold, args=(60,))
    other.start()
    try:
        assert holding.wait(10) and gate.used == 60 and gate.holders == 1
        with gate.hold(40):  # fits beside it
            assert gate.used == 100
        t = time.monotonic()
        with pytest.raises(BadImage) as busy, gate.hold(60):  # does not fit: waits, then 503
            pass
        assert busy.value.status == 503 and "busy" in busy.value.detail and time.monotonic() - t >= 0.25
        waited: list[float] = []

        def wait_for_room() -> None:
            t0 = time.monotonic()
            with gate.hold(60):
                waited.append(time.monotonic() - t0)

        late = threading.Thread(target=wait_for_room)
        late.start()
        time.sleep(0.1)
        release.set()  # the first holder leaves: the waiting one gets in
        late.join(10)
        assert len(waited) == 1 and waited[0] >= 0.05
    finally:
        release.set()
        other.join(10)
    with gate.hold(500):  # larger than the whole budget: runs alone
        assert gate.used == 500
    assert gate.used == 0 and gate.holders == 0


class GatedRecognizer(Recognizer):
    """The real recognizer; its first classification waits until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__(threads=1)
        self.entered = threading.Event()
        self.gate = threading.Event()

    def classify(self, x: Any) -> Any:
        if not self.gate.is_set():
            self.entered.set()
            assert self.gate.wait(timeout=60)
        return super().classify(x)


def test_the_rest_path_holds_its_memory_in_the_gate_through_the_analysis(media: Path) -> None:
    data = (media / "facerec_two_people.jpg").read_bytes()
    header = read_header(data)
    assert header is not None
    rec = GatedRecognizer()
    answers: list[Any] = []
    with client_for(rec) as c:
        request = threading.Thread(target=lambda: answers.append(upload(c, "/api/v1/analyze", data, "two.jpg")))
        request.start()
        try:
            assert rec.entered.wait(120)
            assert DECODES.holders == 1 and DECODES.used == decode_cost(header, ANALYSIS_PIXELS)
        finally:
            rec.gate.set()
            request.join(120)
    assert answers[0].status_code == 200 and len(answers[0].json()["faces"]) == 2
    assert DECODES.used == 0 and DECODES.holders == 0


def wait_for_job(c: TestClient, job: str, timeout: float = 180.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info: dict[str, Any] = c.get(f"/api/v1/videos/{job}").json()
        if info["status"] in ("done", "failed"):
            return info
        time.sleep(0.05)
    raise AssertionError(f"job {job} did not end in {timeout} s")


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_video_frames_larger_than_the_header_fail_the_job(recognizer: Recognizer, tmp_path: Path, suffix: str) -> None:
    clip = small_header_video(tmp_path / f"lying{suffix}", header=64, big=1200)  # H.264 / MJPEG
    with client_for(recognizer, max_image_pixels=1_000_000) as c:
        with open(clip, "rb") as fh:
            r = c.post("/api/v1/videos", files={"file": (f"lying{suffix}", fh, "video/mp4")})
        assert r.status_code == 202, r.text  # the header says 64x64: within the limit
        info = wait_for_job(c, r.json()["id"])
    assert info["status"] == "failed", info
    assert info["error"] == (
        f"lying{suffix}: the video has frames of 1200x1200 = 1,440,000 pixels, more than the limit of 1,000,000"
    )


# ---------------------------------------------------------------------- a real server on loopback


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    pytest.importorskip("uvicorn", reason="the web extra is not installed (pip install 'emolens[web]')")
    from test_web_serve import ADDRESS, Served

    served = Served()
    try:
        m = ADDRESS.match(served.line)
        assert m, served.line
        yield m.group(1)
    finally:
        code, _, err = served.stop(signal.SIGTERM)
        assert code == 0 and "Traceback" not in err, err


def post(url: str, data: bytes, name: str) -> tuple[int, dict[str, Any]]:
    boundary = "emolens-attack"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


def get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as r:
        answer: dict[str, Any] = json.loads(r.read())
        return answer


def test_the_attacks_against_a_real_server(server: str, png_bomb: bytes, scan_bomb: bytes, tmp_path: Path) -> None:
    websockets = pytest.importorskip("websockets", reason="the WebSocket client needs websockets (the dev extra)")
    from websockets.sync.client import connect

    status, answer = post(f"{server}api/v1/analyze", png_bomb, "bomb.png")
    assert status == 413 and "288,000,000 bytes once decoded" in answer["detail"], answer
    t = time.monotonic()
    status, answer = post(f"{server}api/v1/analyze", scan_bomb, "scans.jpg")
    assert status == 422 and "more than 100 scans" in answer["detail"], answer
    assert time.monotonic() - t < 30  # refused before decoding (33.8 s before the limit)
    assert websockets is not None
    with connect(server.replace("http", "ws") + "api/v1/stream", proxy=None, open_timeout=30) as ws:
        ws.send(scan_bomb)
        msg = json.loads(ws.recv(timeout=60))
        assert msg["type"] == "error" and "more than 100 scans" in msg["detail"], msg
    # a video announcing 64x64 frames that carries a 7000x7000 one (49 M pixels, over the 40 M limit)
    clip = small_header_video(tmp_path / "lying.avi", header=64, big=7000, small_frames=2, big_frames=1)
    status, answer = post(f"{server}api/v1/videos", clip.read_bytes(), "lying.avi")
    assert status == 202, answer
    deadline = time.monotonic() + 120
    while answer["status"] not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.1)
        answer = get(f"{server}api/v1/videos/{answer['id']}")
    assert answer["status"] == "failed" and answer["error"] == (
        "lying.avi: the video has frames of 7000x7000 = 49,000,000 pixels, more than the limit of 40,000,000"
    ), answer
    assert get(f"{server}api/v1/health")["status"] == "ok"
