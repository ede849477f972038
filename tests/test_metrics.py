import numpy as np
import pytest

from emolens.eval.metrics import compute_metrics, confusion_matrix


def test_confusion_matrix_counts_rows_true_columns_predicted() -> None:
    cm = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_scores_match_a_hand_computed_example() -> None:
    labels = ("a", "b", "c")
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    m = compute_metrics(y_true, y_pred, labels)
    assert m.accuracy == pytest.approx(4 / 6)
    # a: P=2/2 R=2/3; b: P=1/2 R=1/2; c: P=1/2 R=1/1
    assert m.per_class["a"]["precision"] == pytest.approx(1.0)
    assert m.per_class["a"]["recall"] == pytest.approx(2 / 3)
    assert m.per_class["c"]["f1"] == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert m.macro_precision == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert m.macro_recall == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    assert m.per_class["b"]["support"] == 2


def test_valence_accuracy_forgives_confusions_of_the_same_valence() -> None:
    # angry (0) predicted as sad (4): wrong emotion, right valence; happy (3) as neutral (6): both wrong
    m = compute_metrics(np.array([0, 3, 3]), np.array([4, 6, 3]))
    assert m.accuracy == pytest.approx(1 / 3)
    assert m.valence_accuracy == pytest.approx(2 / 3)


def test_perfect_predictions() -> None:
    y = np.arange(7).repeat(3)
    m = compute_metrics(y, y)
    assert m.accuracy == m.macro_f1 == m.valence_accuracy == 1.0
