"""Reading wristband recordings: generated E4 folders and CSV files, malformed ones, the shared data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED, need
from emolens.errors import DataError
from emolens.physio.readers import Events, Signal, read_csv, read_e4, read_recording
from physio_support import T0, recording_arrays, write_csv, write_e4

STRESS = SHARED / "data" / "stress-predict"


def test_e4_folder_all_channels(tmp_path: Path) -> None:
    arrays = recording_arrays(120)
    rec = read_e4(write_e4(tmp_path / "S", arrays, tags=[T0 + 30, T0 + 60]))
    assert rec.missing == ()
    assert rec.tags == (T0 + 30, T0 + 60)
    bvp = rec.signal("bvp")
    assert isinstance(bvp, Signal) and bvp.fs == 64 and bvp.t0 == T0 and len(bvp) == 120 * 64
    np.testing.assert_allclose(bvp.values, arrays["bvp"], atol=1e-5)
    acc = rec.signal("acc")
    assert acc is not None and acc.values.shape == (120 * 32, 3)
    ibi = rec.events("ibi")
    assert isinstance(ibi, Events)
    np.testing.assert_allclose(ibi.times, T0 + arrays["ibi_t"], atol=1e-5)
    assert rec.t0 == T0 and rec.t_end == pytest.approx(T0 + 120)


def test_e4_folder_subset_lists_the_missing(tmp_path: Path) -> None:
    arrays = recording_arrays(60)
    rec = read_e4(write_e4(tmp_path / "S", {"eda": arrays["eda"], "temp": arrays["temp"]}))
    assert set(rec.channels) == {"eda", "temp"}
    assert rec.missing == ("hr", "bvp", "acc", "ibi")
    assert rec.signal("bvp") is None and rec.events() is None


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("EDA.csv", "", "two header rows"),
        ("EDA.csv", "hello\n4\n0.1\n", "unix start time"),
        ("EDA.csv", "1700000000\n0\n0.1\n", "rate must be positive"),
        ("EDA.csv", "1700000000\n4\n0.1\nabc\n", "line 4 is not numbers"),
        ("ACC.csv", "1700000000, 1700000000, 1700000000\n32, 32, 32\n1,2,3\n1,2\n", "line 4 has 2 values, expected 3"),
        ("IBI.csv", "1700000000, IBI\n2.0,0.8\n1.0,0.8\n", "must increase"),
        ("TEMP.csv", "12\n4\n33\n", "not a unix time"),
    ],
)
def test_e4_malformed_files_say_what_is_wrong(tmp_path: Path, name: str, text: str, message: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(DataError, match=message) as e:
        read_e4(tmp_path)
    assert name in str(e.value)


def test_e4_not_a_folder_or_empty(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such folder"):
        read_e4(tmp_path / "nope")
    with pytest.raises(DataError, match="no E4 file found"):
        read_e4(tmp_path)
    with pytest.raises(DataError, match="no such file or folder"):
        read_recording(tmp_path / "nope.csv")
    (tmp_path / "x.bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DataError, match="not a text file"):
        read_recording(tmp_path / "x.bin")


def test_csv_mixed_rates_and_holes(tmp_path: Path) -> None:
    arrays = recording_arrays(60)
    eda = arrays["eda"].copy()
    eda[40:60] = np.nan  # 5 s missed
    rec = read_csv(write_csv(tmp_path / "s.csv", {"hr": arrays["hr"], "eda": eda, "acc": arrays["acc"]}))
    assert set(rec.channels) == {"hr", "eda", "acc"}
    assert rec.missing == ("bvp", "temp", "ibi")
    e = rec.signal("eda")
    assert e is not None and e.fs == pytest.approx(4.0) and e.t0 == T0
    assert np.isnan(e.values[40:60]).all() and not np.isnan(e.values[:40]).any()
    h = rec.signal("hr")
    assert h is not None and h.fs == pytest.approx(1.0) and len(h) == 60
    a = rec.signal("acc")
    assert a is not None and a.values.shape == (60 * 32, 3)


def test_csv_ibi_column(tmp_path: Path) -> None:
    p = tmp_path / "ibi.csv"
    p.write_text("time,ibi\n1700000000.8,0.8\n1700000001.6,0.8\n1700000002.5,0.9\n")
    ibi = read_csv(p).events()
    assert ibi is not None
    np.testing.assert_allclose(ibi.values, [0.8, 0.8, 0.9])


@pytest.mark.parametrize(("delimiter", "bom"), [(";", ""), ("\t", ""), (",", "\ufeff"), (";", "\ufeff")])
def test_csv_from_spreadsheets_semicolons_tabs_and_a_byte_order_mark(tmp_path: Path, delimiter: str, bom: str) -> None:
    arrays = recording_arrays(30)
    plain = write_csv(tmp_path / "plain.csv", {"hr": arrays["hr"], "eda": arrays["eda"]})
    text = plain.read_text(encoding="utf-8")
    assert ";" not in text and "\t" not in text
    other = tmp_path / "other.csv"
    other.write_text(bom + text.replace(",", delimiter), encoding="utf-8")
    a, b = read_csv(plain), read_csv(other)
    assert set(a.channels) == set(b.channels) == {"hr", "eda"}
    for name in ("hr", "eda"):
        sa, sb = a.signal(name), b.signal(name)
        assert sa is not None and sb is not None and (sa.t0, sa.fs) == (sb.t0, sb.fs)
        np.testing.assert_array_equal(sa.values, sb.values)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("time;hr\n1700000000;60,5\n1700000001;61\n", "line 2, column 'hr' is not a number: '60,5'"),
        ("t,hr\n1,60\n", "no 'time' column"),
        ("time,hr\n1700000000,60\n1700000001,abc\n", "line 3, column 'hr' is not a number"),
        ("time,hr\n1700000001,60\n1700000000,61\n", "must not decrease"),
        ("time,acc_x,acc_y\n1700000000,1,2\n1700000001,1,2\n", "acc needs the columns acc_x, acc_y, acc_z"),
        ("time,hr\n1700000000,60\n", "at least two samples"),
        ("time,hr\n1700000000,\n1700000001,\n", "no samples"),
        ("time,ibi\n1700000000,-1\n", "positive"),
        ("time,hr\n,60\n1700000001,61\n", "line 2 has no time"),
    ],
)
def test_csv_malformed(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(DataError, match=message):
        read_csv(p)


def test_signal_between() -> None:
    s = Signal(100.0, 4.0, np.arange(40, dtype=float))
    np.testing.assert_array_equal(s.between(101.0, 102.0), [4, 5, 6, 7])
    assert s.t_end == 110.0
    with pytest.raises(DataError):
        Signal(0.0, 0.0, np.zeros(3))


def test_shared_stress_predict_subject() -> None:
    rec = read_e4(need(STRESS / "raw" / "S21"))
    assert rec.missing == ()
    assert len(rec.tags) == 7
    for name, fs in (("hr", 1), ("bvp", 64), ("eda", 4), ("temp", 4), ("acc", 32)):
        s = rec.signal(name)
        assert s is not None and s.fs == fs and (s.t_end - s.t0) > 3000
    ibi = rec.events()
    assert ibi is not None and np.all(np.diff(ibi.times) > 0)


def test_csv_times_and_values_that_would_hang_or_exhaust_memory_are_refused(tmp_path: Path) -> None:
    """A typo in one time (a jump of a month, or of 1e15 s), times in milliseconds, and samples
    that are infinite were once a hang, a MemoryError of petabytes, 300,000 readings, or NaN
    stress everywhere; each is now a DataError saying which."""
    t0 = 1_700_000_000
    rows = [f"{t0 + i},{60 + i % 3}" for i in range(20)]
    cases = {
        "month": (rows[:-1] + [f"{t0 + 3_000_000},60"], "jumps"),
        "far": (rows[:-1] + [f"{t0 + 10**15},60"], "jumps"),
        "ms": ([f"{(t0 + i) * 1000},{60 + i % 3}" for i in range(20)], "are the times in seconds"),
        "inf": (rows[:5] + [f"{t0 + 5},inf"] + rows[6:], "not a finite number"),
    }
    for name, (body, message) in cases.items():
        path = tmp_path / f"{name}.csv"
        path.write_text("time,hr\n" + "\n".join(body) + "\n")
        with pytest.raises(DataError, match=message):
            read_csv(path)
