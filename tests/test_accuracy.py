"""Regression tests of the shipped models on FER-2013 PrivateTest (the figures of the model card).

The int8 variant is compared with its float32 twin measured here, on this CPU: it must lose at
most 0.3 point, on an AVX2-only CPU as on one with VNNI."""

from pathlib import Path

import pytest

from emolens.eval.report import evaluate

pytestmark = pytest.mark.slow

PRIVATE_TEST_MIN_ACCURACY = 0.71
INT8_MAX_LOSS = 0.003


def test_shipped_models_accuracy_on_private_test(fer_root: Path) -> None:
    fp32 = evaluate("emolens-vgg-fer2013-fp32", fer_root, "test")
    int8 = evaluate("emolens-vgg-fer2013-int8", fer_root, "test")
    assert fp32.faces == int8.faces == 3589
    assert fp32.metrics.accuracy >= PRIVATE_TEST_MIN_ACCURACY, fp32.metrics.accuracy
    assert int8.metrics.accuracy >= fp32.metrics.accuracy - INT8_MAX_LOSS, (
        int8.metrics.accuracy,
        fp32.metrics.accuracy,
    )
    assert int8.metrics.accuracy >= PRIVATE_TEST_MIN_ACCURACY, int8.metrics.accuracy
    for ev in (fp32, int8):
        assert ev.metrics.per_class["happy"]["recall"] > 0.8
