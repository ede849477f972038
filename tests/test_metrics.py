import numpy as np
import pytest

from emolens.eval.metrics import Z_95, compute_metrics, confusion_matrix, wilson_interval


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


@pytest.mark.parametrize(("correct", "n"), [(161, 240), (2555, 3589), (1, 20), (19, 20), (5, 7)])
def test_wilson_interval_is_where_the_score_test_just_fails(correct: int, n: int) -> None:
    lo, hi = wilson_interval(correct, n)
    p = correct / n
    assert 0 < lo < p < hi < 1
    for bound in (lo, hi):  # Wilson's interval: the accuracies pi with |p - pi| = z * sqrt(pi (1 - pi) / n)
        assert abs(p - bound) == pytest.approx(Z_95 * np.sqrt(bound * (1 - bound) / n), rel=1e-9)


def test_wilson_interval_at_the_edges_and_with_more_data() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(Z_95**2 / (10 + Z_95**2))  # the closed form when nothing is right
    lo, hi = wilson_interval(10, 10)
    assert hi == 1.0 and lo == pytest.approx(10 / (10 + Z_95**2))
    narrow, wide = wilson_interval(700, 1000), wilson_interval(70, 100)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


def test_metrics_carry_the_interval_of_their_accuracy() -> None:
    y_true = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    y_pred = np.array([0, 1, 2, 0, 1, 0, 1, 1])
    m = compute_metrics(y_true, y_pred, ("a", "b", "c"))
    assert m.examples == 8 and m.accuracy_ci95 == wilson_interval(6, 8)
    assert m.as_dict()["accuracy_ci95"] == list(wilson_interval(6, 8))
    lo, hi = wilson_interval(6, 8)
    assert m.interval_line("faces") == f"accuracy 95% interval (Wilson, 8 faces): {lo:.4f}-{hi:.4f}"
