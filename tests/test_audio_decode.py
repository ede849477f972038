"""Decoding sound with PyAV: audio files of any rate and layout, the audio track of videos, and the
files that have none, are too long, too short or not audio at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audio_support import SR, speech_like, tone, write_audio
from conftest import MEDIA, need
from emolens.audio.decode import NoAudioError, decode_audio
from emolens.errors import DataError


@pytest.mark.parametrize(("rate", "suffix"), [(8000, ".wav"), (16000, ".flac"), (44100, ".wav"), (48000, ".flac")])
def test_files_of_any_rate_come_out_mono_at_16k(tmp_path: Path, rate: int, suffix: str) -> None:
    path = write_audio(tmp_path / f"a{suffix}", tone(1.0, sr=rate, freq=300.0, amp=0.5), sr=rate)
    audio = decode_audio(path)
    assert audio.sample_rate == SR and audio.source_rate == rate and audio.channels == 1
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert abs(audio.duration_s - 1.0) < 0.01
    spectrum = np.abs(np.fft.rfft(audio.samples))
    assert abs(np.argmax(spectrum) * SR / len(audio.samples) - 300.0) < 2
    assert abs(np.abs(audio.samples).max() - 0.5) < 0.02


def test_stereo_is_the_mean_of_its_channels(tmp_path: Path) -> None:
    left = speech_like(1.0, seed=1)
    path = write_audio(tmp_path / "s.wav", np.stack([left, np.zeros_like(left)], axis=1))
    audio = decode_audio(path)
    assert audio.channels == 2
    np.testing.assert_allclose(audio.samples, left / 2, atol=2e-4)


def test_silence_clipping_and_very_short_files_decode(tmp_path: Path) -> None:
    silent = decode_audio(write_audio(tmp_path / "silence.wav", np.zeros(SR, np.float32)))
    assert len(silent.samples) == SR and not silent.samples.any()
    clipped = decode_audio(write_audio(tmp_path / "clip.wav", np.clip(tone(0.5, amp=3.0), -1, 1)))
    assert np.abs(clipped.samples).max() == pytest.approx(1.0, abs=1e-3)
    for n in (1, 40, 799):  # < 0.1 s at 8 kHz
        short = decode_audio(write_audio(tmp_path / f"short{n}.wav", tone(n / 8000, sr=8000), sr=8000))
        assert len(short.samples) == pytest.approx(2 * n, abs=2)


def test_the_duration_guard_refuses_long_sound(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "long.flac", np.zeros(3 * SR, np.float32))
    with pytest.raises(DataError, match="more than 2 s"):
        decode_audio(path, max_duration_s=2.0)
    assert decode_audio(path, max_duration_s=None).duration_s == pytest.approx(3.0)


def test_missing_and_non_audio_files_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        decode_audio(tmp_path / "none.wav")
    with pytest.raises(DataError, match=r"is a folder, not an audio file \('emolens audio' takes folders\)"):
        decode_audio(tmp_path)
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all\n" * 10)
    with pytest.raises(DataError, match="notes.wav is a text file, not sound"):
        decode_audio(text)
    empty = tmp_path / "empty.wav"
    empty.touch()
    with pytest.raises(DataError, match="empty.wav: the file is empty"):
        decode_audio(empty)
    cut = tmp_path / "cut.flac"
    cut.write_bytes(write_audio(tmp_path / "whole.flac", tone(1.0)).read_bytes()[:30])
    with pytest.raises(DataError, match=r"cut.flac: not an audio or video file, or a corrupt or truncated one \("):
        decode_audio(cut)
    with pytest.raises(DataError, match="sample rate"):
        decode_audio(write_audio(tmp_path / "ok.wav", tone(0.1)), sample_rate=10)


def test_the_sound_of_videos_with_an_audio_track() -> None:
    clip = decode_audio(need(MEDIA / "facerec_short_hamilton_clip.mp4"))
    assert clip.codec == "aac" and clip.source_rate == 44100 and clip.channels == 2
    assert 9.5 < clip.duration_s < 10.5 and 0.05 < np.abs(clip.samples).max() <= 1.0
    mp3 = decode_audio(need(MEDIA / "pyfeat_single_face.mp4"), 8000)
    assert mp3.sample_rate == 8000 and 2.2 < mp3.duration_s < 2.6


def test_an_image_is_named_as_one_whatever_its_name(tmp_path: Path) -> None:
    picture = need(MEDIA / "fer_justin.jpg")
    renamed = tmp_path / "voice.wav"
    renamed.write_bytes(picture.read_bytes())
    for path in (picture, renamed):
        with pytest.raises(NoAudioError, match="is an image, not sound"):
            decode_audio(path)


def test_a_video_without_sound_says_so() -> None:
    with pytest.raises(NoAudioError, match="no audio track .a video without sound"):
        decode_audio(need(MEDIA / "fer_woman2.mp4"))
    assert issubclass(NoAudioError, DataError)
