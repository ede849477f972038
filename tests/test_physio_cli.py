"""``emolens physio`` and ``emolens physio-replay``: outputs, and one readable line on bad input."""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path

import pytest

from emolens.cli import main
from physio_support import recording_arrays, write_csv, write_e4


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_e4(tmp_path_factory.mktemp("e4") / "S", recording_arrays(240, seed=5), tags=[1_700_000_100.0])


def test_physio_writes_json_csv_and_png(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    code = main(
        [
            "physio",
            str(folder),
            "--json",
            str(out / "r.json"),
            "--csv",
            str(out / "r.csv"),
            "--plot",
            str(out / "r.png"),
            "--hop",
            "5",
            "--baseline",
            "120",
        ]
    )
    assert code == 0
    doc = json.loads((out / "r.json").read_text())
    assert doc["summary"]["windows"] == len(doc["windows"]) == (240 - 120) // 5 + 1
    w = doc["windows"][0]
    assert {"t_start", "t_end", "p_stress", "arousal", "quality", "hr", "eda_tonic"} <= set(w)
    assert doc["options"]["hop_s"] == 5 and doc["options"]["window_s"] == 60
    rows = list(csv.DictReader((out / "r.csv").read_text().splitlines()))
    assert len(rows) == len(doc["windows"]) and float(rows[0]["p_stress"]) == w["p_stress"]
    assert (out / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == ["r.csv", "r.json", "r.png"]  # no temporary file left
    assert "windows of 60 s" in capsys.readouterr().out


def test_physio_csv_input_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = recording_arrays(200, seed=6)
    path = write_csv(tmp_path / "s.csv", {"hr": a["hr"], "eda": a["eda"], "temp": a["temp"]})
    assert main(["physio", str(path), "--hop", "10", "--baseline", "120"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"]["missing_channels"] == ["bvp", "acc", "ibi"]
    assert all("missing:bvp" in w["quality"] for w in doc["windows"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["physio", "/nonexistent/S99"], "no such file or folder"),
        (["physio", "{folder}", "--json", "/nonexistent/dir/r.json"], "does not exist"),
        (["physio", "{folder}", "--window", "100", "--baseline", "60"], "at least one window"),
        (["physio", "{folder}", "--model", "/nonexistent.json"], "no such physio model"),
        (["physio-replay", "{folder}", "--mqtt", "http://x"], "mqtt://HOST:PORT"),
        (["physio-replay", "{folder}", "--mqtt", "mqtt://127.0.0.1:1"], "cannot reach|did not accept"),
        (["physio-replay", "{folder}", "--mqtt", "mqtt://127.0.0.1:1", "--child", "a b"], "child id"),
    ],
)
def test_bad_input_exits_with_one_line(
    folder: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([a.replace("{folder}", str(folder)) for a in args])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emolens: error:"), err
    assert re.search(message, lines[0]), lines[0]


def test_malformed_e4_file_exits_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "EDA.csv").write_text("1700000000\n4\n0.1\noops\n")
    assert main(["physio", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "EDA.csv: line 4" in err[0]


def test_replay_through_a_real_broker(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``emolens physio-replay`` to mosquitto; a subscriber decodes every message into a live stream."""
    import threading

    from emolens.physio import PhysioRecognizer, decode_samples
    from emolens.physio.features import PhysioOptions
    from relax_support import running_broker, wait_until

    mqtt = pytest.importorskip("paho.mqtt.client")
    from paho.mqtt.enums import CallbackAPIVersion

    broker_gen = running_broker(tmp_path)
    broker = next(broker_gen)
    got: list[tuple[str, bytes]] = []
    ready = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="physio-test-sub")
    client.on_connect = lambda c, *_: (c.subscribe("emolens/physio/kid/+", qos=0), ready.set())
    client.on_message = lambda _c, _u, msg: got.append((msg.topic, msg.payload))
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        assert ready.wait(5)
        time.sleep(0.2)  # the subscription is in place
        assert main(["physio-replay", str(folder), "--mqtt", broker.url, "--child", "kid", "--speed", "0"]) == 0
        sent = int(capsys.readouterr().out.split()[1])
        assert wait_until(lambda: len(got) >= sent, 10.0), (len(got), sent)
    finally:
        client.loop_stop()
        client.disconnect()
        with pytest.raises(StopIteration):
            next(broker_gen)
    pr = PhysioRecognizer(options=PhysioOptions(hop_s=5.0, baseline_s=120.0))
    live = pr.stream()
    readings = []
    for topic, payload in got:
        s = decode_samples(topic, payload)
        readings += live.push(s.channel, s.t, s.values, s.fs)
    readings += live.flush()
    assert len(readings) == len(pr.predict(folder)) > 0
