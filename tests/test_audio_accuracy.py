"""The shipped speech models on RAVDESS's test actors (21-24, never seen in training or selection):
accuracy regressions, the 4-class figures, and calibration keeping every label."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SHARED, need
from emolens.audio.evaluate import evaluate_speech
from emolens.audio.recognizer import VoiceRecognizer
from emolens.eval.calibration import apply_temperature

RAVDESS = SHARED / "data" / "ravdess-speech-16k"


@pytest.mark.slow
def test_the_shipped_speech_model_on_the_test_actors() -> None:
    """Measured with the file's crop test-time augmentation: 0.6875 (8 classes, macro-F1 0.6745) and 0.8056
    (4 classes) by ``emolens evaluate`` (model card; five networks, the three `speech_crnn` ones and two
    `speech_crnn_delta` ones, since 2026-12-07); the floors leave 2 points for ONNX Runtime and CPU
    differences, not for a worse model."""
    ev = evaluate_speech(None, need(RAVDESS), "test", threads=2)
    assert ev.utterances == 240 and sorted(ev.per_speaker) == ["21", "22", "23", "24"] and ev.tta == "crops"
    assert ev.metrics.accuracy >= 0.667, ev.metrics.accuracy
    assert ev.metrics.macro_f1 >= 0.654, ev.metrics.macro_f1
    assert ev.four_class is not None and ev.four_class.accuracy >= 0.785, ev.four_class.accuracy


@pytest.mark.slow
def test_the_speaker_profile_model_on_the_test_actors() -> None:
    """``emolens-speech-ravdess-speaker`` with each test speaker's profile from all their utterances
    (labels unused), and with each utterance alone; measured by benchmarks/speech_model.sh (its model
    card): 0.6250 / 0.7431 and 0.5250. The floors leave 2 points for ONNX Runtime and CPU differences."""
    data = need(RAVDESS)
    ev = evaluate_speech("emolens-speech-ravdess-speaker", data, "test", threads=2)
    assert ev.profile == "speaker" and ev.utterances == 240
    assert ev.metrics.accuracy >= 0.605, ev.metrics.accuracy
    assert ev.four_class is not None and ev.four_class.accuracy >= 0.72, ev.four_class.accuracy
    alone = evaluate_speech("emolens-speech-ravdess-speaker", data, "test", threads=2, profile_utterances=0)
    assert alone.profile == "utterance" and alone.metrics.accuracy >= 0.505, alone.metrics.accuracy


@pytest.mark.parametrize("name", ["emolens-speech-ravdess", "emolens-speech-ravdess-speaker"])
def test_calibration_keeps_every_label(name: str) -> None:
    """The stored temperature rescales probabilities; which label is on top never changes."""
    rec = VoiceRecognizer(name)
    assert rec.meta.temperature != 1.0
    rng = np.random.default_rng(0)
    x = rec.run(rec.prepare(rng.normal(0, 0.1, 16000 * 2).astype(np.float32), 16000))
    raw = apply_temperature(x.astype(np.float64), 1.0 / rec.meta.temperature)
    assert raw.argmax(1).tolist() == x.argmax(1).tolist()
    assert np.allclose(x.sum(1), 1.0, atol=1e-5)
