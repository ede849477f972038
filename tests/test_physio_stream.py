"""The live stream: the same windows as a recorded file, gaps, late channels, bad pushes; and MQTT."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from emolens.errors import DataError, EmolensError
from emolens.physio import PhysioRecognizer, PhysioStream
from emolens.physio.features import PhysioOptions
from emolens.physio.mqtt import (
    MAX_SAMPLES,
    decode_samples,
    encode_samples,
    parse_topic,
    replay_e4,
    topic_for,
)
from emolens.physio.readers import Events, Recording, read_e4
from physio_support import T0, recording_arrays, write_e4

OPTS = PhysioOptions(hop_s=5.0, baseline_s=120.0)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_e4(tmp_path_factory.mktemp("e4") / "S", recording_arrays(260, seed=3))


def chunks(rec: Recording, chunk_s: float = 1.0) -> list[tuple[str, object, object, float | None]]:
    """The recording as (channel, t, values, fs) pushes of chunk_s each, in time order."""
    out: list[tuple[str, object, object, float | None]] = []
    t = rec.t0
    while t < rec.t_end:
        for name, ch in rec.channels.items():
            if isinstance(ch, Events):
                tt, vv = ch.between(t, t + chunk_s)
                if len(tt):
                    out.append(("ibi", tt, vv, None))
            else:
                i0 = max(0, int(np.ceil((t - ch.t0) * ch.fs - 1e-9)))
                i1 = min(len(ch), int(np.ceil((t + chunk_s - ch.t0) * ch.fs - 1e-9)))
                if i1 > i0:
                    out.append((name, ch.t0 + i0 / ch.fs, ch.values[i0:i1], ch.fs))
        t += chunk_s
    return out


def test_stream_matches_the_recorded_file(folder: Path) -> None:
    pr = PhysioRecognizer(options=OPTS)
    batch = {round(r.t_end, 3): r for r in pr.predict(folder)}
    live = pr.stream()
    got = list(live.feed(chunks(read_e4(folder))))
    got += live.flush()
    assert len(got) == len(batch) > 10
    for r in got:
        b = batch[round(r.t_end, 3)]
        assert r.t_start == pytest.approx(b.t_start)
        assert r.p_stress == pytest.approx(b.p_stress, abs=0.05)
        assert r.arousal == pytest.approx(b.arousal, abs=0.1)
        assert r.quality == b.quality
    assert np.mean([abs(r.p_stress - batch[round(r.t_end, 3)].p_stress) for r in got]) < 0.01
    assert set(live.channels) == {"hr", "bvp", "eda", "temp", "acc", "ibi"}


def test_stream_readings_come_one_per_hop_once_the_baseline_is_known(folder: Path) -> None:
    pr = PhysioRecognizer(options=OPTS)
    live = pr.stream()
    per_push = [live.push(*c) for c in chunks(read_e4(folder), chunk_s=5.0)]
    counts = [len(r) for r in per_push]
    first = next(i for i, c in enumerate(counts) if c)
    assert sum(counts[:first]) == 0 and max(counts) <= 6  # six channels a chunk: at most one window per push
    readings = [r for rs in per_push for r in rs]
    ends = np.array([r.t_end for r in readings])
    assert ends[0] == pytest.approx(T0 + 120) and np.allclose(np.diff(ends), 5.0)
    d = readings[0].as_dict()
    assert {"t_start", "t_end", "p_stress", "arousal", "quality", "hr", "eda_tonic", "scr_rate"} <= set(d)
    json.dumps(d)


def test_stream_gap_and_silent_channel() -> None:
    a = recording_arrays(200, seed=4)
    pr = PhysioRecognizer(options=OPTS)
    live = pr.stream(t0=T0)
    out = []
    for k in range(200):
        t = T0 + k
        if not 130 <= k < 150:  # 20 s of EDA lost
            out += live.push("eda", t, a["eda"][4 * k : 4 * k + 4], 4.0)
        out += live.push("hr", t, a["hr"][k : k + 1], 1.0)
        out += live.push("acc", t, a["acc"][32 * k : 32 * k + 32], 32.0)
    assert out, "the EDA gap and the missing BVP and temperature never stop the windows"
    assert all("missing:bvp" in r.quality and "missing:temp" in r.quality for r in out)
    assert any("gap:eda" in r.quality for r in out)


def test_stream_rejects_bad_pushes() -> None:
    live = PhysioRecognizer(options=OPTS).stream()
    with pytest.raises(DataError, match="unknown channel"):
        live.push("ecg", T0, [1.0])
    with pytest.raises(DataError, match="rows of three"):
        live.push("acc", T0, [1.0, 2.0], 32.0)
    with pytest.raises(DataError, match="rate"):
        live.push("eda", T0, [1.0], -4.0)
    with pytest.raises(DataError, match="as many"):
        live.push("ibi", [T0, T0 + 1], [0.8])
    assert live.push("eda", T0, [], 4.0) == []
    assert isinstance(live, PhysioStream)


# ---------------------------------------------------------------- MQTT


def test_topics() -> None:
    assert topic_for("c-12", "eda") == "emolens/physio/c-12/eda"
    assert parse_topic("emolens/physio/c-12/eda") == ("c-12", "eda")
    for bad in ("emolens/physio/c/ecg", "emolens/other/c/eda", "emolens/physio/a/b/eda", "emolens/physio/+/eda"):
        with pytest.raises(DataError):
            parse_topic(bad)
    with pytest.raises(DataError, match="child id"):
        topic_for("Jane Doe", "eda")


def test_payload_round_trips() -> None:
    raw = encode_samples("eda", T0, [0.5, 0.51, float("nan"), 0.52], 4.0)
    assert json.loads(raw) == {"t": T0, "fs": 4.0, "v": [0.5, 0.51, None, 0.52]}
    s = decode_samples("emolens/physio/c1/eda", raw)
    assert s.channel == "eda" and s.child == "c1" and s.t == T0 and s.fs == 4.0
    np.testing.assert_array_equal(np.isnan(s.values), [False, False, True, False])
    acc = decode_samples(None, encode_samples("acc", T0, [[1, 2, 64], [0, 0, 63]], 32.0), channel="acc")
    assert acc.values.shape == (2, 3) and acc.values[1, 2] == 63
    ibi = decode_samples("emolens/physio/c1/ibi", encode_samples("ibi", [T0 + 1, T0 + 1.8], [0.81, 0.8]))
    assert ibi.fs is None
    np.testing.assert_allclose(ibi.values, [0.81, 0.8])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\xff\xfe", "not UTF-8 JSON"),
        (b"not json", "not UTF-8 JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"t": 1700000000, "v": [1]}', "needs 'fs'"),
        (b'{"fs": 4, "v": [1]}', "needs 't' and 'v'"),
        (b'{"t": "now", "fs": 4, "v": [1]}', "must be a number"),
        (b'{"t": 1700000000, "fs": 0, "v": [1]}', "'fs' must be between"),
        (b'{"t": 1700000000, "fs": 4, "v": [1, "x"]}', "sample 1 must be a number"),
        (b'{"t": 1700000000, "fs": 4, "v": [1, NaN]}', "finite"),
        (b'{"t": 1700000000, "fs": 4, "v": [1, true]}', "must be a number"),
        (b'{"t": 1700000000, "fs": 4, "v": 3}', "list of samples"),
        (b'{"t": Infinity, "fs": 4, "v": [1]}', "finite"),
        (b"[" * 100000 + b"]" * 100000, "not UTF-8 JSON|JSON object"),
    ],
)
def test_bad_payloads_raise_data_errors(payload: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message):
        decode_samples("emolens/physio/c1/eda", payload)


def test_bad_acc_and_ibi_payloads() -> None:
    with pytest.raises(DataError, match=r"\[x, y, z\]"):
        decode_samples("emolens/physio/c1/acc", b'{"t": 1700000000, "fs": 32, "v": [[1, 2]]}')
    with pytest.raises(DataError, match="same length"):
        decode_samples("emolens/physio/c1/ibi", b'{"t": [1, 2], "v": [0.8]}')
    with pytest.raises(DataError, match="increase"):
        decode_samples("emolens/physio/c1/ibi", b'{"t": [2, 1], "v": [0.8, 0.8]}')
    with pytest.raises(DataError, match="between 0 and 5"):
        decode_samples("emolens/physio/c1/ibi", b'{"t": [1], "v": [-0.8]}')
    too_many = json.dumps({"t": T0, "fs": 4, "v": [0.5] * (MAX_SAMPLES + 1)}).encode()
    with pytest.raises(DataError, match="too many"):
        decode_samples("emolens/physio/c1/eda", too_many)
    with pytest.raises(DataError, match="topic or the channel"):
        decode_samples(None, b"{}")


def test_replay_publishes_the_folder_at_speed_and_the_stream_reads_it(folder: Path) -> None:
    sent: list[tuple[str, bytes]] = []
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    n = replay_e4(
        folder,
        lambda t, p: sent.append((t, p)),
        child="kid7",
        speed=10.0,
        chunk_s=2.0,
        sleep=sleep,
        clock=lambda: now[0],
    )
    assert n == len(sent) > 0
    assert {t.rsplit("/", 1)[1] for t, _ in sent} == {"hr", "bvp", "eda", "temp", "acc", "ibi"}
    assert all(t.startswith("emolens/physio/kid7/") for t, _ in sent)
    assert now[0] == pytest.approx(260 / 10.0, abs=0.3)  # 260 s of recording at 10x
    pr = PhysioRecognizer(options=OPTS)
    live = pr.stream()
    got = []
    for topic, payload in sent:
        s = decode_samples(topic, payload)
        got += live.push(s.channel, s.t, s.values, s.fs)
    got += live.flush()
    batch = pr.predict(folder)
    assert len(got) == len(batch)
    assert got[-1].p_stress == pytest.approx(batch[-1].p_stress, abs=0.05)


def test_replay_fast_and_stoppable(folder: Path) -> None:
    stop = threading.Event()
    sent: list[str] = []

    def publish(topic: str, payload: bytes) -> None:
        sent.append(topic)
        if len(sent) >= 12:
            stop.set()

    n = replay_e4(folder, publish, speed=0, stop=stop)
    assert n == len(sent) < 20  # it stops at the next chunk
    with pytest.raises(EmolensError, match="speed"):
        replay_e4(folder, publish, speed=-1)


def test_readings_are_mappings_as_well() -> None:
    from emolens.physio.recognizer import PhysioReading

    r = PhysioReading(1.0, 61.0, 0.25, 0.5, False, ("motion",), {"hr": 71.5, "eda_scl": float("nan")})
    assert r["t_start"] == 1.0 and r["t_end"] == 61.0 and r["p_stress"] == 0.25 and r["quality"] == ("motion",)
    assert r["hr"] == 71.5 and "eda_scl" in r and len(r) == len(dict(r)) == 8
    with pytest.raises(KeyError):
        r["nope"]
    assert r.as_dict()["eda_scl"] is None  # the JSON form: NaN becomes null


def test_bad_live_samples_are_data_errors_and_never_hang() -> None:
    """Rates that make a few samples span years, values that are not finite numbers, intervals of
    zero or less: refused with a DataError (an MQTT subscriber drops such a message and goes on)."""
    import math

    from emolens.errors import DataError

    t = 1_700_000_000.0
    bad = [
        ("eda", t, [1.0, 2.0], 1e-9),
        ("eda", t, [1.0, math.inf], 4.0),
        ("eda", t, [1.0, math.nan], 4.0),
        ("eda", t, ["a"], 4.0),
        ("eda", "now", [1.0], 4.0),
        ("hr", t, [60.0], 1e6),
    ]
    for channel, when, values, fs in bad:
        with pytest.raises(DataError):
            PhysioRecognizer().stream().push(channel, when, values, fs)  # type: ignore[arg-type]
    for beats, intervals in (([t, t + 1], [0.8, -1.0]), ([t, math.inf], [0.8, 0.8]), ([t], [math.nan])):
        with pytest.raises(DataError):
            PhysioRecognizer().stream().push("ibi", beats, intervals)


def test_a_jump_in_time_is_skipped_not_walked_window_by_window(caplog: pytest.LogCaptureFixture) -> None:
    """A channel whose clock jumps a day (or into milliseconds) would once make the stream report
    every empty window in between, for ever; the empty stretch is now skipped with one warning."""
    import logging

    live = PhysioRecognizer(options=OPTS).stream()
    rng = np.random.default_rng(0)
    t0 = 1_700_000_000.0
    for k in range(60):
        live.push("eda", t0 + 5 * k, rng.normal(1.0, 0.05, 20), 4.0)
    with caplog.at_level(logging.WARNING):
        for k in range(60):
            live.push("eda", t0 + 86_400 + 5 * k, rng.normal(1.0, 0.05, 20), 4.0)
        live.push("eda", t0 * 1000, rng.normal(1.0, 0.05, 20), 4.0)
    assert "empty windows skipped" in caplog.text
