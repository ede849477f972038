"""Batch runs on real clips (copies of ../shared/media): good clips analysed, broken ones recorded
as failed with their reason, the Parquet data set equal to the per-video tables, reruns that redo
only what changed, the same tables under a local Ray, and Ctrl+C that stops cleanly and resumes."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import MEDIA, need
from emolens.batch.run import analyze_videos
from emolens.batch.types import BatchSummary

FER = "fer_test.mp4"  # 115 frames, one face
PYFEAT = "pyfeat_single_face.mp4"  # 72 frames, one face


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp" in p.name]


def csv_rows(path: Path) -> int:
    with open(path, newline="", encoding="utf-8") as fh:
        return sum(1 for _ in csv.DictReader(fh))


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A folder of two good clips (one in a subfolder), a truncated one, a text file named .mp4, an
    unreadable file, a broken link; and a list naming a folder called x.mp4."""
    fer = need(MEDIA / FER)
    root = tmp_path_factory.mktemp("batch-in")
    v = root / "videos"
    (v / "sub").mkdir(parents=True)
    shutil.copy(fer, v / FER)
    shutil.copy(MEDIA / PYFEAT, v / "sub" / PYFEAT)
    (v / "truncated.mp4").write_bytes(fer.read_bytes()[:100_000])
    (v / "notes.mp4").write_text("not a video\n", encoding="utf-8")
    locked = v / "locked.mp4"
    locked.write_text("unreadable\n", encoding="utf-8")  # root reads it anyway: then it is a text file
    locked.chmod(0)
    (v / "gone.mp4").symlink_to(root / "nowhere.mp4")
    (root / "x.mp4").mkdir()
    listed = root / "more.txt"
    listed.write_text("# a folder is not a video\nx.mp4\n", encoding="utf-8")
    return [v, listed]


@pytest.fixture(scope="module")
def first(inputs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[BatchSummary, Path]:
    pytest.importorskip("pyarrow")
    out = tmp_path_factory.mktemp("batch-out") / "run"
    return analyze_videos(inputs, out=out, workers=2), out


def test_good_clips_are_analysed_and_bad_ones_recorded(first: tuple[BatchSummary, Path]) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    s, out = first
    assert (s.videos, s.analysed, s.skipped, s.failed, s.backend, s.workers) == (7, 2, 0, 5, "local", 2)
    assert s.frames == 115 + 72
    reasons = {Path(f.path).name: f.reason for f in s.failures}
    assert "corrupt or truncated" in reasons["truncated.mp4"]
    assert "text file" in reasons["notes.mp4"]
    assert ("text file" if os.geteuid() == 0 else "Permission denied") in reasons["locked.mp4"]
    assert "broken link" in reasons["gone.mp4"]
    assert "folder" in reasons["x.mp4"]
    # each good clip: its per-frame table and summary; the data set is those tables
    tables = sorted((out / "videos").glob("*.csv"))
    assert [p.name.split("-")[0] for p in tables] == ["fer_test", "pyfeat_single_face"]
    assert len(list((out / "videos").glob("*.json"))) == 2
    rows = {p.stem: csv_rows(p) for p in tables}
    assert all(rows.values())
    data = pq.read_table(s.dataset)
    assert data.num_rows == s.rows == sum(rows.values())
    counts = data.group_by("video_id").aggregate([("frame", "count")]).to_pylist()
    assert {c["video_id"]: c["frame_count"] for c in counts} == rows
    assert data.schema.field("happy").type == pa.float32() and data.column_names[-2:] == ["label", "valence"]
    with open(tables[0], newline="", encoding="utf-8") as fh:
        first_row = next(csv.DictReader(fh))
    got = data.filter(pc.equal(data.column("video_id"), tables[0].stem)).slice(0, 1).to_pylist()[0]
    assert (got["frame"], got["x"], got["label"]) == (int(first_row["frame"]), int(first_row["x"]), first_row["label"])
    assert got["happy"] == pytest.approx(float(first_row["happy"]), abs=1e-6)
    # the table: one row per video; the overview names the failures
    with open(s.table, newline="", encoding="utf-8") as fh:
        states = {Path(r["path"]).name: r["state"] for r in csv.DictReader(fh)}
    assert states == {n: "failed" for n in reasons} | {FER: "done", PYFEAT: "done"}
    page = s.overview.read_text(encoding="utf-8")
    assert "2 done" in page and "5 failed" in page and "truncated.mp4" in page
    assert not temp_files(out)


@pytest.mark.slow
def test_reruns_redo_only_what_changed(first: tuple[BatchSummary, Path], inputs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(first[1], out)
    videos = out / "videos"
    before = mtimes(videos)
    s = analyze_videos(inputs, out=out, workers=1)
    assert (s.analysed, s.skipped, s.failed) == (0, 2, 5)  # the failed ones are tried again, the done ones not
    assert mtimes(videos) == before
    assert s.rows == first[0].rows

    victim = next(videos.glob("pyfeat_single_face-*.json"))
    victim.unlink()
    s = analyze_videos(inputs, out=out, workers=1)
    assert (s.analysed, s.skipped, s.frames) == (1, 1, 72)
    after = mtimes(videos)
    assert victim.exists() and all(after[n] == t for n, t in before.items() if not n.startswith("pyfeat"))
    assert after[victim.with_suffix(".csv").name] != before[victim.with_suffix(".csv").name]

    s = analyze_videos(inputs, out=out, workers=1, detect_every=5)  # another option: everything again
    assert (s.analysed, s.skipped, s.frames) == (2, 0, 115 + 72)
    assert not temp_files(out)


@pytest.mark.slow
def test_ray_gives_the_same_tables(first: tuple[BatchSummary, Path], inputs: list[Path], tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    import pyarrow.parquet as pq

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    try:
        s = analyze_videos(inputs, out=tmp_path / "ray", ray=True)
    finally:
        ray.shutdown()
    local = first[0]
    assert (s.backend, s.workers, s.analysed, s.failed, s.rows) == ("ray", 2, 2, 5, local.rows)
    assert sorted(s.failures, key=lambda f: f.path) == sorted(local.failures, key=lambda f: f.path)
    keys = [("video_id", "ascending"), ("frame", "ascending"), ("track_id", "ascending")]
    assert pq.read_table(s.dataset).sort_by(keys).equals(pq.read_table(local.dataset).sort_by(keys))
    for p in (first[1] / "videos").iterdir():
        assert (tmp_path / "ray" / "videos" / p.name).read_bytes() == p.read_bytes()


def done_in(manifest: Path) -> list[str]:
    try:
        with sqlite3.connect(manifest) as db:
            return [r[0] for r in db.execute("SELECT id FROM videos WHERE state = 'done'")]
    except sqlite3.Error:  # not created yet, or being written
        return []


def as_in_a_terminal() -> None:
    """In the child before it runs: Ctrl+C as a shell in a terminal leaves it (default, not blocked),
    whatever an earlier test or library left in this process (an ignored or blocked SIGINT is inherited)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_the_next_run_resumes(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    fer = need(MEDIA / FER)
    v = tmp_path / "videos"
    v.mkdir()
    for i in range(4):
        shutil.copy(fer, v / f"clip{i}.mp4")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "emolens", "batch", str(v), "--out", str(out), "--workers", "1", "--no-progress"]
    proc = subprocess.Popen(
        cmd,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_in_a_terminal,
    )
    try:
        deadline = time.monotonic() + 600  # a slow or busy machine: the first video may take long
        while not done_in(out / "manifest.sqlite") and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.poll() is None, "the run ended before a video was seen done: nothing left to interrupt"
        assert done_in(out / "manifest.sqlite"), "no video was done within 600 s"
        os.killpg(proc.pid, signal.SIGINT)  # as Ctrl+C in a terminal: the whole process group
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, f"{err} (SIGINT here: {signal.getsignal(signal.SIGINT)})"
    assert err.strip().endswith("emolens: interrupted") and "run again to resume" in err
    done = done_in(out / "manifest.sqlite")
    assert 1 <= len(done) < 4
    assert sorted(p.name for p in (out / "videos").iterdir()) == sorted(
        f"{d}{e}" for d in done for e in (".csv", ".json")
    )
    assert not temp_files(out)
    s = analyze_videos(v, out=out, workers=1)
    assert (s.analysed, s.skipped, s.failed) == (4 - len(done), len(done), 0)


def test_a_run_can_hear_the_sound_too(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    import json

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from emolens.audio.labels import NOT_EMOTIONS, SPEECH_EMOTIONS
    from emolens.errors import EmolensError
    from emolens.labels import EMOTIONS

    v = tmp_path / "in"
    v.mkdir()
    shutil.copy(need(MEDIA / FER), v / FER)  # no sound track
    shutil.copy(MEDIA / PYFEAT, v / PYFEAT)  # a sound track
    out = tmp_path / "run"
    s = analyze_videos([v], out=out, workers=1, audio=True)
    assert (s.analysed, s.failed) == (2, 0)
    voice_columns = ["voice_label", "voice_speech", *(f"fused_{e}" for e in EMOTIONS), "fused_label"]
    data = pq.read_table(s.dataset)
    assert data.column_names[-len(voice_columns) :] == voice_columns and data.num_rows == s.rows
    ids = {vid: vid.split("-")[0] for vid in data.column("video_id").unique().to_pylist()}
    by_name = {name: data.filter(pc.equal(data.column("video_id"), vid)) for vid, name in ids.items()}
    silent, heard = by_name["fer_test"], by_name["pyfeat_single_face"]
    assert set(silent.column("voice_label").to_pylist()) == {""} and silent.column("fused_happy").null_count == len(
        silent
    )
    labels = set(heard.column("voice_label").to_pylist())
    assert labels - {""} and labels <= set(SPEECH_EMOTIONS) | set(NOT_EMOTIONS) | {""}
    summaries = {p.name.split("-")[0]: json.loads(p.read_text()) for p in (out / "videos").glob("*.json")}
    assert summaries["pyfeat_single_face"]["voice"]["available"] is True
    assert summaries["fer_test"]["voice"]["available"] is False
    with open(s.table, newline="", encoding="utf-8") as fh:
        table = {r["video_id"].split("-")[0]: r for r in csv.DictReader(fh)}
    voice = summaries["pyfeat_single_face"]["voice"]
    assert table["pyfeat_single_face"]["voice_windows"] == str(voice["windows"])
    assert table["pyfeat_single_face"]["voice_speech_windows"] == str(voice["speech_windows"])
    assert table["fer_test"]["voice_windows"] == "" and "no audio track" in table["fer_test"]["voice_not_heard"]
    page = s.overview.read_text(encoding="utf-8")
    assert "<th>voice</th>" in page and "not heard: " in page and f"of {voice['windows']} windows speech" in page

    again = analyze_videos([v], out=out, workers=1, audio=True)
    assert (again.analysed, again.skipped) == (0, 2)
    faces_only = analyze_videos([v], out=out, workers=1)  # the sound changes the outputs: both again
    assert (faces_only.analysed, faces_only.skipped) == (2, 0)
    assert "voice_label" not in pq.read_table(faces_only.dataset).column_names
    assert "voice_emotion" not in faces_only.table.read_text(encoding="utf-8").splitlines()[0]
    assert "<th>voice</th>" not in faces_only.overview.read_text(encoding="utf-8")
    with pytest.raises(EmolensError, match="--audio"):
        analyze_videos([v], out=out, workers=1, speech_model="emolens-speech-ravdess")
