"""The speech emotion labels, defined once for the audio side of the package.

RAVDESS (Livingstone & Russo 2018) codes eight emotions in its file names; a speech model's
columns follow :data:`SPEECH_EMOTIONS` (its file stores the order it was trained with, which is
what callers should read: :attr:`emolens.audio.recognizer.VoiceRecognizer.labels`).
"""

from __future__ import annotations

from collections.abc import Sequence

SPEECH_EMOTIONS: tuple[str, ...] = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
"""RAVDESS's eight emotions, in the order of its emotion codes 01-08."""

RAVDESS_CODES: dict[str, str] = {f"{i + 1:02d}": name for i, name in enumerate(SPEECH_EMOTIONS)}
"""RAVDESS emotion code (the third field of a file name) -> label."""

FOUR_CLASS: dict[str, str] = {"neutral": "neutral", "calm": "neutral", "happy": "happy", "sad": "sad", "angry": "angry"}
"""The common four-class reduction (neutral+calm, happy, sad, angry); other emotions are left out."""

FOUR_CLASSES: tuple[str, ...] = ("neutral", "happy", "sad", "angry")

SILENCE = "silence"
"""The label of a window without enough sound to judge (no emotion is claimed)."""
NON_SPEECH = "non-speech"
"""The label of a window with sound that looks neither like speech nor like music (noise, tones, hum)."""
MUSIC = "music"
"""The label of a window whose sound holds pitches like played notes (see :mod:`emolens.audio.vad`)."""
NOT_EMOTIONS: tuple[str, ...] = (SILENCE, MUSIC, NON_SPEECH)


def window_counts(labels: Sequence[str]) -> dict[str, int]:
    """How many windows ``labels`` (one per window) hold, and of each kind: speech (given an
    emotion), silence, music and non-speech."""
    return {
        "windows": len(labels),
        "speech_windows": sum(lab not in NOT_EMOTIONS for lab in labels),
        "silence_windows": labels.count(SILENCE),
        "music_windows": labels.count(MUSIC),
        "non_speech_windows": labels.count(NON_SPEECH),
    }
