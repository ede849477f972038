import pytest

from emolens import EMOTIONS, VALENCES, EmolensError, valence_of


def test_label_order_is_fer2013() -> None:
    assert EMOTIONS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def test_every_emotion_has_a_valence() -> None:
    assert {valence_of(e) for e in EMOTIONS} == set(VALENCES)
    assert valence_of("happy") == "positive"
    assert valence_of("sad") == "negative"
    assert valence_of("surprise") == "neutral"


def test_unknown_label_is_a_clear_error() -> None:
    with pytest.raises(EmolensError, match="unknown emotion 'joy'"):
        valence_of("joy")
