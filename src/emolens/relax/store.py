"""The relaxation system's records in one SQLite file: children, scenarios, learned preferences, sessions.

Children are known only by pseudonymous ids (:func:`new_child_id`; never store a name). A session
log holds derived readings only (valence, emotion probabilities, arousal), the stimulus commanded,
alerts and operator actions: no image or frame is ever stored, and the schema has no column that
could hold one.

The schema evolves by migrations: ``schema_version`` holds the version, and :data:`MIGRATIONS`
are applied in order, each in its own transaction, when a :class:`Store` opens the file. A file
written by a newer emolens is refused rather than guessed at.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from emolens.errors import EmolensError
from emolens.relax.bandit import Arm, Preferences
from emolens.relax.report import EmotionPoint, OperatorRecord, SessionLog, StimulusPoint
from emolens.relax.types import PRIORITIES, Alert, Priority, Reading

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SessionInfo", "Store", "migrate", "new_child_id", "schema_version"]

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE children (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL
        );
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            child_id TEXT NOT NULL REFERENCES children(id),
            scenario TEXT NOT NULL,
            started_at TEXT NOT NULL,
            t0 REAL NOT NULL,
            ended_at TEXT,
            reward REAL,
            outcome TEXT
        );
        CREATE TABLE emotions (
            session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            t REAL NOT NULL,
            valence REAL,
            arousal REAL,
            probs TEXT NOT NULL
        );
        CREATE TABLE stimuli (
            session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            t REAL NOT NULL,
            state TEXT NOT NULL,
            action TEXT NOT NULL,
            light REAL NOT NULL,
            sound REAL NOT NULL,
            vibration REAL NOT NULL
        );
        CREATE TABLE alerts (
            session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            t REAL NOT NULL,
            kind TEXT NOT NULL,
            priority TEXT NOT NULL CHECK (priority IN ('high', 'medium', 'low')),
            message TEXT NOT NULL
        );
        CREATE TABLE operator_actions (
            session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            t REAL NOT NULL,
            action TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX emotions_session ON emotions(session_id, t);
        CREATE INDEX stimuli_session ON stimuli(session_id, t);
        CREATE INDEX alerts_session ON alerts(session_id, t);
        CREATE INDEX operator_session ON operator_actions(session_id, t);
        CREATE INDEX sessions_child ON sessions(child_id, id)
        """,
    ),
    (
        2,
        """
        CREATE TABLE scenarios (
            sha256 TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            source TEXT NOT NULL,
            added_at TEXT NOT NULL
        );
        ALTER TABLE sessions ADD COLUMN scenario_sha256 TEXT REFERENCES scenarios(sha256);
        CREATE TABLE preferences (
            child_id TEXT NOT NULL REFERENCES children(id),
            scenario TEXT NOT NULL,
            n INTEGER NOT NULL,
            total REAL NOT NULL,
            total_sq REAL NOT NULL,
            PRIMARY KEY (child_id, scenario)
        );
        ALTER TABLE children ADD COLUMN pinned TEXT;
        ALTER TABLE children ADD COLUMN excluded TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE alerts ADD COLUMN acknowledged_at TEXT
        """,
    ),
)
"""Ordered schema steps: 1, the session logs; 2, scenarios used, learned preferences, pins and
exclusions, alert acknowledgement."""

SCHEMA_VERSION = MIGRATIONS[-1][0]
_CHILD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def new_child_id() -> str:
    """A fresh random pseudonym, e.g. ``child-3f9a1c07``."""
    return f"child-{secrets.token_hex(4)}"


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version of a database (0: empty)."""
    has = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
    if not has:
        return 0
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, target: int | None = None) -> int:
    """Bring a database (opened with ``isolation_level=None``) to ``target`` (default: the latest)
    by the :data:`MIGRATIONS` it lacks, each in one transaction; returns the version reached."""
    target = SCHEMA_VERSION if target is None else target
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise EmolensError(
            f"this relaxation database has schema version {current}, newer than this emolens knows "
            f"({SCHEMA_VERSION}); upgrade emolens"
        )
    for version, script in MIGRATIONS:
        if version <= current or version > target:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if current == 0:
                conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                conn.execute("INSERT INTO schema_version VALUES (0)")
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("UPDATE schema_version SET version = ?", (version,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        current = version
    return current


@dataclass(frozen=True)
class SessionInfo:
    """One line of the session history."""

    session_id: int
    child_id: str
    scenario: str
    started_at: str
    ended_at: str | None
    reward: float | None
    outcome: str | None


class Store:
    """The records in SQLite file ``path`` (created, and migrated to the latest schema, on open).

    Safe to share between threads (one connection behind a lock). Use as a context manager or
    call :meth:`close`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:" and not self.path.parent.is_dir():
            raise EmolensError(f"cannot open {self.path}: folder {self.path.parent} does not exist")
        try:
            self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA foreign_keys = ON")
            self.version = migrate(self._conn)
        except sqlite3.DatabaseError as e:
            raise EmolensError(f"cannot use {self.path} as a relaxation database: {e}") from None
        self._lock = threading.Lock()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _write(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, params)

    def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # ------------------------------------------------------------------------ children

    def add_child(self, child_id: str | None = None) -> str:
        """Register a child by pseudonym (a fresh one when None); returns it. Known ids are kept."""
        child_id = child_id or new_child_id()
        if not _CHILD_ID.match(child_id):
            raise EmolensError(
                f"child id {child_id!r}: use a pseudonym of letters, digits, '.', '_' or '-' (never a name)"
            )
        self._write("INSERT OR IGNORE INTO children (id, created_at) VALUES (?, ?)", (child_id, _now_iso()))
        return child_id

    def children(self) -> list[str]:
        return [str(r[0]) for r in self._read("SELECT id FROM children ORDER BY id")]

    def _need_child(self, child_id: str) -> None:
        if not self._read("SELECT 1 FROM children WHERE id = ?", (child_id,)):
            raise EmolensError(f"unknown child {child_id!r}; add the child first")

    # ------------------------------------------------------------------------ scenarios

    def record_scenario(self, name: str, source: str) -> str:
        """Keep the text of a scenario used (once per distinct text); returns its SHA-256."""
        sha = hashlib.sha256(source.encode("utf-8")).hexdigest()
        self._write(
            "INSERT OR IGNORE INTO scenarios (sha256, name, source, added_at) VALUES (?, ?, ?, ?)",
            (sha, name, source, _now_iso()),
        )
        return sha

    def scenario_source(self, sha256: str) -> str | None:
        rows = self._read("SELECT source FROM scenarios WHERE sha256 = ?", (sha256,))
        return str(rows[0][0]) if rows else None

    # ------------------------------------------------------------------------ preferences

    def preferences(self, child_id: str) -> Preferences:
        """What has been learned for a child, with its pin and exclusions."""
        self._need_child(child_id)
        arms = {
            str(s): Arm(int(n), float(t), float(q))
            for s, n, t, q in self._read(
                "SELECT scenario, n, total, total_sq FROM preferences WHERE child_id = ? ORDER BY scenario", (child_id,)
            )
        }
        pinned, excluded = self._read("SELECT pinned, excluded FROM children WHERE id = ?", (child_id,))[0]
        return Preferences(
            child_id,
            arms,
            str(pinned) if pinned is not None else None,
            frozenset(json.loads(str(excluded))),
        )

    def save_preferences(self, prefs: Preferences) -> None:
        """Store a child's preferences (all of them, in one transaction)."""
        self._need_child(prefs.child_id)
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute("DELETE FROM preferences WHERE child_id = ?", (prefs.child_id,))
                self._conn.executemany(
                    "INSERT INTO preferences (child_id, scenario, n, total, total_sq) VALUES (?, ?, ?, ?, ?)",
                    [(prefs.child_id, s, a.n, a.total, a.total_sq) for s, a in sorted(prefs.arms.items())],
                )
                self._conn.execute(
                    "UPDATE children SET pinned = ?, excluded = ? WHERE id = ?",
                    (prefs.pinned, json.dumps(sorted(prefs.excluded)), prefs.child_id),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    # ------------------------------------------------------------------------ sessions

    def start_session(
        self,
        child_id: str,
        scenario: str,
        t0: float,
        *,
        scenario_source: str | None = None,
        started_at: str | None = None,
    ) -> int:
        """Open a session log; ``t0``: the controller's clock at the start. Returns its id."""
        self._need_child(child_id)
        sha = self.record_scenario(scenario, scenario_source) if scenario_source is not None else None
        cur = self._write(
            "INSERT INTO sessions (child_id, scenario, started_at, t0, scenario_sha256) VALUES (?, ?, ?, ?, ?)",
            (child_id, scenario, started_at or _now_iso(), t0, sha),
        )
        return int(cur.lastrowid or 0)

    def log_reading(self, session_id: int, reading: Reading, valence: float | None = None) -> None:
        """A derived reading of the child (probabilities, valence, arousal); never an image."""
        v = valence if valence is not None else reading.valence
        self._write(
            "INSERT INTO emotions (session_id, t, valence, arousal, probs) VALUES (?, ?, ?, ?, ?)",
            (
                session_id,
                reading.time,
                v if reading.has_face else None,
                reading.arousal,
                json.dumps(dict(reading.probs)),
            ),
        )

    def log_stimulus(self, session_id: int, t: float, state: str, action: str, intensity: dict[str, float]) -> None:
        self._write(
            "INSERT INTO stimuli (session_id, t, state, action, light, sound, vibration) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (session_id, t, state, action, intensity["light"], intensity["sound"], intensity["vibration"]),
        )

    def log_alert(self, session_id: int, alert: Alert) -> None:
        self._write(
            "INSERT INTO alerts (session_id, t, kind, priority, message) VALUES (?, ?, ?, ?, ?)",
            (session_id, alert.t, alert.kind, alert.priority, alert.message),
        )

    def log_operator(self, session_id: int, t: float, action: str, detail: str = "") -> None:
        self._write(
            "INSERT INTO operator_actions (session_id, t, action, detail) VALUES (?, ?, ?, ?)",
            (session_id, t, action, detail),
        )

    def save_log(self, log: SessionLog) -> int:
        """Store a whole :class:`SessionLog` (e.g. from a replay) as a new session; returns its id."""
        self.add_child(log.child_id)
        sid = self.start_session(log.child_id, log.scenario, log.t0, started_at=log.started_at)
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                c = self._conn
                c.executemany(
                    "INSERT INTO emotions (session_id, t, valence, arousal, probs) VALUES (?, ?, ?, ?, ?)",
                    [(sid, e.t, e.valence, e.arousal, json.dumps(dict(e.probs))) for e in log.emotions],
                )
                c.executemany(
                    "INSERT INTO stimuli (session_id, t, state, action, light, sound, vibration) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(sid, p.t, p.state, p.action, p.light, p.sound, p.vibration) for p in log.stimuli],
                )
                c.executemany(
                    "INSERT INTO alerts (session_id, t, kind, priority, message) VALUES (?, ?, ?, ?, ?)",
                    [(sid, a.t, a.kind, a.priority, a.message) for a in log.alerts],
                )
                c.executemany(
                    "INSERT INTO operator_actions (session_id, t, action, detail) VALUES (?, ?, ?, ?)",
                    [(sid, o.t, o.action, o.detail) for o in log.operator],
                )
                c.execute(
                    "UPDATE sessions SET ended_at = ?, reward = ?, outcome = ? WHERE id = ?",
                    (log.ended_at, log.reward, log.outcome, sid),
                )
                c.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return sid

    def end_session(self, session_id: int, *, reward: float | None, outcome: str, ended_at: str | None = None) -> None:
        """Close a session log with its reward (valence change) and how it ended."""
        self._write(
            "UPDATE sessions SET ended_at = ?, reward = ?, outcome = ? WHERE id = ?",
            (ended_at or _now_iso(), reward, outcome, session_id),
        )

    def sessions(self, child_id: str | None = None) -> list[SessionInfo]:
        """The session history, newest first (one child's, or everyone's)."""
        sql = "SELECT id, child_id, scenario, started_at, ended_at, reward, outcome FROM sessions"
        rows = (
            self._read(sql + " WHERE child_id = ? ORDER BY id DESC", (child_id,))
            if child_id
            else self._read(sql + " ORDER BY id DESC")
        )
        return [
            SessionInfo(
                int(r[0]),
                str(r[1]),
                str(r[2]),
                str(r[3]),
                None if r[4] is None else str(r[4]),
                None if r[5] is None else float(r[5]),
                None if r[6] is None else str(r[6]),
            )
            for r in rows
        ]

    def session(self, session_id: int) -> SessionLog:
        """One session's full log."""
        head = self._read(
            "SELECT child_id, scenario, started_at, t0, ended_at, reward, outcome FROM sessions WHERE id = ?",
            (session_id,),
        )
        if not head:
            raise EmolensError(f"no session {session_id} in {self.path}")
        child, scenario, started, t0, ended, reward, outcome = head[0]
        emotions = tuple(
            EmotionPoint(float(t), _opt(v), json.loads(str(p)), _opt(a))
            for t, v, a, p in self._read(
                "SELECT t, valence, arousal, probs FROM emotions WHERE session_id = ? ORDER BY t, rowid", (session_id,)
            )
        )
        stimuli = tuple(
            StimulusPoint(float(t), str(s), str(a), float(x), float(y), float(z))
            for t, s, a, x, y, z in self._read(
                "SELECT t, state, action, light, sound, vibration FROM stimuli WHERE session_id = ? ORDER BY t, rowid",
                (session_id,),
            )
        )
        alerts = tuple(
            Alert(float(t), str(k), _priority(p), str(m))
            for t, k, p, m in self._read(
                "SELECT t, kind, priority, message FROM alerts WHERE session_id = ? ORDER BY t, rowid", (session_id,)
            )
        )
        operator = tuple(
            OperatorRecord(float(t), str(a), str(d))
            for t, a, d in self._read(
                "SELECT t, action, detail FROM operator_actions WHERE session_id = ? ORDER BY t, rowid", (session_id,)
            )
        )
        return SessionLog(
            child_id=str(child),
            scenario=str(scenario),
            started_at=str(started),
            t0=float(t0),
            emotions=emotions,
            stimuli=stimuli,
            alerts=alerts,
            operator=operator,
            session_id=session_id,
            ended_at=None if ended is None else str(ended),
            reward=_opt(reward),
            outcome=None if outcome is None else str(outcome),
        )


def _priority(p: Any) -> Priority:
    for known in PRIORITIES:
        if p == known:
            return known
    raise EmolensError(f"unknown alert priority {p!r} in the relaxation database")


def _opt(x: Any) -> float | None:
    return None if x is None else float(x)
