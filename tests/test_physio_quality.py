"""Missing channels, gaps, flat lines, unplugged sensors and motion give quality flags, not crashes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emolens.physio import PhysioRecognizer
from emolens.physio.features import PhysioOptions
from emolens.physio.quality import discounted
from physio_support import recording_arrays, write_csv, write_e4

OPTS = PhysioOptions(hop_s=10.0, baseline_s=120.0)


@pytest.fixture(scope="module")
def recognizer() -> PhysioRecognizer:
    return PhysioRecognizer(options=OPTS)


def flags_of(pr: PhysioRecognizer, folder: Path) -> list[set[str]]:
    readings = pr.predict(folder)
    assert readings, "a reading for every window after the baseline"
    for r in readings:
        assert 0 <= r.p_stress <= 1 and 0 <= r.arousal <= 1
        assert np.isfinite(r.p_stress) and np.isfinite(r.arousal)
    return [set(r.quality) for r in readings]


def test_clean_recording_has_no_flags(tmp_path: Path, recognizer: PhysioRecognizer) -> None:
    flags = flags_of(recognizer, write_e4(tmp_path / "S", recording_arrays(240)))
    assert all(not f for f in flags), flags[:3]


def test_missing_channels(tmp_path: Path, recognizer: PhysioRecognizer) -> None:
    a = recording_arrays(240)
    only = {k: a[k] for k in ("eda", "temp")}
    flags = flags_of(recognizer, write_e4(tmp_path / "S", only))
    assert all({"missing:bvp", "missing:hr", "missing:acc"} <= f for f in flags)
    assert all("missing:eda" not in f for f in flags)


@pytest.mark.parametrize("channel", ["hr", "bvp", "eda", "temp", "acc"])
def test_every_single_channel_alone_gives_readings(tmp_path: Path, recognizer: PhysioRecognizer, channel: str) -> None:
    a = recording_arrays(200)
    flags = flags_of(recognizer, write_e4(tmp_path / channel, {channel: a[channel]}))
    assert all(f"missing:{channel}" not in f for f in flags)


def test_only_device_ibi(tmp_path: Path, recognizer: PhysioRecognizer) -> None:
    a = recording_arrays(200)
    readings = recognizer.predict(write_e4(tmp_path / "S", {"ibi_t": a["ibi_t"], "ibi_v": a["ibi_v"]}))
    assert readings and readings[0].features["hr"] == pytest.approx(60 / 0.85, abs=1.5)


def test_unplugged_sensors(tmp_path: Path, recognizer: PhysioRecognizer) -> None:
    a = recording_arrays(240)
    a["eda"][4 * 150 :] = 0.0  # electrodes off the skin from 150 s
    a["hr"][150:] = 0.0
    a["temp"][4 * 150 :] = 22.0  # room temperature: off the wrist
    readings = recognizer.predict(write_e4(tmp_path / "S", a))
    late = [set(r.quality) for r in readings if r.t_start >= readings[0].t_start + 150 - 120 + 60]
    assert late and all({"range:eda", "range:hr", "range:temp", "flat:eda", "flat:hr"} <= f for f in late)
    early = set(readings[0].quality)
    assert not early & {"range:eda", "range:hr", "range:temp"}


def test_flat_and_noisy_bvp(tmp_path: Path, recognizer: PhysioRecognizer) -> None:
    a = recording_arrays(200)
    a["bvp"][:] = 0.0
    flags = flags_of(recognizer, write_e4(tmp_path / "S", a))
    assert all({"flat:bvp", "noisy:bvp"} <= f for f in flags)


def test_motion(tmp_path: Path, recognizer: PhysioRecognizer) -> None:
    a = recording_arrays(240)
    t = np.arange(len(a["acc"])) / 32
    shaking = t >= 150
    a["acc"][shaking, 0] += np.round(60 * np.sin(2 * np.pi * 3 * t[shaking]))  # about 1 g at 3 Hz
    readings = recognizer.predict(write_e4(tmp_path / "S", a))
    assert "motion" in readings[-1].quality
    assert "motion" not in readings[0].quality


def test_gap_in_a_csv(tmp_path: Path, recognizer: PhysioRecognizer) -> None:
    a = recording_arrays(240)
    eda = a["eda"].copy()
    eda[4 * 160 : 4 * 200] = np.nan  # 40 s without EDA samples
    readings = recognizer.predict(write_csv(tmp_path / "s.csv", {"hr": a["hr"], "eda": eda, "temp": a["temp"]}))
    gap = [r for r in readings if "gap:eda" in r.quality]
    assert gap and all(r.t_end > r.t_start for r in gap)
    assert "gap:eda" not in readings[0].quality


def test_discounted_features() -> None:
    assert discounted([]) == set()
    assert {"eda_tonic", "scr_rate"} <= discounted(["range:eda"])
    assert "hr" not in discounted(["motion"]) and "ibi_mean" in discounted(["motion"])
    assert "hr" in discounted(["missing:hr", "noisy:bvp"])  # the heart rate came from the beats
    assert "hr" not in discounted(["missing:hr"])


def test_shorter_than_the_baseline_gives_no_readings(tmp_path: Path, recognizer: PhysioRecognizer) -> None:
    assert recognizer.predict(write_e4(tmp_path / "S", recording_arrays(90))) == []
