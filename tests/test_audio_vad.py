"""The voice-activity detector on generated sounds and on real speech."""

from __future__ import annotations

import numpy as np
import pytest

from audio_support import SR, music_like, noise, speech_like, tone
from conftest import SHARED, need
from emolens.audio.labels import NON_SPEECH, SILENCE
from emolens.audio.vad import HOP_S, SPEECH, VadConfig, classify, detect, frame_features

RAVDESS = SHARED / "data" / "ravdess-speech-16k"


@pytest.mark.parametrize(
    ("name", "sound", "label"),
    [
        ("digital silence", np.zeros(2 * SR, np.float32), SILENCE),
        ("a quiet hiss", noise(2.0, amp=3e-4), SILENCE),
        ("white noise", noise(2.0, amp=0.1), NON_SPEECH),
        ("a steady tone", tone(2.0), NON_SPEECH),
        ("mains hum", tone(2.0, freq=50.0) + noise(2.0, amp=0.01), NON_SPEECH),
        ("sustained chords", music_like(3.0), NON_SPEECH),
        ("a low voice", speech_like(3.0, f0=110.0), SPEECH),
        ("a high voice", speech_like(3.0, seed=3, f0=240.0), SPEECH),
        ("speech over noise at 10 dB", speech_like(3.0) + noise(3.0, amp=0.02), SPEECH),
        ("speech over soft music", speech_like(3.0) + music_like(3.0, amp=0.05), SPEECH),
        ("quiet speech", speech_like(3.0, amp=0.003), SPEECH),
    ],
)
def test_generated_sounds(name: str, sound: np.ndarray, label: str) -> None:
    verdict = detect(sound, SR)
    assert verdict.label == label, (name, verdict)
    assert 0.0 <= verdict.speech <= 1.0
    assert (verdict.speech >= 0.5) == (label == SPEECH)


def test_frames_and_slices_line_up_with_time() -> None:
    x = np.concatenate([speech_like(2.0), np.zeros(SR, np.float32), music_like(2.0)])
    ff = frame_features(x, SR)
    assert len(ff) == pytest.approx(len(x) / SR / HOP_S, abs=1)
    assert classify(ff.slice(0.0, 2.0)).label == SPEECH
    assert classify(ff.slice(2.05, 2.95)).label == SILENCE
    assert classify(ff.slice(3.5, 5.0)).label == NON_SPEECH
    assert classify(ff.slice(2.5, 4.5)).label == NON_SPEECH  # music after silence is not "modulated"
    assert classify(ff.slice(9.0, 9.0)).label == SILENCE  # past the end: nothing to judge


def test_tiny_inputs_and_other_rates() -> None:
    assert detect(np.zeros(0, np.float32), SR).label == SILENCE
    assert detect(np.zeros(5, np.float32), SR).label == SILENCE
    assert detect(speech_like(3.0, sr=8000), 8000).label == SPEECH
    assert detect(speech_like(3.0, sr=48000), 48000).label == SPEECH
    assert detect(tone(0.05), SR).label in (SILENCE, NON_SPEECH)


def test_thresholds_are_settings() -> None:
    quiet = speech_like(3.0, amp=0.003)
    assert detect(quiet, SR, VadConfig(silence_dbfs=-30.0)).label == SILENCE


def test_real_speech_is_speech() -> None:
    from emolens.audio.decode import decode_audio

    root = need(RAVDESS)
    files = sorted(root.glob("Actor_2[1-4]/*.flac"))[::12]
    labels = [detect(decode_audio(f).samples, SR).label for f in files]
    assert labels.count(SPEECH) == len(labels)
