import numpy as np
import pytest

from emolens.errors import EmolensError
from emolens.video.smoothing import (
    NO_SMOOTHING,
    Smoother,
    SmoothingOptions,
    count_switches,
    smooth_step,
    smoothing_report,
    sustained_changes,
    switches_per_second,
)


def onehot(i: int, p: float = 0.7, n: int = 7) -> np.ndarray:
    v = np.full(n, (1 - p) / (n - 1), np.float32)
    v[i] = p
    return v


def test_first_step_is_the_input_then_an_exponential_average() -> None:
    opts = SmoothingOptions(alpha=0.25, margin=0.0)
    a, b = onehot(0), onehot(3)
    s = smooth_step(None, a, opts)
    np.testing.assert_allclose(s.probs, a)
    assert s.label == 0
    s = smooth_step(s, b, opts)
    np.testing.assert_allclose(s.probs, 0.25 * b + 0.75 * a, rtol=1e-6)
    np.testing.assert_allclose(s.probs.sum(), 1.0, rtol=1e-5)
    with pytest.raises(ValueError):
        s.probs[0] = 1.0  # states are immutable


def test_alpha_one_is_no_smoothing() -> None:
    s = smooth_step(None, onehot(1), NO_SMOOTHING)
    s = smooth_step(s, onehot(4), NO_SMOOTHING)
    np.testing.assert_allclose(s.probs, onehot(4))
    assert s.label == 4


def test_hysteresis_keeps_the_label_until_the_margin_is_beaten() -> None:
    opts = SmoothingOptions(alpha=1.0, margin=0.1)
    s = smooth_step(None, np.array([0.5, 0.45, 0.05], np.float32), opts)
    assert s.label == 0
    s = smooth_step(s, np.array([0.46, 0.50, 0.04], np.float32), opts)  # ahead by 0.04 < 0.1
    assert s.label == 0
    s = smooth_step(s, np.array([0.40, 0.55, 0.05], np.float32), opts)  # ahead by 0.15
    assert s.label == 1
    plain = smooth_step(None, np.array([0.5, 0.45, 0.05], np.float32), SmoothingOptions(alpha=1.0, margin=0.0))
    assert smooth_step(plain, np.array([0.46, 0.50, 0.04], np.float32), SmoothingOptions(1.0, 0.0)).label == 1


def test_smoothing_reduces_flicker_on_noisy_scores() -> None:
    rng = np.random.default_rng(0)
    truth = [6] * 60 + [3] * 60  # neutral, then happy
    raw_labels, smooth_labels = [], []
    sm = Smoother(SmoothingOptions(alpha=0.3, margin=0.1))
    for t in truth:
        p = onehot(t, 0.4) + rng.uniform(0, 0.35, 7).astype(np.float32)
        p /= p.sum()
        raw_labels.append(int(np.argmax(p)))
        smooth_labels.append(sm.update(1, p).label)
    assert count_switches(smooth_labels) < count_switches(raw_labels) / 3
    assert smooth_labels[-1] == 3 and smooth_labels[50] == 6


def test_smoother_keeps_one_state_per_track_and_forgets_retired_ones() -> None:
    sm = Smoother()
    sm.update(1, onehot(0))
    sm.update(2, onehot(3))
    assert sm.states[1].label == 0 and sm.states[2].label == 3
    sm.keep_only([2])
    assert list(sm.states) == [2]


def test_bad_input_and_options() -> None:
    with pytest.raises(EmolensError, match="alpha"):
        SmoothingOptions(alpha=0.0)
    with pytest.raises(EmolensError, match="margin"):
        SmoothingOptions(margin=1.5)
    with pytest.raises(EmolensError, match="one probability vector"):
        smooth_step(None, np.zeros((2, 7), np.float32))
    with pytest.raises(EmolensError, match="changed length"):
        smooth_step(smooth_step(None, onehot(0)), onehot(0, n=5))


def test_switch_rate() -> None:
    times = [0.0, 0.5, 1.0, 1.5, 2.0]
    assert count_switches(["a", "a", "b", "a", "a"]) == 2
    assert switches_per_second(times, ["a", "a", "b", "a", "a"]) == 1.0
    assert switches_per_second([0.0], ["a"]) == 0.0
    with pytest.raises(EmolensError):
        switches_per_second(times, ["a"])


def test_sustained_changes_ignore_flicker() -> None:
    times = [i / 10 for i in range(30)]
    labels = ["n"] * 10 + ["h"] + ["n"] * 4 + ["h"] * 15  # a one-frame blip, then a real change at 1.5 s
    assert sustained_changes(times, labels, min_duration_s=0.5) == [15]
    assert sustained_changes(times, labels, min_duration_s=0.05) == [10, 11, 15]


def test_lag_to_a_sustained_change() -> None:
    times = [i / 10 for i in range(40)]
    raw = ["n"] * 10 + ["h"] * 30
    smoothed = ["n"] * 13 + ["h"] * 27
    rep = smoothing_report(times, raw, smoothed, min_duration_s=0.5)
    assert rep.change_times_s == (1.0,)
    assert rep.lags_s == (pytest.approx(0.3),)
    assert rep.mean_lag_s == pytest.approx(0.3)
    assert rep.raw_switches_per_s == pytest.approx(1 / 3.9)
    never = smoothing_report(times, raw, ["n"] * 40)
    assert never.lags_s == (None,) and never.mean_lag_s is None
    assert never.as_dict()["smoothed_switches_per_s"] == 0.0
