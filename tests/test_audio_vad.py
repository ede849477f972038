"""The voice-activity detector on generated sounds and on real speech."""

from __future__ import annotations

import numpy as np
import pytest

from audio_support import SR, chord_like, melody_like, music_like, noise, reverberant, rumble, speech_like, tone
from conftest import SHARED, need
from emolens.audio.labels import MUSIC, NON_SPEECH, SILENCE
from emolens.audio.vad import HOP_S, SPEECH, VadConfig, classify, detect, frame_features, steady_frames

RAVDESS = SHARED / "data" / "ravdess-speech-16k"


@pytest.mark.parametrize(
    ("name", "sound", "label"),
    [
        ("digital silence", np.zeros(2 * SR, np.float32), SILENCE),
        ("a quiet hiss", noise(2.0, amp=3e-4), SILENCE),
        ("white noise", noise(2.0, amp=0.1), NON_SPEECH),
        ("rumble (brown noise)", rumble(3.0), NON_SPEECH),
        ("louder rumble", rumble(3.0, amp=0.5, seed=1), NON_SPEECH),
        ("a steady tone", tone(2.0), NON_SPEECH),
        ("mains hum", tone(2.0, freq=50.0) + noise(2.0, amp=0.01), NON_SPEECH),
        ("sustained chords", music_like(3.0), MUSIC),
        ("one chord held throughout", chord_like(3.0), NON_SPEECH),
        ("a low voice", speech_like(3.0, f0=110.0), SPEECH),
        ("a high voice", speech_like(3.0, seed=3, f0=240.0), SPEECH),
        ("speech over noise at 10 dB", speech_like(3.0) + noise(3.0, amp=0.02), SPEECH),
        ("speech over rumble", speech_like(3.0) + rumble(3.0, amp=0.05), SPEECH),
        ("speech over soft music", speech_like(3.0) + music_like(3.0, amp=0.05), SPEECH),
        ("a voice under louder chords", speech_like(3.0) + music_like(3.0, amp=0.4), MUSIC),
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
    assert classify(ff.slice(3.5, 5.0)).label == MUSIC
    assert classify(ff.slice(2.5, 4.5)).label == MUSIC  # music after silence: its onset is not speech
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


def windows_of(x: np.ndarray, seconds: float = 2.0, hop: float = 0.5) -> list[str]:
    ff = frame_features(x, SR)
    ends = np.arange(seconds, len(x) / SR + 1e-6, hop)
    return [classify(ff.slice(end - seconds, end)).label for end in ends]


@pytest.mark.parametrize("instrument", ["piano", "pluck", "organ"])
def test_tunes_are_music_in_a_dry_room_and_mostly_in_a_reverberant_one(instrument: str) -> None:
    dry = [windows_of(melody_like(6.0, seed=seed, instrument=instrument)) for seed in range(3)]
    assert all(label == MUSIC for labels in dry for label in labels), dry
    wet = [
        label
        for seed in range(3)
        for label in windows_of(reverberant(melody_like(6.0, seed=seed, instrument=instrument), 0.8, seed=seed))
    ]
    assert wet.count(MUSIC) >= 0.7 * len(wet), wet


def test_a_held_pitch_is_one_note_and_a_gliding_voice_has_none() -> None:
    held = detect(tone(3.0, freq=220.0), SR)
    assert held.label == NON_SPEECH and held.notes == 1 and held.steady > 0.9
    voice = detect(speech_like(3.0), SR)
    assert voice.label == SPEECH and voice.steady < 0.1
    ff = frame_features(tone(1.0, freq=196.0), SR)
    inner = steady_frames(ff)[15:-15]
    assert inner.all() and np.allclose(ff.pitch_hz[15:-15], 196.0, rtol=0.005)
    assert not steady_frames(ff, VadConfig(steady_s=2.0)).any()  # longer than the sound


def test_a_note_with_vibrato_is_steady_and_a_wider_swing_is_not() -> None:
    t = np.arange(SR) / SR
    swing = 0.4 * np.sin(2 * np.pi * 5.5 * t)  # semitones, as a violinist's or singer's vibrato
    note = (0.1 * np.sin(2 * np.pi * np.cumsum(220.0 * 2 ** (swing / 12)) / SR)).astype(np.float32)
    ff = frame_features(note, SR)
    middle = slice(25, -25)
    assert steady_frames(ff)[middle].all()
    assert not steady_frames(ff, VadConfig(vibrato_depth_st=0.2))[middle].any()  # its swing, 0.4, is too wide


@pytest.mark.parametrize("f0", [82.0, 110.0, 175.0, 262.0, 392.0])
def test_the_pitch_of_a_harmonic_tone_is_its_fundamental_not_an_octave_below(f0: float) -> None:
    t = np.arange(SR) / SR
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8)).astype(np.float32)
    pitch = frame_features(0.1 * x, SR).pitch_hz[10:-10]
    assert np.median(np.abs(pitch / f0 - 1)) < 0.005


def test_real_speech_is_not_music_dry_and_seldom_in_a_reverberant_room() -> None:
    from emolens.audio.decode import decode_audio

    root = need(RAVDESS)
    files = sorted(root.glob("Actor_2[1-4]/*.flac"))[::6]
    dry: list[str] = []
    wet: list[str] = []
    for i, f in enumerate(files):
        x = decode_audio(f).samples
        dry += windows_of(x)
        wet += windows_of(reverberant(x, 0.3 + 0.1 * (i % 8), seed=i))
    assert len(dry) > 100 and MUSIC not in dry
    # benchmarks/vad_music.py: 0.11% of all RAVDESS clips' windows in such rooms; this guards against worse
    assert wet.count(MUSIC) <= 0.02 * len(wet) and wet.count(SPEECH) >= 0.97 * len(wet)


def test_loud_music_under_a_voice_is_music_and_soft_music_is_not() -> None:
    from emolens.audio.decode import decode_audio

    root = need(RAVDESS)
    files = sorted(root.glob("Actor_2[1-4]/*.flac"))[::12]
    found: dict[int, list[str]] = {}
    for db in (-20, 6):  # the chords' level against the speech's (RMS)
        found[db] = []
        for i, f in enumerate(files):
            x = decode_audio(f).samples
            chords = music_like(len(x) / SR + 0.1, seed=i)[: len(x)]
            chords *= np.sqrt(np.mean(np.square(x)) / np.mean(np.square(chords))) * 10 ** (db / 20)
            found[db] += windows_of(x + chords)
    assert found[-20].count(SPEECH) >= 0.9 * len(found[-20]), found[-20]
    assert found[6].count(MUSIC) >= 0.7 * len(found[6]), found[6]


def test_the_held_cue_is_reported() -> None:
    chords = detect(music_like(3.0), SR)
    assert chords.label == MUSIC and chords.held > 0.8 and chords.onsets >= 4
    assert chords.as_dict()["held"] == round(chords.held, 4) and chords.as_dict()["onsets"] == chords.onsets
    voice = detect(speech_like(3.0), SR)
    assert voice.held < 0.1
    held = detect(chord_like(3.0), SR)
    assert held.held > 0.9 and held.onsets == 0  # held from the start: nothing begins
