"""The manifest of a batch run: what became of each video, in an SQLite file in the output folder.

One row per video id: its path, its state (``done`` or ``failed``), the fingerprint of its file
(:func:`~emolens.batch.inputs.input_key`) and of the options (:meth:`WorkerConfig.key`) it was
analysed with, the reason it failed, and its figures. Only the driver writes it, one transaction
per finished video, so an interrupted run (Ctrl+C, a crash, a power cut) leaves every video
either recorded with complete outputs or not recorded at all; a video being analysed is not
recorded, and is redone by the next run. ``meta`` holds a few run-wide values (the fingerprint of
the last dataset written).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from emolens.batch.types import VideoResult
from emolens.errors import EmolensError

__all__ = ["DONE", "FAILED", "Manifest", "Record"]

DONE = "done"
FAILED = "failed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    state TEXT NOT NULL,
    input_key TEXT NOT NULL,
    options_key TEXT NOT NULL,
    error TEXT,
    frames INTEGER NOT NULL DEFAULT 0,
    faces INTEGER NOT NULL DEFAULT 0,
    tracks INTEGER NOT NULL DEFAULT 0,
    fps REAL,
    seconds REAL NOT NULL DEFAULT 0,
    cpu_seconds REAL NOT NULL DEFAULT 0,
    peak_rss_mb REAL,
    finished REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
SCHEMA_VERSION = 1
"""Kept in the file's ``user_version``; a manifest of another version is refused, not misread."""


@dataclass(frozen=True)
class Record:
    """One video's row of the manifest."""

    id: str
    path: str
    state: str
    input_key: str
    options_key: str
    error: str | None
    frames: int
    faces: int
    tracks: int
    fps: float | None
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float | None
    finished: float

    @property
    def duration_s(self) -> float | None:
        """The video's length in seconds (its frames over its frame rate), when known."""
        return self.frames / self.fps if self.fps else None


class Manifest:
    """The SQLite manifest at ``path`` (created when absent); close it, or use it with ``with``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            if version not in (0, SCHEMA_VERSION):
                self._db.close()
                raise EmolensError(
                    f"the manifest {self.path} is of another emolens version ({version}); delete it to start over"
                )
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as e:
            raise EmolensError(f"cannot use the manifest {self.path}: {e} (delete it to start over)") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def records(self) -> dict[str, Record]:
        """Every video recorded, by id."""
        rows = self._db.execute(
            "SELECT id, path, state, input_key, options_key, error, frames, faces, tracks, fps, seconds,"
            " cpu_seconds, peak_rss_mb, finished FROM videos"
        ).fetchall()
        return {r[0]: Record(*r) for r in rows}

    def record(self, result: VideoResult, *, input_key: str, options_key: str) -> Record:
        """Record what became of one video (replacing what an earlier run recorded)."""
        rec = Record(
            id=result.id,
            path=result.path,
            state=DONE if result.ok else FAILED,
            input_key=input_key,
            options_key=options_key,
            error=result.error,
            frames=result.frames,
            faces=result.faces,
            tracks=result.tracks,
            fps=result.fps,
            seconds=result.seconds,
            cpu_seconds=result.cpu_seconds,
            peak_rss_mb=result.peak_rss_mb,
            finished=time.time(),
        )
        self._db.execute(
            "INSERT OR REPLACE INTO videos VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                rec.id,
                rec.path,
                rec.state,
                rec.input_key,
                rec.options_key,
                rec.error,
                rec.frames,
                rec.faces,
                rec.tracks,
                rec.fps,
                rec.seconds,
                rec.cpu_seconds,
                rec.peak_rss_mb,
                rec.finished,
            ),
        )
        return rec

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
