"""Batch runs without analysing a video: finding inputs, fingerprints, the manifest, the option key,
the data set and the overview, the Ray address, the CLI's errors, and a run whose every input is
unusable (no worker is started)."""

from __future__ import annotations

import csv
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

import emolens
from emolens.batch.dataset import require_pyarrow, write_dataset, write_video_table
from emolens.batch.inputs import discover, input_key, video_id
from emolens.batch.manifest import DONE, FAILED, Manifest
from emolens.batch.overview import render_overview
from emolens.batch.ray_backend import ray_address
from emolens.batch.run import _lock, _sweep, analyze_videos, make_config
from emolens.batch.types import BatchSummary, VideoResult
from emolens.cli import main
from emolens.errors import EmolensError
from emolens.labels import EMOTIONS
from emolens.types import DetectorOptions, StreamOptions


def touch(path: Path, data: bytes = b"\0video") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_discover_folders_recursively_by_extension(tmp_path: Path) -> None:
    a = touch(tmp_path / "v" / "a.mp4")
    b = touch(tmp_path / "v" / "deep" / "er" / "B.MOV")
    touch(tmp_path / "v" / "notes.txt", b"x")
    touch(tmp_path / "v" / ".hidden.mp4")
    touch(tmp_path / "v" / ".cache" / "c.mp4")
    found = discover([tmp_path / "v"])
    assert [v.path for v in found] == [str(a), str(b)]
    assert all(v.problem is None for v in found)


def test_discover_list_files_resolve_relative_paths(tmp_path: Path) -> None:
    a = touch(tmp_path / "clips" / "a.mp4")
    (tmp_path / "clips" / "x.mp4").mkdir()
    lst = tmp_path / "clips" / "list.txt"
    lst.write_text("# videos\n\na.mp4\n  ./a.mp4  \nmissing.mp4\nx.mp4\nhttps://example.org/v.mp4\n", encoding="utf-8")
    found = discover([lst, a])
    assert [Path(v.path).name for v in found] == ["a.mp4", "missing.mp4", "x.mp4", "v.mp4"]  # each once
    by_name = {Path(v.path).name: v for v in found}
    assert by_name["a.mp4"].problem is None
    assert by_name["missing.mp4"].problem is None  # found missing when fingerprinted, and recorded as failed
    assert "folder" in (by_name["x.mp4"].problem or "")
    assert "URL" in (by_name["v.mp4"].problem or "")


def test_discover_refuses_missing_inputs_and_urls(tmp_path: Path) -> None:
    with pytest.raises(EmolensError, match="input not found"):
        discover([tmp_path / "nope"])
    with pytest.raises(EmolensError, match="URLs"):
        discover(["rtsp://camera/stream"])
    assert discover([tmp_path]) == []


def test_video_ids_are_stable_readable_and_distinct() -> None:
    a, b = video_id("/data/x/clip one.mp4"), video_id("/data/y/clip one.mp4")
    assert a.startswith("clip_one-") and b.startswith("clip_one-") and a != b
    assert a == video_id("/data/x/clip one.mp4")
    assert video_id("/data/..mp4").startswith("video-")


def test_input_key_follows_contents_and_mtime(tmp_path: Path) -> None:
    p = touch(tmp_path / "a.mp4", os.urandom(3 << 20))
    k = input_key(p)
    assert k == input_key(p)
    data = bytearray(p.read_bytes())
    data[-10] ^= 0xFF  # a change in the last MiB, same size, mtime restored
    st = p.stat()
    p.write_bytes(bytes(data))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert input_key(p) != k
    k2 = input_key(p)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert input_key(p) != k2
    with pytest.raises(OSError):
        input_key(tmp_path / "missing.mp4")


def test_manifest_round_trip_and_replace(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite"
    with Manifest(path) as m:
        m.record(
            VideoResult("a", "/a.mp4", frames=10, faces=7, tracks=1, fps=25.0, seconds=0.5),
            input_key="k",
            options_key="o",
        )
        m.record(VideoResult("b", "/b.mp4", error="broken"), input_key="", options_key="o")
        m.set_meta("x", "1")
    with Manifest(path) as m:
        recs = m.records()
        assert recs["a"].state == DONE and recs["a"].faces == 7 and recs["a"].duration_s == pytest.approx(0.4)
        assert recs["b"].state == FAILED and recs["b"].error == "broken"
        m.record(VideoResult("b", "/b.mp4", frames=3, fps=30.0), input_key="k2", options_key="o")
        assert m.records()["b"].state == DONE and m.get_meta("x") == "1" and m.get_meta("y") is None
    bad = touch(tmp_path / "bad.sqlite", b"not a database, just bytes" * 100)
    with pytest.raises(EmolensError, match="manifest"):
        Manifest(bad)
    import sqlite3

    with sqlite3.connect(tmp_path / "future.sqlite") as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(EmolensError, match="another emolens version"):
        Manifest(tmp_path / "future.sqlite")


def test_options_key_follows_what_shapes_the_outputs(tmp_path: Path) -> None:
    base = make_config(None, None, "haar", StreamOptions(), tmp_path)
    assert base.key() == make_config(None, None, "haar", StreamOptions(), tmp_path / "elsewhere").key()
    assert base.key() != replace(base, options=StreamOptions(detect_every=5)).key()
    assert base.key() != replace(base, tta="hflip").key()
    assert base.key() != replace(base, detector="yunet").key()
    stricter = make_config(
        None, None, "haar", StreamOptions(), tmp_path, detector_options=DetectorOptions(haar_min_neighbors=8)
    )
    assert base.key() != stricter.key()
    assert base.key() == replace(stricter, detector_options=DetectorOptions()).key()
    assert base.key() != replace(base, model_sha256="0" * 64).key()
    assert "/" not in base.model  # a bundled model travels by name, so every node loads its own copy
    accurate = make_config("accurate", None, "haar", StreamOptions(), tmp_path)
    # the short name's own file (the variant this machine prefers, as for the default) and its mode travel together
    four = base.model.replace("emolens-vgg-fer2013", "emolens-vgg4-fer2013")
    assert (accurate.model, accurate.tta) == (four, "shift") and four != base.model
    assert make_config("accurate", "none", "haar", StreamOptions(), tmp_path).tta == "none"
    with pytest.raises(EmolensError, match="unknown detector"):
        make_config(None, None, "nope", StreamOptions(), tmp_path)


def test_ray_address() -> None:
    assert ray_address(False) is None and ray_address(None) is None
    assert ray_address(True) == "local"
    for a in ("local", "auto", "ray://head:10001", "10.0.0.5:6379", "head-node.lan:6379"):
        assert ray_address(a) == a
    with pytest.raises(EmolensError, match="not a Ray address"):
        ray_address("videos/")


def write_table(path: Path, rows: list[tuple[int, float, int | str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["frame", "time", "track_id", "x", "y", "w", "h", *EMOTIONS, "label", "valence"])
        for frame, t, tid, label in rows:
            w.writerow([frame, f"{t:.4f}", tid, 1, 2, 30, 30, *(f"{1 / 7:.5f}" for _ in EMOTIONS), label, "positive"])
    return path


def test_dataset_gathers_the_tables(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    a = write_table(tmp_path / "a.csv", [(0, 0.0, 1, "happy"), (0, 0.0, 2, "sad"), (1, 0.04, 1, "happy")])
    b = write_table(tmp_path / "b.csv", [])
    c = write_table(tmp_path / "c.csv", [(5, 0.2, "", "neutral")])
    stats = write_dataset([("a", a), ("b", b), ("c", c)], tmp_path / "d.parquet")
    assert stats.rows == 4 and stats.labels == EMOTIONS
    assert stats.label_counts == {"a": {"happy": 2, "sad": 1}, "b": {}, "c": {"neutral": 1}}
    t = pq.read_table(tmp_path / "d.parquet")
    assert t.num_rows == 4 and t.column_names[:4] == ["video_id", "frame", "time", "track_id"]
    assert t.column("video_id").to_pylist() == ["a", "a", "a", "c"]
    assert t.column("track_id").to_pylist() == [1, 2, 1, None]
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
    empty = write_dataset([], tmp_path / "e.parquet")
    assert empty.rows == 0 and pq.read_table(tmp_path / "e.parquet").num_rows == 0


def test_dataset_refuses_a_foreign_table(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    bad = touch(tmp_path / "x.csv", b"a,b,c\n1,2,3\n")
    with pytest.raises(EmolensError, match="not a per-frame table"):
        write_dataset([("x", bad)], tmp_path / "d.parquet")
    assert not (tmp_path / "d.parquet").exists() and not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_missing_pyarrow_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(EmolensError, match=r"pip install 'emolens\[batch\]'"):
        require_pyarrow()
    touch(tmp_path / "v" / "a.mp4")
    with pytest.raises(EmolensError, match="pyarrow"):
        analyze_videos(tmp_path / "v", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_a_run_of_unusable_inputs_records_each_reason(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "gone.mp4").symlink_to(tmp_path / "nowhere.mp4")
    (tmp_path / "v" / "dir.mp4").mkdir()
    lst = tmp_path / "list.txt"
    lst.write_text(f"{tmp_path / 'v' / 'dir.mp4'}\nhttp://host/a.mp4\n", encoding="utf-8")
    touch(tmp_path / "out" / "videos" / ".x-0123456789.csv.deadbeef.tmp.csv")  # left by a killed run
    s = analyze_videos([tmp_path / "v", lst], out=tmp_path / "out", workers=1)
    assert isinstance(s, BatchSummary) and isinstance(s, emolens.BatchSummary)
    assert (s.videos, s.analysed, s.skipped, s.failed, s.rows, s.workers) == (3, 0, 0, 3, 0, 0)
    reasons = {Path(f.path).name: f.reason for f in s.failures}
    assert "broken link" in reasons["gone.mp4"] and "folder" in reasons["dir.mp4"] and "URL" in reasons["a.mp4"]
    assert not s.ok and s.dataset.is_file() and s.table.is_file() and s.overview.is_file()
    assert not list((tmp_path / "out" / "videos").iterdir())
    with open(s.table, newline="", encoding="utf-8") as fh:
        assert {r["state"] for r in csv.DictReader(fh)} == {"failed"}
    assert "gone.mp4" in s.overview.read_text(encoding="utf-8")
    assert s.as_dict()["failures"][0]["reason"]


def test_one_run_at_a_time_per_folder(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "gone.mp4").symlink_to(tmp_path / "nowhere.mp4")
    out = tmp_path / "out"
    out.mkdir()
    with _lock(out), pytest.raises(EmolensError, match="another batch run"):
        analyze_videos(tmp_path / "v", out=out)
    analyze_videos(tmp_path / "v", out=out)  # the lock is released with its holder


def test_a_failed_video_leaves_no_output(tmp_path: Path) -> None:
    from emolens.batch.run import _drop_outputs

    ours = [
        touch(tmp_path / n) for n in ("v-1.csv", "v-1.json", ".v-1.csv.0a1b2c3d.tmp.csv", ".v-1.json.0a1b2c3d.tmp.json")
    ]
    theirs = [touch(tmp_path / n) for n in ("v-12.csv", ".v-12.csv.0a1b2c3d.tmp.csv", "w-1.json")]
    _drop_outputs(tmp_path, "v-1")
    assert not any(p.exists() for p in ours) and all(p.exists() for p in theirs)


def test_sweep_removes_only_temporary_files(tmp_path: Path) -> None:
    keep = [touch(tmp_path / n) for n in ("a.csv", ".a.csv", "a.12345678.tmp.csv", ".lock")]
    gone = [touch(tmp_path / n) for n in (".a.csv.0a1b2c3d.tmp.csv", ".faces.parquet.ffffffff.tmp.parquet")]
    _sweep(tmp_path)
    assert all(p.exists() for p in keep) and not any(p.exists() for p in gone)


def test_overview_escapes_and_shows_failures() -> None:
    from emolens.batch.dataset import DatasetStats
    from emolens.batch.manifest import Record

    now = time.time()
    recs = [
        Record("a-1", "/v/<a>.mp4", DONE, "k", "o", None, 100, 90, 1, 25.0, 2.0, 1.9, 150.0, now),
        Record("b-2", "/v/b.mp4", FAILED, "", "o", "cannot open <it>", 0, 0, 0, None, 0.1, 0.1, None, now),
    ]
    stats = DatasetStats(EMOTIONS, 90, {"a-1": {"happy": 60, "sad": 30}})
    summary = BatchSummary(
        Path("out"), 2, 1, 0, 1, (), 100, 90, 3.0, "local", 2, 150.0,
        Path("m"), Path("d"), Path("t"), Path("o"),
    )  # fmt: skip
    page = render_overview(recs, stats, summary)
    assert "&lt;a&gt;.mp4" in page and "cannot open &lt;it&gt;" in page and "<a>" not in page
    assert "1 done" in page and "1 failed" in page and "happy 66.7%" in page


def test_video_table_one_row_per_video(tmp_path: Path) -> None:
    from emolens.batch.dataset import DatasetStats
    from emolens.batch.manifest import Record

    recs = [
        Record("a-1", "/v/a.mp4", DONE, "k", "o", None, 100, 90, 1, 25.0, 2.0, 1.5, None, 0.0),
        Record("b-2", "/v/b.mp4", FAILED, "", "o", "broken, badly", 0, 0, 0, None, 0.0, 0.0, None, 0.0),
    ]
    write_video_table(recs, DatasetStats(EMOTIONS, 90, {"a-1": {"happy": 60, "sad": 30}}), tmp_path / "v.csv")
    with open(tmp_path / "v.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["state"] for r in rows] == ["done", "failed"]
    assert rows[0]["dominant"] == "happy" and float(rows[0]["share_happy"]) == pytest.approx(2 / 3, abs=1e-5)
    assert rows[0]["duration_s"] == "4.000" and rows[0]["frames_per_s"] == "50.00" and rows[0]["cpu_seconds"] == "1.500"
    assert rows[1]["error"] == "broken, badly" and rows[1]["share_happy"] == ""


def test_public_api_is_lazy() -> None:
    import subprocess

    assert "analyze_videos" in emolens.__all__ and "BatchSummary" in emolens.__all__
    assert emolens.analyze_videos is analyze_videos
    code = (
        "import sys, emolens, emolens.batch, emolens.batch.run, emolens.batch.cli; "
        "heavy = [m for m in ('numpy', 'cv2', 'onnxruntime', 'pyarrow', 'ray') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pyarrow")
    assert main(["batch", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("emolens: error: input not found"), err
    assert main(["batch", "--ray", "videos/", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "not a Ray address" in capsys.readouterr().err
    assert main(["batch", str(tmp_path), "--out", str(tmp_path / "o"), "--workers", "0"]) == 2
    assert "workers must be 1 or more" in capsys.readouterr().err
    assert main(["batch", str(tmp_path), "--out", str(tmp_path / "o"), "--detect-every", "0"]) == 2
    assert "detect_every" in capsys.readouterr().err


def test_cli_reports_failures_with_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pyarrow")
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "gone.mp4").symlink_to(tmp_path / "nowhere.mp4")
    js = tmp_path / "s.json"
    code = main(["batch", str(tmp_path / "v"), "--out", str(tmp_path / "o"), "--no-progress", "--json", str(js)])
    out = capsys.readouterr().out
    assert code == 1 and "1 failed" in out and "failed: " in out and "gone.mp4" in out
    import json

    assert json.loads(js.read_text())["failed"] == 1
