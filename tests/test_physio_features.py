"""Feature code against hand-computed values on synthetic signals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emolens.errors import DataError
from emolens.physio.features import (
    FEATURES,
    Beats,
    PhysioOptions,
    beats_from_bvp,
    beats_from_ibi,
    clean_ibi,
    derive,
    detect_beats,
    detect_scrs,
    feature_table,
    hrv,
    window_features,
    windows,
)
from emolens.physio.readers import Events, Recording, Signal
from emolens.physio.signal import fill_gaps, linear_slope, local_maxima, local_minima, moving_average, smooth
from physio_support import T0, beat_times, recording_arrays, synthetic_bvp, synthetic_eda


def test_moving_average_and_smooth() -> None:
    x = np.array([0.0, 0, 3, 0, 0])
    np.testing.assert_allclose(moving_average(x, 3), [0, 1, 1, 1, 0])
    np.testing.assert_allclose(moving_average(np.ones(7), 4), np.ones(7))  # edges average what exists
    assert smooth(np.ones(10), 1.0, 4.0).tolist() == [1.0] * 10


def test_extrema_and_gaps_and_slope() -> None:
    x = np.array([0, 1, 1, 0, 2, 3, 2, 2, 5])
    assert local_maxima(x).tolist() == [1, 5]  # a plateau counts at its first sample; the last sample never
    assert local_minima(x).tolist() == [3, 6]
    np.testing.assert_allclose(fill_gaps(np.array([np.nan, 1, np.nan, 3, np.nan])), [1, 1, 2, 3, 3])
    assert linear_slope(np.arange(8) * 0.5, 4.0) == pytest.approx(2.0)  # 0.5 per sample at 4 Hz


def test_known_heart_rate_from_synthetic_bvp() -> None:
    bvp = synthetic_bvp(beat_times(60, 60 / 72), 60, noise=1.0)
    t, amp = detect_beats(bvp, 64.0)
    assert len(t) == pytest.approx(72, abs=1)
    ibi = np.diff(t)
    assert np.median(ibi) == pytest.approx(60 / 72, abs=0.005)
    assert np.all(amp > 20)
    rec = Recording({"bvp": Signal(T0, 64.0, bvp)})
    f = window_features(derive(rec), T0, T0 + 60)
    assert f["hr"] == pytest.approx(72.0, abs=0.5)  # no HR channel: from the beats
    assert f["ibi_mean"] == pytest.approx(1000 * 60 / 72, abs=3)
    assert f["rmssd"] < 10
    assert f["beat_coverage"] > 0.95


def test_known_rmssd_from_alternating_beats() -> None:
    # intervals 0.8, 0.9, 0.8, ...: every successive difference is 100 ms
    beats = beat_times(120, [0.8, 0.9])
    h = hrv(beats[1:], np.diff(beats))
    assert h["rmssd"] == pytest.approx(100.0, abs=1e-6)
    assert h["ibi_mean"] == pytest.approx(850.0, abs=1.0)
    assert h["sdnn"] == pytest.approx(50.0, abs=1.0)
    # the same from the device's IBI list, and from detected BVP beats
    b = beats_from_ibi(Events(T0 + beats[1:], np.diff(beats)))
    d = derive(Recording({"ibi": Events(T0 + beats[1:], np.diff(beats))}))
    assert isinstance(d.beats, Beats) and len(b.times) == len(beats)  # the rows, and the beat the first starts at
    assert window_features(d, T0, T0 + 120)["rmssd"] == pytest.approx(100.0, abs=1e-6)
    bvp = Signal(T0, 64.0, synthetic_bvp(beats, 120))
    assert window_features(derive(Recording({"bvp": bvp})), T0, T0 + 120)["rmssd"] == pytest.approx(100.0, abs=5)


def test_rmssd_never_joins_intervals_across_dropped_beats() -> None:
    # beats at 0.8 s steps, but the device dropped the beat at 4.0: the interval after the gap
    # does not start at the previous row's beat, so it must not make a successive difference
    t = np.array([0.8, 1.6, 2.4, 3.2, 4.8, 5.6, 6.4])
    v = np.array([0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8])
    b = beats_from_ibi(Events(T0 + t, v))
    # added with unknown intervals: the beat the first row starts at, and the beat at 4.0 that starts the 4.8 one
    assert len(b.times) == 9
    assert np.isnan(b.ibi[np.searchsorted(b.times, T0 + 4.0)])
    assert hrv(b.times, b.ibi)["rmssd"] == pytest.approx(0.0)


def test_clean_ibi_drops_missed_and_extra_beats() -> None:
    ibi = np.array([0.8, 0.81, 0.79, 1.6, 0.8, 0.4, 0.8, 0.82, 2.5])
    c = clean_ibi(ibi)
    assert np.isnan(c[[3, 5, 8]]).all() and not np.isnan(c[[0, 1, 2, 4, 6, 7]]).any()


def test_known_number_of_eda_responses() -> None:
    eda = synthetic_eda(120, [10, 30, 50, 70, 90], amp=0.2)
    t, amp = detect_scrs(eda, 4.0, min_amp=0.02)
    assert len(t) == 5
    np.testing.assert_allclose(amp, 0.2, atol=0.03)
    np.testing.assert_allclose(t, [11.5, 31.5, 51.5, 71.5, 91.5], atol=0.5)
    # responses below the threshold do not count
    assert len(detect_scrs(synthetic_eda(120, [10, 50], amp=0.01), 4.0, min_amp=0.02)[0]) == 0
    rec = Recording({"eda": Signal(T0, 4.0, eda)})
    f = window_features(derive(rec), T0, T0 + 60)
    assert f["scr_rate"] == pytest.approx(3.0)  # peaks at 11.5, 31.5 and 51.5 s in the first minute
    assert f["scr_amp"] == pytest.approx(0.2, abs=0.03)
    assert f["eda_tonic"] == pytest.approx(2.0 + np.mean(eda[:240] - 2.0), abs=0.02)
    assert f["eda_rise"] > 0


def test_temperature_slope_and_movement() -> None:
    temp = 33 + 0.1 * np.arange(240) / 4 / 60  # 0.1 degrees C a minute
    acc = np.zeros((60 * 32, 3))
    acc[:, 2] = np.where(np.arange(60 * 32) % 2 == 0, 64.0, 96.0)  # |a| alternates 1 g and 1.5 g
    rec = Recording({"temp": Signal(T0, 4.0, temp), "acc": Signal(T0, 32.0, acc)})
    f = window_features(derive(rec), T0, T0 + 60)
    assert f["temp_slope"] == pytest.approx(0.1, abs=0.005)
    assert f["temp"] == pytest.approx(33.05, abs=0.01)
    assert f["acc_std"] == pytest.approx(0.25, abs=1e-6)


def test_windows_and_the_table_agree_with_one_window() -> None:
    opts = PhysioOptions(window_s=60, hop_s=10)
    w = list(windows(T0, T0 + 125, opts))
    assert w[0] == (T0, T0 + 60) and w[-1] == (T0 + 60, T0 + 120) and len(w) == 7
    a = recording_arrays(130)
    rec = Recording(
        {
            "bvp": Signal(T0, 64.0, a["bvp"]),
            "eda": Signal(T0, 4.0, a["eda"]),
            "temp": Signal(T0, 4.0, a["temp"]),
            "acc": Signal(T0, 32.0, a["acc"]),
            "hr": Signal(T0, 1.0, a["hr"]),
        }
    )
    d = derive(rec)
    starts = np.array([s for s, _ in w])
    table = feature_table(d, starts, starts + 60)
    assert table.shape == (7, len(FEATURES))
    for i, (s, e) in enumerate(w):
        one = window_features(d, s, e)
        for j, name in enumerate(FEATURES):
            assert (math.isnan(one[name]) and math.isnan(table[i, j])) or one[name] == pytest.approx(table[i, j])
    assert not np.isnan(table).any()
    assert table[:, FEATURES.index("hr")] == pytest.approx(70.5, abs=0.5)


def test_options_are_checked() -> None:
    with pytest.raises(Exception, match="baseline"):
        PhysioOptions(window_s=60, baseline_s=30)
    for kwargs in ({"hop_s": 0}, {"hop_s": 1e-3}, {"hop_s": float("inf")}, {"window_s": float("inf")}, {"window_s": 1}):
        with pytest.raises(DataError, match="the window must be 5 to 3600 s and the hop 0.1 s to one window"):
            PhysioOptions(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="baseline"):
        PhysioOptions(baseline_s=float("inf"))
    assert PhysioOptions.from_dict(PhysioOptions(hop_s=2).as_dict()).hop_s == 2


def test_beats_from_flat_or_short_bvp() -> None:
    assert len(beats_from_bvp(Signal(T0, 64.0, np.zeros(64 * 30))).times) == 0
    assert len(detect_beats(np.zeros(10), 64.0)[0]) == 0
