"""Face and voice fusion: the label mapping, the weights, and finding the voice window of a moment."""

from __future__ import annotations

import numpy as np
import pytest

from emolens.audio.labels import SPEECH_EMOTIONS
from emolens.audio.recognizer import VoiceWindow
from emolens.audio.vad import VadResult
from emolens.errors import EmolensError
from emolens.fusion import VOICE_TO_FACE, FusionOptions, VoiceTrack, fuse, voice_as_face
from emolens.labels import EMOTIONS


def vad(label: str, speech: float) -> VadResult:
    return VadResult(label, speech, 0.5, 0.5, 20.0, -20.0, 0.3)


def window(start: float, label: str, speech: float = 0.9, length: float = 2.0) -> VoiceWindow:
    if label in SPEECH_EMOTIONS:
        probs = np.full(len(SPEECH_EMOTIONS), 0.02, np.float32)
        probs[SPEECH_EMOTIONS.index(label)] = 1 - 0.02 * 7
        return VoiceWindow(start, start + length, label, probs, vad("speech", speech), 0.0)
    return VoiceWindow(start, start + length, label, None, vad(label, 0.0), 0.0)


def test_every_voice_label_has_a_face_label() -> None:
    assert set(VOICE_TO_FACE) == set(SPEECH_EMOTIONS)
    assert set(VOICE_TO_FACE.values()) <= set(EMOTIONS)
    probs = [0.1, 0.3, 0.05, 0.05, 0.1, 0.2, 0.1, 0.1]  # calm 0.3 + neutral 0.1 -> neutral 0.4
    face = voice_as_face(probs, SPEECH_EMOTIONS)
    assert list(face) == list(EMOTIONS) and sum(face.values()) == pytest.approx(1.0)
    assert face["neutral"] == pytest.approx(0.4) and face["fear"] == pytest.approx(0.2)


def test_fusion_weights_follow_skill_and_speech() -> None:
    happy_face = {e: (0.9 if e == "happy" else 0.1 / 6) for e in EMOTIONS}
    angry_voice = {e: (0.9 if e == "angry" else 0.1 / 6) for e in EMOTIONS}
    opts = FusionOptions(face_skill=0.6, voice_skill=0.6)
    both = fuse(happy_face, angry_voice, 1.0, opts)
    assert both is not None and both.face_weight == both.voice_weight == 0.6
    assert both.probs["happy"] == pytest.approx(both.probs["angry"]) and sum(both.probs.values()) == pytest.approx(1.0)
    quiet = fuse(happy_face, angry_voice, 0.0, opts)  # silence: the face alone
    assert quiet is not None and quiet.probs == pytest.approx(happy_face) and quiet.voice_weight == 0.0
    voice_only = fuse(None, angry_voice, 0.8, opts)
    assert voice_only is not None and voice_only.label == "angry" and voice_only.face_weight == 0.0
    assert fuse(None, None, 1.0, opts) is None
    surer = fuse(happy_face, angry_voice, 1.0, FusionOptions(face_skill=0.7, voice_skill=0.3))
    assert surer is not None and surer.label == "happy"
    with pytest.raises(EmolensError, match="voice_skill"):
        FusionOptions(voice_skill=1.5)
    with pytest.raises(EmolensError, match="hop_s"):
        FusionOptions(window_s=2.0, hop_s=3.0)


def test_the_window_of_a_moment_is_the_one_centred_nearest() -> None:
    windows = [window(0.5 * i, lab) for i, lab in enumerate(["silence", "happy", "happy", "sad", "sad", "music"])]
    windows[-1] = window(2.5, "non-speech")
    track = VoiceTrack(windows, SPEECH_EMOTIONS)
    assert track.at(-0.1) is None and track.at(4.6) is None
    found = track.at(2.0)  # windows from 0.5, 1.0, 1.5, 2.0 cover it; 1.0-3.0 is centred on it
    assert found is not None and found[0].start_s == 1.0 and found[1] is not None and found[1]["happy"] > 0.8
    silent = track.at(0.9)  # 0.0-2.0 is centred nearest (1.0): silence, no probabilities
    assert silent is not None and silent[0].label == "silence" and silent[1] is None
    s = track.summary()
    assert (s["windows"], s["speech_windows"], s["silence_windows"]) == (6, 4, 1)
    assert s["share"] == {**dict.fromkeys(SPEECH_EMOTIONS, 0.0), "happy": 0.5, "sad": 0.5}


def test_fusion_refuses_probabilities_that_are_not_numbers_and_rescales_the_rest() -> None:
    import math

    from emolens.errors import EmolensError
    from emolens.fusion import fuse, voice_as_face
    from emolens.labels import EMOTIONS

    happy = {k: (0.9 if k == "happy" else 0.1 / 6) for k in EMOTIONS}
    sad = {k: (0.9 if k == "sad" else 0.1 / 6) for k in EMOTIONS}
    for bad in ({k: math.nan for k in EMOTIONS}, {"happy": -1.0, "sad": 2.0}, {"smile": 1.0}):
        with pytest.raises(EmolensError):
            fuse(bad, sad, 1.0)
        with pytest.raises(EmolensError):
            fuse(happy, bad, 1.0)
    scaled = fuse({k: 100 * v for k, v in happy.items()}, None, 0.0)
    assert scaled is not None and sum(scaled.probs.values()) == pytest.approx(1.0) and scaled.label == "happy"
    no_speech = fuse(happy, sad, math.nan)  # a speech score that is not a number: the face alone
    assert no_speech is not None and no_speech.voice_weight == 0.0 and no_speech.label == "happy"
    with pytest.raises(EmolensError):
        voice_as_face([math.nan] * 8, ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"])
