"""``POST /api/v1/audio``: a recording's speech judged window by window with the shipped speech model;
videos' sound; what is not sound refused with a reason; nothing left behind."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed (pip install 'emolens[web]')")

from fastapi.testclient import TestClient  # noqa: E402

from audio_support import speech_like, write_audio  # noqa: E402
from conftest import MEDIA, SHARED, need  # noqa: E402
from emolens.audio.labels import NOT_EMOTIONS, SPEECH_EMOTIONS  # noqa: E402
from emolens.runtime.recognizer import Recognizer  # noqa: E402
from emolens.web.app import create_app  # noqa: E402
from emolens.web.settings import ServeOptions  # noqa: E402

BASE = "http://127.0.0.1:8000"
ANGRY = SHARED / "data" / "ravdess-speech-16k" / "Actor_21" / "03-01-05-02-01-01-21.flac"


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer(threads=1)


@pytest.fixture
def client(recognizer: Recognizer) -> Iterator[TestClient]:
    with TestClient(create_app(ServeOptions(), recognizer), base_url=BASE) as c:
        yield c


def post(client: TestClient, name: str, data: bytes, **params: Any) -> Any:
    return client.post("/api/v1/audio", files={"file": (name, data, "application/octet-stream")}, params=params)


def leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("emolens-audio-*")}


def refused(r: Any, status: int) -> str:
    assert r.status_code == status, r.text
    assert set(r.json()) == {"detail"}
    return str(r.json()["detail"])


def test_a_recording_is_judged_window_by_window_and_nothing_is_kept(client: TestClient) -> None:
    before = leftovers()
    r = post(client, "my talk.flac", need(ANGRY).read_bytes())
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["source"] == "my talk.flac" and a["video"] is False and a["codec"] == "flac" and a["source_rate"] == 16000
    assert a["labels"] == list(SPEECH_EMOTIONS) and a["windows"] == len(a["per_window"]) >= 3
    assert a["speech_windows"] >= 2 and a["emotion"] in SPEECH_EMOTIONS
    assert sum(a["mean_probs"].values()) == pytest.approx(1.0, abs=1e-3)
    judged = [w for w in a["per_window"] if w["label"] not in NOT_EMOTIONS]
    assert judged and all(w["probs"][w["label"]] == w["confidence"] for w in judged)
    assert leftovers() == before
    r = post(client, "my talk.flac", need(ANGRY).read_bytes(), window_s=3, hop_s=1)
    assert r.json()["window_s"] == 3 and [w["start_s"] for w in r.json()["per_window"]][:2] == [0.0, 1.0]


def test_the_sound_of_a_video_and_a_video_without_sound(client: TestClient) -> None:
    r = post(client, "clip.mp4", need(MEDIA / "facerec_short_hamilton_clip.mp4").read_bytes())
    assert r.status_code == 200, r.text
    assert r.json()["video"] is True and r.json()["codec"] == "aac"
    reason = refused(post(client, "silent.mp4", need(MEDIA / "fer_woman2.mp4").read_bytes()), 422)
    assert reason == "silent.mp4 has no audio track (a video without sound)"  # the client's name, no server path


def test_what_is_not_a_recording_is_refused_with_a_reason(client: TestClient, tmp_path: Path) -> None:
    before = leftovers()
    image = need(MEDIA / "fer_justin.jpg").read_bytes()
    assert "JPEG image, not sound: send images to /api/v1/analyze" in refused(post(client, "a.wav", image), 415)
    assert "not a recording" in refused(post(client, "a.wav", b"just some text, not sound\n" * 4), 415)
    assert refused(post(client, "a.wav", b""), 422) == "the file is empty"
    wav = write_audio(tmp_path / "a.wav", speech_like(2.0)).read_bytes()
    cut = refused(post(client, "cut.wav", wav[:30]), 422)
    assert cut.startswith("cannot read cut.wav: not an audio or video file, or a corrupt or truncated one"), cut
    reason = refused(post(client, "a.wav", wav, window_s=1, hop_s=2), 422)
    assert reason.startswith("a hop of 2 s is longer than the 1 s window")
    for window, hop in ((2, 0.05), (30, 5), (float("nan"), 0.5)):  # costs bounded: each moment heard 8 times at most
        assert "window" in refused(post(client, "a.wav", wav, window_s=window, hop_s=hop), 422)
    assert post(client, "a.wav", wav, window_s=2, hop_s=0.25).status_code == 200
    assert leftovers() == before


def test_the_server_limits_hold(recognizer: Recognizer, tmp_path: Path) -> None:
    wav = write_audio(tmp_path / "a.wav", speech_like(3.0)).read_bytes()
    with TestClient(create_app(ServeOptions(max_video_s=2, max_jobs=1), recognizer), base_url=BASE) as c:
        assert refused(post(c, "a.wav", wav), 413) == "the recording is longer than the limit of 2 s"
        c.app.state.web.recordings = 1  # as if one were being judged now
        r = post(c, "a.wav", wav)
        assert "1 recordings at once at most" in refused(r, 429) and r.headers["Retry-After"] == "5"
        assert c.get("/api/v1/health").json()["recordings"] == 1
        c.app.state.web.recordings = 0
        assert post(c, "b.wav", write_audio(tmp_path / "b.wav", speech_like(1.5)).read_bytes()).status_code == 200


def test_a_server_with_a_token_wants_it_here_too(recognizer: Recognizer, tmp_path: Path) -> None:
    wav = write_audio(tmp_path / "a.wav", speech_like(1.5)).read_bytes()
    with TestClient(create_app(ServeOptions(token="s3cret"), recognizer), base_url=BASE) as c:
        assert refused(post(c, "a.wav", wav), 401).startswith("this server needs its access token")
        r = c.post("/api/v1/audio?token=s3cret", files={"file": ("a.wav", wav, "audio/wav")})
        assert r.status_code == 200 and r.json()["codec"] == "pcm_s16le"


def test_recordings_sent_to_the_image_or_video_routes_are_told_where_to_go(client: TestClient, tmp_path: Path) -> None:
    wav = write_audio(tmp_path / "a.wav", speech_like(1.0)).read_bytes()
    r = client.post("/api/v1/videos", files={"file": ("a.mp4", wav, "video/mp4")})
    assert refused(r, 415) == "the file is a WAV recording, not a video: send recordings to /api/v1/audio"
    r = client.post("/api/v1/analyze", files={"file": ("a.jpg", wav, "image/jpeg")})
    assert "its bytes show a wav recording" in refused(r, 415)
