"""Regression tests of the shipped models on FER-2013 PrivateTest (the figures of the model card).

The int8 variant is compared with its float32 twin measured here, on this CPU: it must lose at
most 0.3 point, on an AVX2-only CPU as on one with VNNI."""

from pathlib import Path

import numpy as np
import pytest

from emolens.eval.report import evaluate
from emolens.labels import EMOTIONS

pytestmark = pytest.mark.slow

PRIVATE_TEST_MIN_ACCURACY = {"hflip": 0.71, "selective": 0.707, "none": 0.696, "cascade": 0.71}
"""The default model, per test-time augmentation; its model card measured 0.7102/0.7105 (hflip),
0.7097/0.7094 (selective, the files' default), 0.6988/0.7013 (none) and 0.7119/0.7138 (cascade, the
`fast` short name, whose floor is issue 9's 71%) for int8/fp32. Ten views (shift) are the
`accurate` model's mode, tested on its own file below."""
INT8_MAX_LOSS = 0.003


@pytest.mark.parametrize("tta", sorted(PRIVATE_TEST_MIN_ACCURACY))
def test_shipped_models_accuracy_on_private_test(fer_root: Path, tta: str) -> None:
    fp32 = evaluate("emolens-vgg-fer2013-fp32", fer_root, "test", tta=tta)
    int8 = evaluate("emolens-vgg-fer2013-int8", fer_root, "test", tta=tta)
    assert fp32.faces == int8.faces == 3589
    assert fp32.tta == int8.tta == tta
    floor = PRIVATE_TEST_MIN_ACCURACY[tta]
    assert fp32.metrics.accuracy >= floor, fp32.metrics.accuracy
    assert int8.metrics.accuracy >= fp32.metrics.accuracy - INT8_MAX_LOSS, (
        int8.metrics.accuracy,
        fp32.metrics.accuracy,
    )
    assert int8.metrics.accuracy >= floor, int8.metrics.accuracy
    for ev in (fp32, int8):
        assert ev.metrics.per_class["happy"]["recall"] > 0.8


ACCURATE_MIN_ACCURACY = {"shift": 0.719, "none": 0.706}
"""`accurate` (emolens-vgg4-fer2013, four networks): its model card measured 0.7222 (int8) on
PrivateTest with ten views, the short name's mode, and 0.7099 (int8) and 0.7108 (float32) in one pass."""
INT8_MIN_AGREEMENT = 0.98


def test_accurate_model_on_private_test(fer_root: Path) -> None:
    """The four networks behind `accurate`: its int8 file in its own mode (ten views), and both
    files in one pass, where int8 must be within 0.3 point of float32 and agree with it on 98% of
    the faces, on this CPU. (Float32 with ten views is left out: it is not a shipped mode.)"""
    from emolens.data.fer2013 import load_split
    from emolens.runtime.recognizer import Recognizer

    test = load_split(fer_root, "test")
    accurate = Recognizer("accurate")
    assert accurate.path.name == "emolens-vgg4-fer2013-int8.onnx" and accurate.tta == "shift"
    order = [accurate.labels.index(label) for label in EMOTIONS]

    def predict(rec: Recognizer) -> np.ndarray:
        return np.asarray(rec.predict_faces(test.images)[:, order].argmax(1))

    hits = predict(accurate) == test.labels
    assert float(hits.mean()) >= ACCURATE_MIN_ACCURACY["shift"], float(hits.mean())
    p8 = predict(Recognizer("emolens-vgg4-fer2013-int8", tta="none"))
    p32 = predict(Recognizer("emolens-vgg4-fer2013-fp32", tta="none"))
    acc8, acc32 = float((p8 == test.labels).mean()), float((p32 == test.labels).mean())
    assert acc32 >= ACCURATE_MIN_ACCURACY["none"], acc32
    assert acc8 >= ACCURATE_MIN_ACCURACY["none"] and acc8 >= acc32 - INT8_MAX_LOSS, (acc8, acc32)
    assert float((p8 == p32).mean()) >= INT8_MIN_AGREEMENT


FERPLUS_MIN_MAJORITY_ACCURACY = 0.835
"""The shipped FER+ model (emolens-vgg2-ferplus, two networks, flip) scored 0.8409 (int8) and 0.8409
(fp32) on the FER+ test split (model card)."""


def test_ferplus_model_on_the_ferplus_test_split(fer_root: Path) -> None:
    votes = fer_root / "ferplus.csv"
    if not votes.is_file():
        pytest.skip(f"FER+ votes not found: {votes}")
    fp32 = evaluate("emolens-vgg2-ferplus-fp32", fer_root, "test", ferplus=votes)
    int8 = evaluate("emolens-vgg2-ferplus-int8", fer_root, "test", ferplus=votes)
    assert fp32.faces == int8.faces == 3376  # PrivateTest faces with one FER+ majority
    assert fp32.tta == int8.tta == "hflip"  # the files' own mode
    assert "contempt" in fp32.metrics.per_class
    for ev in (fp32, int8):
        assert ev.metrics.accuracy >= FERPLUS_MIN_MAJORITY_ACCURACY, ev.metrics.accuracy
    assert int8.metrics.accuracy >= fp32.metrics.accuracy - INT8_MAX_LOSS


def test_ferplus_int8_agrees_with_float32(fer_root: Path) -> None:
    from emolens.data.fer2013 import load_split
    from emolens.runtime.recognizer import Recognizer

    faces = load_split(fer_root, "test").images
    ferplus = Recognizer("ferplus")  # the short name loads the family's faster file
    assert ferplus.path.name == "emolens-vgg2-ferplus-int8.onnx"
    a = Recognizer("emolens-vgg2-ferplus-fp32").predict_faces(faces).argmax(1)
    b = ferplus.predict_faces(faces).argmax(1)
    assert float((a == b).mean()) >= INT8_MIN_AGREEMENT
