"""Held partials: the horizontal lines of instruments in a spectrogram."""

from __future__ import annotations

import numpy as np
import pytest

from audio_support import SR, chord_like, music_like, noise, speech_like, tone
from emolens.audio import partials
from emolens.audio.partials import HeldPartials, held_partials, onset_events
from emolens.audio.vad import FRAME_S, HOP_S


def held_of(x: np.ndarray, sr: int = SR) -> HeldPartials:
    n = max(1, int(np.ceil(len(x) / (HOP_S * sr))))
    return held_partials(x, sr, n, HOP_S, FRAME_S)


def test_a_held_chord_is_held_and_noise_and_a_gliding_voice_are_not() -> None:
    held = held_of(chord_like(2.0))
    assert held.held_share[20:-20].min() > 0.9
    assert held_of(noise(2.0, amp=0.1)).held_share.max() < 0.05
    voice = held_of(speech_like(3.0))
    weights = voice.band_power
    assert float(np.sum(voice.held_share * weights) / weights.sum()) < 0.1


def test_a_glide_of_a_semitone_in_a_fifth_of_a_second_is_not_held() -> None:
    t = np.arange(2 * SR) / SR
    glide = 220.0 * 2 ** (5 * t / 12)  # 5 semitones a second, as a speaking voice's intonation
    x = sum(np.sin(2 * np.pi * k * np.cumsum(glide) / SR) / k for k in range(1, 6))
    assert held_of((0.1 * x).astype(np.float32)).held_share.max() < 0.05


def test_partials_begin_where_notes_begin() -> None:
    x = np.concatenate([np.zeros(SR, np.float32), chord_like(1.0), chord_like(1.0, root=329.6)])
    held = held_of(x)
    begins = np.flatnonzero(held.onset) * HOP_S
    assert len(begins) > 0 and begins.min() == pytest.approx(1.0, abs=0.05)
    assert np.any(np.abs(begins - 2.0) < 0.05)  # the second chord
    assert held.held_share[: int(0.9 / HOP_S)].max() == 0.0  # nothing held in the silence
    assert onset_events(held.onset) == 2


def test_a_tone_from_the_start_begins_nowhere_and_changing_chords_begin_often() -> None:
    assert not held_of(tone(3.0, freq=440.0)).onset[5:-40].any()
    assert onset_events(held_of(music_like(3.0)).onset) >= 4  # a new chord every half second


def test_onset_events_merge_a_chords_partials() -> None:
    onset = np.zeros(100, bool)
    onset[[10, 12, 13, 40, 90, 94]] = True
    assert onset_events(onset) == 3
    assert onset_events(np.zeros(10, bool)) == 0


@pytest.mark.parametrize("sr", [8000, 22050, 48000])
def test_other_rates(sr: int) -> None:
    assert held_of(chord_like(2.0, sr=sr), sr).held_share[20:-20].min() > 0.9
    assert held_of(noise(2.0, sr=sr, amp=0.1), sr).held_share.max() < 0.05


def test_blocks_of_a_long_recording_join_without_seams(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.concatenate([chord_like(0.7 + 0.35 * i, root=220.0 * 2 ** (i / 12)) for i in range(8)])
    x = x + noise(len(x) / SR + 0.01, amp=0.01)[: len(x)] + speech_like(len(x) / SR + 0.01, amp=0.3)[: len(x)]
    whole = held_of(x)
    monkeypatch.setattr(partials, "CHUNK", 97)  # blocks that end inside notes
    blocks = held_of(x)
    np.testing.assert_allclose(blocks.held_share, whole.held_share, atol=1e-5)
    np.testing.assert_array_equal(blocks.onset, whole.onset)
    np.testing.assert_allclose(blocks.band_power, whole.band_power, rtol=1e-4)


def test_tiny_inputs() -> None:
    for x in (np.zeros(0, np.float32), np.zeros(5, np.float32), tone(0.05)):
        held = held_of(x)
        assert len(held.held_share) == len(held.onset) == len(held.band_power) >= 1
        assert not held.onset.any()
