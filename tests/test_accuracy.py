"""Regression test of the shipped model on FER-2013 PrivateTest (the figure of its model card)."""

from pathlib import Path

from emolens.eval.report import evaluate

PRIVATE_TEST_MIN_ACCURACY = 0.71


def test_shipped_model_accuracy_on_private_test(fer_root: Path) -> None:
    ev = evaluate(None, fer_root, "test")
    assert ev.faces == 3589
    assert ev.metrics.accuracy >= PRIVATE_TEST_MIN_ACCURACY, ev.metrics.accuracy
    assert ev.metrics.per_class["happy"]["recall"] > 0.8
