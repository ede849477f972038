"""Smoothing in seconds: the moving average, the time-confirmed label, the same at any frame rate; and the report."""

import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from emolens.errors import EmolensError
from emolens.types import NO_SMOOTHING, SmoothingOptions
from emolens.video.smoothing import (
    NOMINAL_FRAME_S,
    Smoother,
    SmoothState,
    count_switches,
    smooth_series,
    smooth_step,
    smoothing_report,
    sustained_changes,
    switches_per_second,
)

N, A, B, C = 7, 6, 3, 4  # seven classes; A, B, C three of them


def onehot(i: int, p: float = 0.7, n: int = N) -> np.ndarray:
    v = np.full(n, (1 - p) / (n - 1), np.float32)
    v[i] = p
    return v


def sample(fps: float, seconds: float, jitter: float = 0.0, seed: int = 0) -> list[float]:
    """Frame times over ``seconds`` at ``fps``, each gap drawn within +-``jitter`` of 1/fps."""
    if not jitter:
        return [k / fps for k in range(round(seconds * fps))]
    rng = np.random.default_rng(seed)
    times, t = [], 0.0
    while t < seconds:
        times.append(t)
        t += (1 + jitter * rng.uniform(-1, 1)) / fps
    return times


def labels_at(signal: Callable[[float], int], times: Sequence[float], options: SmoothingOptions) -> list[int]:
    return [s.label for s in smooth_series([onehot(signal(t)) for t in times], times, options)]


def first_time(times: Sequence[float], labels: Sequence[int], label: int, after: float = 0.0) -> float:
    return next(t for t, lab in zip(times, labels, strict=True) if t >= after and lab == label)


def test_first_step_is_the_input_then_a_time_weighted_average() -> None:
    opts = SmoothingOptions(half_life_s=0.1, confirm_s=0.0, margin=0.0)
    a, b = onehot(0), onehot(3)
    s = smooth_step(None, a, opts, 1.0)
    np.testing.assert_allclose(s.probs, a)
    assert (s.label, s.time_s) == (0, 1.0)
    half = smooth_step(s, b, opts, 1.1)  # one half-life later: the new frame weighs one half
    np.testing.assert_allclose(half.probs, 0.5 * b + 0.5 * a, rtol=1e-6)
    quarter = smooth_step(s, b, opts, 1.2)  # two half-lives: three quarters
    np.testing.assert_allclose(quarter.probs, 0.75 * b + 0.25 * a, rtol=1e-6)
    np.testing.assert_allclose(quarter.probs.sum(), 1.0, rtol=1e-5)
    with pytest.raises(ValueError):
        s.probs[0] = 1.0  # states are immutable


def test_the_average_depends_on_time_not_on_the_number_of_frames() -> None:
    opts = SmoothingOptions(half_life_s=0.25)
    start = smooth_step(None, onehot(A), opts, 0.0)
    for fps in (5.0, 10.0, 30.0):
        s = start
        for k in range(1, int(fps) + 1):  # one second of the new class, at fps frames a second
            s = smooth_step(s, onehot(B), opts, k / fps)
        expected = onehot(B) + (onehot(A) - onehot(B)) * 2.0 ** (-1.0 / 0.25)
        np.testing.assert_allclose(s.probs, expected, atol=1e-5)
    legacy = SmoothingOptions(alpha=0.35)  # per frame: one second at 5 fps is 5 steps, at 30 fps 30
    at5 = smooth_series([onehot(A)] + [onehot(B)] * 5, [k / 5 for k in range(6)], legacy)[-1].probs
    at30 = smooth_series([onehot(A)] + [onehot(B)] * 30, [k / 30 for k in range(31)], legacy)[-1].probs
    assert at5[A] > 0.1 > 0.051 > at30[A]  # A still scores 0.12 at 5 fps, its floor at 30


def test_no_smoothing_gives_each_frame_its_own_scores_and_top_class() -> None:
    s = smooth_step(None, onehot(1), NO_SMOOTHING, 0.0)
    s = smooth_step(s, onehot(4), NO_SMOOTHING, 0.033)
    np.testing.assert_allclose(s.probs, onehot(4))
    assert s.label == 4


def test_a_new_label_is_shown_once_it_has_led_confirm_s() -> None:
    opts = SmoothingOptions(half_life_s=0.25, confirm_s=0.3, margin=0.0)
    for fps in (5.0, 10.0, 30.0):
        times = sample(fps, 3.0)

        def blip(t: float) -> int:
            return B if 1.0 <= t < 1.0 + 0.25 else A  # a quarter of a second of B: flicker

        def change(t: float) -> int:
            return B if t >= 1.0 else A  # a change that lasts

        assert set(labels_at(blip, times, opts)) == {A}, fps
        labels = labels_at(change, times, opts)
        assert count_switches(labels) == 1
        shown = first_time(times, labels, B)
        assert 1.0 + 0.3 - 1e-6 <= shown <= 1.0 + 0.3 + 1 / fps + 1e-6, (fps, shown)  # confirm_s, to the frame


def test_interrupted_but_dominant_classes_are_shown_and_even_splits_are_not() -> None:
    """A frame against the challenger takes its time back instead of starting it over: a class on
    two frames of three wins (no label stuck for ever), one on every other frame does not."""
    opts = SmoothingOptions(confirm_s=0.3, margin=0.0)
    times = [k / 30 for k in range(90)]
    two_of_three = [A] * 30 + [A if k % 3 == 0 else B for k in range(60)]
    labels = [s.label for s in smooth_series([onehot(c) for c in two_of_three], times, opts)]
    assert labels[-1] == B and count_switches(labels) == 1
    every_other = [A] * 30 + [A if k % 2 else B for k in range(60)]
    assert {s.label for s in smooth_series([onehot(c) for c in every_other], times, opts)} == {A}


def test_a_new_challenger_starts_afresh() -> None:
    opts = SmoothingOptions(confirm_s=0.3, margin=0.0)
    times = [k / 10 for k in range(12)]
    seq = [A, B, B, C, C, B, B, C, C, B, B, C]  # B and C take turns: neither leads 0.3 s
    assert {s.label for s in smooth_series([onehot(c) for c in seq], times, opts)} == {A}


def test_margin_frames_that_lead_by_less_do_not_count() -> None:
    opts = SmoothingOptions(confirm_s=0.0, margin=0.1, half_life_s=0.0)
    s = smooth_step(None, np.array([0.5, 0.45, 0.05], np.float32), opts, 0.0)
    assert s.label == 0
    s = smooth_step(s, np.array([0.46, 0.50, 0.04], np.float32), opts, 0.1)  # ahead by 0.04 < 0.1
    assert s.label == 0
    s = smooth_step(s, np.array([0.40, 0.55, 0.05], np.float32), opts, 0.2)  # ahead by 0.15
    assert s.label == 1
    plain = SmoothingOptions(confirm_s=0.0, margin=0.0, half_life_s=0.0)
    first = smooth_step(None, np.array([0.5, 0.45, 0.05], np.float32), plain, 0.0)
    assert smooth_step(first, np.array([0.46, 0.50, 0.04], np.float32), plain, 0.1).label == 1


def test_the_same_signal_gives_the_same_labels_at_any_frame_rate() -> None:
    """Files at 30 fps and the live page at 5 to 10 (with uneven gaps) show the same changes, each
    ``confirm_s`` after the first frame showing it, to the next frame: under 0.5 s."""

    def signal(t: float) -> int:
        if t < 1.0 or 1.2 <= t < 2.0:
            return A  # A, with a 0.2 s blip of B at 1 s
        if 4.0 <= t < 4.15:
            return C  # a 0.15 s blip of C
        return B  # B from 2 s on

    opts = SmoothingOptions()
    for fps, jitter in ((30.0, 0.0), (10.0, 0.3), (7.0, 0.3), (5.0, 0.2)):
        for seed in range(5):
            times = sample(fps, 6.0, jitter, seed)
            labels = labels_at(signal, times, opts)
            assert count_switches(labels) == 1, (fps, seed, labels)  # both blips ignored, the change shown
            seen = first_time(times, [signal(t) for t in times], B, after=1.5)
            shown = labels.index(B)
            lag = times[shown] - seen
            assert opts.confirm_s - 1e-6 <= lag < 0.5, (fps, seed, lag)
            assert times[shown - 1] - seen < opts.confirm_s, (fps, seed)  # on the first frame it could be


def test_noisy_scores_flicker_far_less_and_a_real_change_is_followed_within_half_a_second() -> None:
    rng = np.random.default_rng(0)
    times = [k / 30 for k in range(240)]
    truth = [A] * 120 + [B] * 120  # A for 4 s, then B
    probs = []
    for c in truth:
        p = onehot(c, 0.4) + rng.uniform(0, 0.35, N).astype(np.float32)
        probs.append(p / p.sum())
    raw = [int(np.argmax(p)) for p in probs]
    labels = [s.label for s in smooth_series(probs, times, SmoothingOptions())]
    assert count_switches(raw) > 20
    assert count_switches(labels) <= count_switches(raw) / 5
    assert labels[-1] == B and set(labels[:120]) == {A}
    assert first_time(times, labels, B) < 4.0 + 0.5


def test_frames_without_times_count_a_nominal_frame_apart() -> None:
    opts = SmoothingOptions(confirm_s=0.3, margin=0.0)
    sm = Smoother(opts)
    sm.update(1, onehot(A))
    labels = [sm.update(1, onehot(B)).label for _ in range(12)]
    frames_to_confirm = round(0.3 / NOMINAL_FRAME_S)
    assert labels.index(B) == frames_to_confirm  # the first B frame starts the lead, 9 more confirm it
    s = smooth_step(None, onehot(A), opts, 5.0)
    same_time = smooth_step(s, onehot(B), opts, 5.0)  # a repeated (or backwards) time: one nominal frame
    assert same_time.candidate == B and same_time.lead_s == 0.0
    assert smooth_step(same_time, onehot(B), opts, 4.0).lead_s == pytest.approx(NOMINAL_FRAME_S)


def test_smoother_keeps_one_state_per_track_and_forgets_retired_ones() -> None:
    sm = Smoother()
    sm.update(1, onehot(0), 0.0)
    sm.update(2, onehot(3), 0.0)
    assert sm.states[1].label == 0 and sm.states[2].label == 3
    assert isinstance(sm.update(1, onehot(0), 0.1), SmoothState)
    sm.keep_only([2])
    assert list(sm.states) == [2]


def test_bad_input_and_options() -> None:
    for field, value in (("alpha", 0.0), ("margin", 1.5), ("half_life_s", -1.0), ("confirm_s", -0.1)):
        with pytest.raises(EmolensError, match=field):
            SmoothingOptions(**{field: value})
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


def test_a_run_does_not_last_across_a_gap_in_the_track() -> None:
    times = [i / 10 for i in range(10)] + [2.0 + i / 10 for i in range(10)]  # the face unseen from 1 s to 2 s
    one_frame_before_the_gap = ["n"] * 9 + ["h"] + ["n"] * 10
    assert sustained_changes(times, one_frame_before_the_gap) == []
    after_the_gap = ["n"] * 10 + ["h"] * 10
    assert sustained_changes(times, after_the_gap) == [10]
    late = smoothing_report(times, one_frame_before_the_gap, ["n"] * 20)
    assert late.lags_s == ()


def test_lag_to_a_sustained_change() -> None:
    times = [i / 10 for i in range(40)]
    raw = ["n"] * 10 + ["h"] * 30
    smoothed = ["n"] * 13 + ["h"] * 27
    rep = smoothing_report(times, raw, smoothed, min_duration_s=0.5)
    assert rep.change_times_s == (1.0,)
    assert len(rep.lags_s) == 1 and rep.lags_s[0] == pytest.approx(0.3)
    assert rep.mean_lag_s == pytest.approx(0.3)
    assert rep.raw_switches_per_s == pytest.approx(1 / 3.9)
    never = smoothing_report(times, raw, ["n"] * 40)
    assert never.lags_s == (None,) and never.mean_lag_s is None
    assert never.as_dict()["smoothed_switches_per_s"] == 0.0


# ---------------------------------------------------------------- benchmarks/flicker.py on a real clip

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "flicker.py"


def load_flicker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flicker", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["flicker"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_flicker_script_figures_hold_for_files_and_the_live_page(media: Path) -> None:
    """The committed script on one shared clip, through the file path and the live path (the page's
    frames, JPEG and server code, at the 10 frames a second the user's page ran at)."""
    pytest.importorskip("starlette", reason="the live path needs the web extra (pip install 'emolens[web]')")
    from emolens.runtime.recognizer import Recognizer

    flicker = load_flicker()
    rows = flicker.flicker([media / "fer_woman2.mp4"], Recognizer(threads=1), live=["10"])
    by_path = {r["path"]: r for r in rows}
    assert set(by_path) == {"file", "live@10"}
    for path, r in by_path.items():
        assert len(r["confirmed_tracks"]) == 1, r["confirmed_tracks"]  # one woman, one track
        m = r["main"]
        assert m["changes"] >= 2, (path, m)  # the clip has real changes to follow ...
        assert m["after_followed"] == m["changes"], (path, m)  # ... all followed ...
        assert m["after_lag_max_s"] < 0.5, (path, m)  # ... within half a second
        assert m["after_switches_per_s"] < m["before_switches_per_s"] < m["raw_switches_per_s"], (path, m)
    file, live = by_path["file"]["main"], by_path["live@10"]["main"]
    assert file["after_switches_per_s"] <= 0.5 * file["before_switches_per_s"], file
    # At 10 frames a second the old per-frame average already spanned 0.16 s (at 30 only 0.05 s), and a
    # lag under 0.5 s leaves little room: the script measures 0.44 to 0.58 of the old rate there,
    # depending on which frames the page grabs; this guards against losing most of that gain.
    assert live["after_switches_per_s"] <= 0.75 * live["before_switches_per_s"], live
