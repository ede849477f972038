"""The relaxation records in SQLite: migrations, pseudonyms, session logs, preferences, CSV and report export."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

from emolens.errors import EmolensError
from emolens.labels import EMOTIONS
from emolens.relax import store as store_module
from emolens.relax.bandit import Preferences, update
from emolens.relax.report import CSV_COLUMNS, export_csv, write_report
from emolens.relax.scenarios import load_scenario, scenario_text
from emolens.relax.simulate import Simulation, read_emotions, simulate
from emolens.relax.store import MIGRATIONS, SCHEMA_VERSION, Store, migrate, schema_version
from emolens.relax.types import Alert
from relax_util import face, write_label_csv


def tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def replay(tmp_path: Path) -> Simulation:
    rows: list[tuple[float, str] | tuple[float, str, str]] = [(float(t), "happy") for t in range(15)] + [
        (float(t), "sad") for t in range(25, 50)
    ]
    rows[5] = (5.0, "happy", "camera_lost")
    rows[8] = (8.0, "happy", "resume")
    return simulate(read_emotions(write_label_csv(tmp_path / "e.csv", rows)), load_scenario("calm-evening"))


def test_migrates_an_empty_database_to_the_latest_schema(tmp_path: Path) -> None:
    with Store(tmp_path / "relax.db") as st:
        assert st.version == SCHEMA_VERSION == MIGRATIONS[-1][0]
    conn = sqlite3.connect(tmp_path / "relax.db")
    assert schema_version(conn) == SCHEMA_VERSION
    assert {
        "children",
        "sessions",
        "emotions",
        "stimuli",
        "alerts",
        "operator_actions",
        "scenarios",
        "preferences",
    } <= tables(conn)
    # no column could hold an image or a frame
    for table in tables(conn) - {"sqlite_sequence"}:
        for _, name, kind, *_ in conn.execute(f"PRAGMA table_info({table})"):
            assert kind.upper() in ("TEXT", "REAL", "INTEGER"), (table, name, kind)
    conn.close()
    with Store(tmp_path / "relax.db") as again:  # reopening migrates nothing more
        assert again.version == SCHEMA_VERSION


def test_migrates_a_version_1_database_keeping_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=1) == 1
    assert "preferences" not in tables(conn)
    conn.execute("INSERT INTO children (id, created_at) VALUES ('child-old', '2026-01-01T00:00:00+00:00')")
    conn.execute(
        "INSERT INTO sessions (child_id, scenario, started_at, t0) VALUES ('child-old', 'calm-evening', 'then', 5.0)"
    )
    conn.execute(
        "INSERT INTO emotions (session_id, t, valence, arousal, probs) VALUES (1, 6.0, 0.25, NULL, '{\"happy\": 0.5}')"
    )
    conn.execute(
        "INSERT INTO alerts (session_id, t, kind, priority, message) VALUES (1, 7.0, 'no_reading', 'low', 'm')"
    )
    conn.close()
    with Store(path) as st:
        assert st.version == SCHEMA_VERSION
        log = st.session(1)
        assert (log.child_id, log.scenario, log.t0) == ("child-old", "calm-evening", 5.0)
        assert log.emotions[0].valence == 0.25 and log.emotions[0].probs == {"happy": 0.5}
        assert log.alerts == (Alert(7.0, "no_reading", "low", "m"),)
        prefs = st.preferences("child-old")  # the columns version 2 added, with their defaults
        assert prefs.pinned is None and prefs.excluded == frozenset() and dict(prefs.arms) == {}


def test_a_failed_migration_leaves_the_database_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    migrate(conn)
    monkeypatch.setattr(
        store_module, "MIGRATIONS", (*MIGRATIONS, (SCHEMA_VERSION + 1, "CREATE TABLE extra (a TEXT); NOT SQL"))
    )
    with pytest.raises(sqlite3.OperationalError):
        store_module.migrate(conn, target=SCHEMA_VERSION + 1)
    assert schema_version(conn) == SCHEMA_VERSION and "extra" not in tables(conn)


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with Store(path):
        pass
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.close()
    with pytest.raises(EmolensError, match="newer than this emolens knows"):
        Store(path)
    with pytest.raises(EmolensError, match="does not exist"):
        Store(tmp_path / "no" / "dir" / "x.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(EmolensError, match="cannot use"):
        Store(junk)


def test_children_are_pseudonyms(tmp_path: Path) -> None:
    with Store(tmp_path / "r.db") as st:
        a, b = st.add_child(), st.add_child()
        assert a != b and a.startswith("child-")
        assert st.add_child("P-017") == "P-017"
        assert st.children() == sorted([a, b, "P-017"])
        with pytest.raises(EmolensError, match="pseudonym"):
            st.add_child("Anna Smith")
        with pytest.raises(EmolensError, match="unknown child"):
            st.start_session("nobody", "calm-evening", 0.0)


def test_a_session_log_round_trips(tmp_path: Path) -> None:
    text, _ = scenario_text("calm-evening")
    with Store(tmp_path / "r.db") as st:
        child = st.add_child()
        sid = st.start_session(child, "calm-evening", 100.0, scenario_source=text)
        st.log_operator(sid, 100.0, "start")
        r = face(100.5, "happy")
        st.log_reading(sid, r)
        st.log_stimulus(sid, 100.5, "running", "start", {"light": 0.1, "sound": 0.05, "vibration": 0.0})
        st.log_alert(sid, Alert(101.0, "camera_lost", "medium", "camera lost"))
        st.end_session(sid, reward=0.3, outcome="finished")
        log = st.session(sid)
        assert log.emotions[0].probs == r.probs and log.emotions[0].valence == r.valence
        assert (log.stimuli[0].light, log.stimuli[0].sound, log.stimuli[0].state) == (0.1, 0.05, "running")
        assert log.alerts[0].priority == "medium" and log.operator[0].action == "start"
        assert (log.reward, log.outcome) == (0.3, "finished")
        later = st.start_session(child, "quiet-light", 200.0)
        assert [s.session_id for s in st.sessions(child)] == [later, sid]
        sha = st._read("SELECT scenario_sha256 FROM sessions WHERE id = ?", (sid,))[0][0]
        assert st.scenario_source(sha) == text
        with pytest.raises(EmolensError, match="no session"):
            st.session(999)


def test_preferences_round_trip(tmp_path: Path) -> None:
    with Store(tmp_path / "r.db") as st:
        child = st.add_child()
        prefs = update(update(Preferences(child), "calm-evening", 0.2), "ocean-breathing", -0.1)
        prefs = prefs.pin("calm-evening").exclude("forest-rest")
        st.save_preferences(prefs)
    with Store(tmp_path / "r.db") as st:
        assert st.preferences(child) == prefs


def test_a_replay_is_stored_and_exported_as_csv_and_report(tmp_path: Path) -> None:
    sim = replay(tmp_path)
    with Store(tmp_path / "r.db") as st:
        sid = st.save_log(sim.log)
        log = st.session(sid)
    assert log.emotions == sim.log.emotions and log.stimuli == sim.log.stimuli
    assert log.alerts == sim.log.alerts and log.alerts
    path = export_csv(log, tmp_path / "session.csv")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    counts = {k: sum(r["record"] == k for r in rows) for k in ("emotion", "stimulus", "alert", "operator")}
    assert counts == {
        "emotion": len(log.emotions),
        "stimulus": len(log.stimuli),
        "alert": len(log.alerts),
        "operator": len(log.operator),
    }
    times = [float(r["t"]) for r in rows]
    assert times == sorted(times)
    happy = next(r for r in rows if r["record"] == "emotion")
    assert float(happy["happy"]) == log.emotions[0].probs["happy"] and set(EMOTIONS) <= set(happy)
    for name in ("report.png", "report.pdf"):
        out = write_report(log, tmp_path / name)
        head = out.read_bytes()[:8]
        assert head.startswith(b"\x89PNG") if name.endswith("png") else head.startswith(b"%PDF")
        assert out.stat().st_size > 10_000
    with pytest.raises(EmolensError, match=r"\.png or \.pdf"):
        write_report(log, tmp_path / "report.svg")
    with pytest.raises(EmolensError, match="does not exist"):
        write_report(log, tmp_path / "missing" / "r.png")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left behind
