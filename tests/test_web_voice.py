"""The live page's microphone over the WebSocket: real RAVDESS speech in 0.5 s chunks, judged with the
shipped speech model and fused with the face; silence; bad chunks get a reason and the stream goes on."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed (pip install 'emolens[web]')")

from fastapi.testclient import TestClient  # noqa: E402

from conftest import MEDIA, SHARED, need  # noqa: E402
from emolens.audio.decode import decode_audio  # noqa: E402
from emolens.audio.labels import NOT_EMOTIONS, SPEECH_EMOTIONS  # noqa: E402
from emolens.labels import EMOTIONS  # noqa: E402
from emolens.runtime.recognizer import Recognizer  # noqa: E402
from emolens.web.app import create_app  # noqa: E402
from emolens.web.settings import ServeOptions  # noqa: E402

BASE = "http://127.0.0.1:8000"
STREAM = "ws://127.0.0.1:8000/api/v1/stream"
RATE = 16000


def chunks(samples: np.ndarray, rate: int = RATE, seconds: float = 0.5) -> list[str]:
    """The JSON messages the page sends: 16-bit PCM, base64, ``seconds`` each."""
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    step = int(rate * seconds)
    return [
        json.dumps({"type": "audio", "rate": rate, "pcm": base64.b64encode(pcm[i : i + step].tobytes()).decode()})
        for i in range(0, len(pcm) - step + 1, step)
    ]


def receive(ws: Any) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.receive_text())
    return message


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """An angry sentence of a test-split actor (21), then the same again: 6-7 s of speech."""
    path = need(SHARED / "data" / "ravdess-speech-16k" / "Actor_21" / "03-01-05-02-01-01-21.flac")
    return np.concatenate([decode_audio(path, RATE).samples] * 2)


@pytest.fixture(scope="module")
def face_frame() -> bytes:
    cap = cv2.VideoCapture(str(need(MEDIA / "pyfeat_single_face.mp4")))
    ok, img = cap.read()
    cap.release()
    assert ok
    return bytes(cv2.imencode(".jpg", img)[1].tobytes())


def test_speech_chunks_are_judged_and_fused_with_the_face(speech: np.ndarray, face_frame: bytes) -> None:
    with (
        TestClient(create_app(ServeOptions(), Recognizer(threads=1)), base_url=BASE) as c,
        c.websocket_connect(STREAM) as ws,
    ):
        for _ in range(3):  # the face's track is confirmed on its 3rd frame
            ws.send_bytes(face_frame)
            assert receive(ws)["type"] == "result"
        voices = []
        sent = chunks(speech)
        for i, message in enumerate(sent):
            ws.send_text(message)
            if i >= 1:  # a judgement once 1 s is in, then one per 0.5 s chunk (of the last 2 s)
                msg = receive(ws)
                assert msg["type"] == "voice", msg
                voices.append(msg)
        expected = len(sent) - 1
    labels = {v["label"] for v in voices}
    assert labels <= set(SPEECH_EMOTIONS) | set(NOT_EMOTIONS)
    spoken = [v for v in voices if v["probs"] is not None]
    assert len(spoken) >= expected // 2, [v["label"] for v in voices]
    for v in spoken:
        assert list(v["probs"]) == list(SPEECH_EMOTIONS) and sum(v["probs"].values()) == pytest.approx(1, abs=1e-3)
        assert v["fused"] is not None and set(v["fused"]["probs"]) == set(EMOTIONS)
        assert v["fused"]["label"] == max(v["fused"]["probs"], key=v["fused"]["probs"].get)
        assert 1.0 <= v["seconds"] <= 2.0 + 1e-6
    kinds = [e["kind"] for v in voices for e in v["events"]]
    assert kinds and set(kinds) == {"voice_emotion_changed"}  # the first emotion heard is announced


def test_a_speaker_profile_model_learns_the_voice_as_it_talks(
    tmp_path: Path, speech: np.ndarray, face_frame: bytes
) -> None:
    from audio_support import speech_model

    model = speech_model(tmp_path / "spk", feature_norm="speaker")
    app = create_app(ServeOptions(speech_model=str(model)), Recognizer(threads=1))
    with TestClient(app, base_url=BASE) as c, c.websocket_connect(STREAM) as ws:
        heard = []
        for i, message in enumerate(chunks(speech[: 4 * RATE])):
            ws.send_text(message)
            if i >= 1:  # judged from 1 s on
                heard.append(receive(ws))
        ws.send_text(json.dumps({"type": "reset"}))
        ws.send_bytes(face_frame)  # the reset is applied with the next frame
        assert receive(ws)["type"] == "result"
        after = []
        for message in chunks(speech[: 2 * RATE]):
            ws.send_text(message)
            after.append(receive(ws))  # the old 2 s are still held: judged from the first chunk on
    spoken = [v["profile_s"] for v in heard if v["probs"] is not None]
    assert spoken and spoken == sorted(spoken) and spoken[-1] >= 2.0  # only aggregates kept: seconds grow
    assert after[0]["profile_s"] is None or after[0]["profile_s"] < spoken[-1]  # a new person starts afresh


def test_silence_is_not_an_emotion_and_bad_chunks_get_a_reason(face_frame: bytes) -> None:
    with (
        TestClient(create_app(ServeOptions(), Recognizer(threads=1)), base_url=BASE) as c,
        c.websocket_connect(STREAM) as ws,
    ):
        for i, message in enumerate(chunks(np.zeros(RATE * 2, np.float32))):
            ws.send_text(message)
            if i >= 1:
                msg = receive(ws)
                assert msg["type"] == "voice" and msg["label"] == "silence", msg
                assert msg["probs"] is None and msg["fused"] is None and msg["events"] == []
        bad = [
            ({"type": "audio", "rate": 1000, "pcm": ""}, "8000 to 48000"),
            ({"type": "audio", "rate": 16000, "pcm": "not base64!"}, "not valid base64"),
            ({"type": "audio", "rate": 16000, "pcm": base64.b64encode(b"\x00" * 3).decode()}, "whole 16-bit samples"),
            ({"type": "audio", "rate": 8000, "pcm": base64.b64encode(b"\x00" * 40_000).decode()}, "at most 1 s"),
            ({"type": "audio", "rate": "16000", "pcm": ""}, "whole number"),
        ]
        for message, why in bad:
            ws.send_text(json.dumps(message))
            msg = receive(ws)
            assert msg["type"] == "voice" and why in msg["error"], msg
        ws.send_bytes(face_frame)
        msg = receive(ws)
        assert msg["type"] == "result", msg  # the stream goes on


def test_a_server_without_a_speech_model_says_so(tmp_path: Path, speech: np.ndarray) -> None:
    app = create_app(ServeOptions(speech_model=str(tmp_path / "none.onnx")), Recognizer(threads=1))
    with TestClient(app, base_url=BASE) as c, c.websocket_connect(STREAM) as ws:
        ws.send_text(chunks(speech[:RATE])[0])
        msg = receive(ws)
        assert msg["type"] == "voice" and "not found" in msg["error"]
