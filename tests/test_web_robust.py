"""Stalled and idle clients against a real `emolens serve` on loopback: raw sockets and a real WebSocket client.

Each test reproduces an attack of issue 11 on a real uvicorn server (a subprocess, as a user runs it):
uploads that declare a long body and go quiet or trickle, a live client that sends nothing, and a
WebSocket without its token.
"""

import json
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn", reason="the web extra is not installed (pip install 'emolens[web]')")
websockets = pytest.importorskip("websockets", reason="the WebSocket client needs websockets (the dev extra)")

from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from emolens.web.context import NO_TOKEN, WRONG_TOKEN  # noqa: E402
from emolens.web.live import WS_IDLE  # noqa: E402
from test_web_serve import ADDRESS, Served  # noqa: E402

TOKEN = "robust-token"
IDLE_S = 3.0  # --upload-idle-s and --live-idle-s: long enough to look at the server while a client stalls
MIN_KB_S = 64.0
BOUNDARY = "emolens-test-boundary"
DECLARED = 50 * 1024 * 1024  # the body the stalled clients announce (under the 200 MB limit)
SENT = 50 * 1024  # the part of it they send before going quiet


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    """One server for the module: 2 job places, 1 live place, short idle limits, a token."""
    served = Served(
        "--token", TOKEN, "--max-jobs", "2", "--max-live", "1",
        "--upload-idle-s", str(IDLE_S), "--upload-min-kb-s", str(MIN_KB_S), "--live-idle-s", str(IDLE_S),
    )  # fmt: skip
    try:
        m = ADDRESS.match(served.line)
        assert m, served.line
        yield m.group(1), int(m.group(3))
    finally:
        code, _, err = served.stop(signal.SIGTERM)
        assert code == 0 and "Traceback" not in err, err


@pytest.fixture(scope="module")
def clip(media: Path) -> bytes:
    return (media / "pyfeat_single_face.mp4").read_bytes()


@pytest.fixture(scope="module")
def media() -> Path:
    from conftest import MEDIA, need

    return need(MEDIA)


def health(url: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{url}api/v1/health", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as r:
        answer: dict[str, Any] = json.loads(r.read())
        return answer


def form_head(filename: str = "clip.mp4") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()


def form(data: bytes) -> bytes:
    return form_head() + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def upload_video(url: str, data: bytes) -> tuple[int, dict[str, Any]]:
    """POST a whole video, as a well-behaved client does: (status, JSON answer)."""
    body = form(data)
    request = urllib.request.Request(
        f"{url}api/v1/videos",
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {TOKEN}",
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


def delete_job(url: str, job_id: str) -> None:
    request = urllib.request.Request(
        f"{url}api/v1/videos/{job_id}", method="DELETE", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=60) as r:
        assert r.status == 204


def start_upload(port: int, declared: int, first: bytes) -> socket.socket:
    """A raw connection that announces a body of ``declared`` bytes and sends only ``first``."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    head = (
        f"POST /api/v1/videos HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {declared}\r\n\r\n"
    )
    sock.sendall(head.encode() + first)
    return sock


def read_answer(sock: socket.socket, timeout: float) -> tuple[int, dict[str, str], dict[str, Any], float]:
    """Status, headers and JSON body of the server's answer, and the seconds it took; the server must
    then close the connection."""
    t0 = time.monotonic()
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed without an answer: {data!r}"
        data += chunk
    took = time.monotonic() - t0
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    try:
        rest = sock.recv(65536)
    except ConnectionResetError:  # closed while the client was still sending: as good
        rest = b""
    assert rest == b"", "the server kept the connection open after the 408"
    return status, headers, json.loads(body), took


def test_stalled_uploads_are_cut_and_free_their_places(server: tuple[str, int], clip: bytes) -> None:
    url, port = server
    first = form_head() + clip[: SENT - len(form_head())]
    stalled = [start_upload(port, DECLARED, first) for _ in range(2)]  # both places of --max-jobs 2
    try:
        t0 = time.monotonic()
        state = health(url)
        while state["uploads"] < 2 and time.monotonic() - t0 < IDLE_S / 2:
            time.sleep(0.05)
            state = health(url)
        assert state["uploads"] == 2 and state["jobs"] == 0, state  # the stalled uploads show in /health
        status, answer = upload_video(url, clip)
        assert status == 429 and "already arriving" in answer["detail"], answer  # they hold every place...
        for sock in stalled:
            status, headers, body, took = read_answer(sock, timeout=IDLE_S + 30)
            assert status == 408, body
            assert body["detail"] == f"the upload stalled: no data for {IDLE_S:g} s after 50 kB", body
            assert headers["connection"] == "close" and headers["content-type"] == "application/json"
            assert took < IDLE_S + 20
    finally:
        for sock in stalled:
            sock.close()
    assert health(url)["uploads"] == 0
    status, answer = upload_video(url, clip)  # ...until the timeout frees them
    assert status == 202, answer
    delete_job(url, answer["id"])


def test_a_trickling_upload_is_cut_by_the_minimum_rate(server: tuple[str, int], clip: bytes) -> None:
    """1 kB every 0.5 s never pauses for the idle limit, but stays far below --upload-min-kb-s."""
    url, port = server
    sock = start_upload(port, DECLARED, form_head() + clip[:1024])
    stop = threading.Event()

    def trickle() -> None:
        offset = 1024
        while not stop.wait(0.5):
            try:
                sock.sendall(clip[offset : offset + 1024])
            except OSError:  # the server closed the connection
                return
            offset += 1024

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    try:
        status, _, body, took = read_answer(sock, timeout=IDLE_S + 30)
    finally:
        stop.set()
        sender.join(10)
        sock.close()
    assert status == 408 and body["detail"].startswith("the upload is too slow: "), body
    assert f"under the minimum of {MIN_KB_S:g} kB/s" in body["detail"]
    assert IDLE_S <= took < IDLE_S + 20  # the allowance first, then the rate
    assert health(url)["uploads"] == 0


def stream_url(port: int, token: str | None = TOKEN) -> str:
    return f"ws://127.0.0.1:{port}/api/v1/stream" + (f"?token={token}" if token is not None else "")


def test_an_idle_live_client_is_closed_and_frees_its_place(server: tuple[str, int]) -> None:
    import cv2
    import numpy as np

    url, port = server
    frame = cv2.imencode(".jpg", np.full((120, 160, 3), 128, np.uint8))[1].tobytes()
    with connect(stream_url(port), proxy=None, open_timeout=30) as active:
        # a client that keeps sending, with pauses shorter than the limit, is never closed
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2 * IDLE_S:
            active.send(frame)
            assert json.loads(active.recv(timeout=30))["type"] == "result"
            time.sleep(IDLE_S / 3)
    deadline = time.monotonic() + 10
    while health(url)["live_connections"] and time.monotonic() < deadline:
        time.sleep(0.05)
    with connect(stream_url(port), proxy=None, open_timeout=30) as idle:
        assert health(url)["live_connections"] == 1
        with connect(stream_url(port), proxy=None, open_timeout=30) as second, pytest.raises(ConnectionClosed) as busy:
            second.recv(timeout=30)  # --max-live 1: the idle client holds the only place
        assert busy.value.rcvd is not None and busy.value.rcvd.code == 1013
        t0 = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            idle.recv(timeout=IDLE_S + 30)
        took = time.monotonic() - t0
    assert closed.value.rcvd is not None, closed.value
    assert closed.value.rcvd.code == WS_IDLE == 4408
    assert closed.value.rcvd.reason == (
        f"nothing received for {IDLE_S:g} s: idle live streams are closed; reconnect to go on"
    )
    assert took < IDLE_S + 20
    deadline = time.monotonic() + 10
    while health(url)["live_connections"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert health(url)["live_connections"] == 0
    with connect(stream_url(port), proxy=None, open_timeout=30) as again:  # the place is free again
        again.send(frame)
        assert json.loads(again.recv(timeout=30))["type"] == "result"


def test_a_websocket_without_its_token_is_refused_with_401_before_the_handshake(server: tuple[str, int]) -> None:
    url, port = server
    for token, detail in ((None, NO_TOKEN), ("wrong", WRONG_TOKEN), ("", NO_TOKEN)):
        with pytest.raises(InvalidStatus) as refused:
            connect(stream_url(port, token), proxy=None, open_timeout=30)
        response = refused.value.response
        assert response.status_code == 401, token  # an HTTP answer: the upgrade never happened (no 101)
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert json.loads(response.body) == {"detail": detail}, token
    assert health(url)["live_connections"] == 0  # a refused client never held a live place
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with connect(stream_url(port, None), proxy=None, open_timeout=30, additional_headers=bearer) as ws:
        assert ws.response is not None and ws.response.status_code == 101  # the token in a header: accepted
