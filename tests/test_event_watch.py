"""emolens.events() on real clips with the voice and a wristband attached."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from conftest import MEDIA, need
from emolens.audio.labels import SPEECH_EMOTIONS
from emolens.event import Event
from emolens.event.watch import events
from emolens.relax.body import BodyFeed
from emolens.runtime.recognizer import Recognizer


@pytest.fixture(scope="module")
def rec() -> Recognizer:
    return Recognizer(threads=1)


def test_the_voice_of_a_clip_makes_voice_events(rec: Recognizer) -> None:
    clip = need(MEDIA / "facerec_short_hamilton_clip.mp4")  # 10 s, people talking and singing
    got: list[Event] = []
    evs = list(events(str(clip), rec, voice=True, on_event=got.append, max_frames=150))
    assert got == evs
    voice = [e for e in evs if e.kind == "voice_emotion_changed"]
    assert voice, [e.kind for e in evs]
    assert all(e.label in SPEECH_EMOTIONS and e.track_id is None for e in voice)
    assert voice[0].previous is None and all(a.label != b.label for a, b in zip(voice, voice[1:], strict=False))
    assert [e.seq for e in evs] == list(range(1, len(evs) + 1))


def test_a_clip_without_sound_goes_on_with_the_face(rec: Recognizer, caplog: pytest.LogCaptureFixture) -> None:
    clip = need(MEDIA / "fer_test.mp4")
    with caplog.at_level(logging.WARNING):
        evs = list(events(str(clip), rec, voice=True))
    assert "no audio track" in caplog.text and caplog.text.count("no audio track") == 1
    assert {e.kind for e in evs} >= {"person_entered", "person_left"}
    assert not [e for e in evs if e.kind == "voice_emotion_changed"]


def test_a_wristband_makes_stress_events(rec: Recognizer) -> None:
    clip = need(MEDIA / "fer_test.mp4")
    feed = BodyFeed()
    feed.put(0.9)  # high stress, read at the first frame
    evs = list(events(str(clip), rec, body=feed))
    stress = [e for e in evs if e.kind == "stress_changed"]
    assert [(e.label, e.previous, e.probs) for e in stress] == [("high", None, {"stress": 0.9})]
    assert stress[0].time < 0.1  # at the first frame, when the reading was taken


def test_a_recording_makes_the_voices_events_alone(tmp_path: Path) -> None:
    """An angry sentence twice, then a sad one twice (a test-split actor): the voice's events, each
    timed by the end of its window, in order; no faces."""
    from audio_support import write_audio
    from conftest import SHARED
    from emolens.audio.decode import decode_audio

    folder = need(SHARED / "data" / "ravdess-speech-16k" / "Actor_21")
    names = ["03-01-05-02-01-01-21", "03-01-05-02-02-01-21", "03-01-04-02-01-01-21", "03-01-04-02-02-01-21"]
    parts = [decode_audio(folder / f"{n}.flac", 16000).samples for n in names]
    talk = write_audio(tmp_path / "talk.flac", np.concatenate(parts))
    got: list[Event] = []
    evs = list(events(str(talk), on_event=got.append))
    assert got == evs and evs and {e.kind for e in evs} == {"voice_emotion_changed"}
    assert evs[0].previous is None and evs[0].source == str(talk)
    assert all(e.label in SPEECH_EMOTIONS and e.track_id is None for e in evs)
    assert all(a.label != b.label and b.previous == a.label for a, b in zip(evs, evs[1:], strict=False))
    times = [e.time for e in evs]
    assert times == sorted(times) and times[0] >= 2.0 - 1e-9  # the first window ends at 2 s
    assert [e.seq for e in evs] == list(range(1, len(evs) + 1))
    silent = write_audio(tmp_path / "quiet.wav", np.zeros(16000 * 3, np.float32))
    assert list(events(str(silent))) == []  # silence changes nothing


def test_emolens_watch_on_a_recording_prints_the_voices_events(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import json

    from conftest import SHARED, run_main

    angry = need(SHARED / "data" / "ravdess-speech-16k" / "Actor_21" / "03-01-05-02-01-01-21.flac")
    code, out, err = run_main(capsys, "watch", str(angry), "--threads", "1")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and lines and all(e["kind"] == "voice_emotion_changed" for e in lines)
    assert json.loads(err.strip().splitlines()[-1])["summary"]["events"] == len(lines)
