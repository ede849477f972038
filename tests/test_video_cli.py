import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from conftest import assert_one_line_error, run_main
from emolens.labels import EMOTIONS


@pytest.fixture
def outdir(tmp_path: Path) -> Path:
    d = tmp_path / "outputs"
    d.mkdir()
    return d


def outputs(d: Path) -> dict[str, str]:
    return {"--out": str(d / "a.mp4"), "--csv": str(d / "f.csv"), "--json": str(d / "s.json")}


def flat(opts: dict[str, str]) -> list[str]:
    return [x for kv in opts.items() for x in kv]


def probe(path: Path) -> tuple[tuple[str, int, int], tuple[str, float] | None]:
    """(video codec, frames, width) and (sound codec, seconds) or None, as FFmpeg reads the file back."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        video = (v.codec_context.name, sum(1 for _ in c.decode(v)), v.codec_context.width)
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return video, None
        a = c.streams.audio[0]
        chunks = list(c.decode(a))
        return video, (a.codec_context.codec.canonical_name, sum(f.samples for f in chunks) / chunks[0].sample_rate)


def test_video_writes_consistent_csv_summary_video_and_timeline(media: Path, outdir: Path) -> None:
    pytest.importorskip("matplotlib")
    args = [*flat(outputs(outdir)), "--timeline", str(outdir / "t.png")]
    r = subprocess.run(
        [sys.executable, "-m", "emolens", "video", str(media / "pyfeat_single_face.mp4"), *args]
        + ["--max-frames", "30", "--detect-scale", "0.5", "--threads", "1", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in outdir.iterdir()) == ["a.mp4", "f.csv", "s.json", "t.png"]  # no temporary files
    summary = json.loads((outdir / "s.json").read_text())
    rows = list(csv.DictReader((outdir / "f.csv").read_text().splitlines()))
    # a face on every frame from frame 2 on: it shows once its track is confirmed (3 detections,
    # TrackerOptions.min_hits), and it is detected on each frame until then
    assert summary["frames"] == 30 and summary["faces"] == len(rows) >= 30 - 2
    assert int(rows[0]["frame"]) == 2
    assert summary["fps"] == 30.0 and summary["detector"] == "haar" and summary["labels"] == list(EMOTIONS)
    per_track = Counter(int(row["track_id"]) for row in rows)
    assert {t["track_id"]: t["frames"] for t in summary["tracks"]} == dict(per_track) == {1: len(rows)}
    (track,) = summary["tracks"]
    labels = Counter(row["label"] for row in rows)
    assert track["share"] == {lab: pytest.approx(labels[lab] / len(rows), abs=1e-4) for lab in EMOTIONS}
    assert track["dominant"] == labels.most_common(1)[0][0]
    assert track["first_s"] == pytest.approx(float(rows[0]["time"]), abs=1e-3)
    assert track["last_s"] == pytest.approx(float(rows[-1]["time"]), abs=1e-3)
    assert sorted({int(row["frame"]) for row in rows}) == sorted(int(row["frame"]) for row in rows)
    for row in rows:
        assert sum(float(row[lab]) for lab in EMOTIONS) == pytest.approx(1.0, abs=1e-3)
        assert int(row["w"]) > 50 and row["valence"] in ("negative", "neutral", "positive")
    cap = cv2.VideoCapture(str(outdir / "a.mp4"))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 30 and cap.get(cv2.CAP_PROP_FRAME_WIDTH) == 640
    cap.release()
    video, sound = probe(outdir / "a.mp4")
    assert video == ("h264", 30, 640) and sound is not None  # H.264, with the clip's sound (MP3, copied)
    assert sound[0] == "mp3" and sound[1] == pytest.approx(30 / 30.0, abs=0.05)  # cut to the 30 frames
    assert cv2.imread(str(outdir / "t.png")) is not None
    assert "x264" not in r.stderr and "Lsize" not in r.stderr  # no encoder chatter


def test_a_truncated_video_is_refused_before_any_output(
    tmp_path: Path, outdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its header still announces 30 frames; analysing the 18 left as if they were the video would
    hide the loss: one error line, nothing written."""
    clip = tmp_path / "c.avi"
    w = cv2.VideoWriter(str(clip), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (96, 64))
    rng = np.random.default_rng(0)
    for _ in range(30):
        w.write(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8))
    w.release()
    data = clip.read_bytes()
    clip.write_bytes(data[: int(len(data) * 0.6)])
    code, _, err = run_main(capsys, "video", str(clip), "--json", str(outdir / "s.json"), "--no-progress")
    assert_one_line_error(code, err, "the video is truncated")
    assert list(outdir.iterdir()) == []


def test_summary_is_printed_without_output_files(media: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(
        capsys, "video", str(media / "pyfeat_single_face.mp4"), "--max-frames", "3", "--no-progress", "--threads", "1"
    )
    assert code == 0, err
    assert json.loads(out)["frames"] == 3


def test_unopenable_and_non_video_inputs(
    tmp_path: Path, media: Path, outdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outs = flat(outputs(outdir))
    code, _, err = run_main(capsys, "video", str(tmp_path / "missing.mp4"), *outs)
    assert_one_line_error(code, err, "video not found")
    text = tmp_path / "notes.mp4"
    text.write_text("hello\n" * 50)
    code, _, err = run_main(capsys, "video", str(text), *outs)
    assert_one_line_error(code, err, "is a text file, not a video")
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    code, _, err = run_main(capsys, "video", str(noise), *outs)
    assert_one_line_error(code, err, "not a video, or a corrupt or truncated one")
    code, _, err = run_main(capsys, "video", str(media / "fer_justin.jpg"), *outs)
    assert_one_line_error(code, err, "is an image, not a video")
    code, _, err = run_main(capsys, "video", str(media), *outs)
    assert_one_line_error(code, err, f"{media} is a folder, not a video file; 'emolens batch {media} --out DIR'")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes((media / "pyfeat_single_face.mp4").read_bytes()[:50_000])
    code, _, err = run_main(capsys, "video", str(cut), *outs)
    assert_one_line_error(code, err, "cannot open")
    code, _, err = run_main(capsys, "video", "--camera", "99", *outs)
    assert_one_line_error(code, err, "cannot open camera 99")
    assert list(outdir.iterdir()) == []


def test_unwritable_outputs(media: Path, outdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = str(media / "pyfeat_single_face.mp4")
    good = outputs(outdir)
    cases = [
        ({**good, "--csv": str(outdir / "no" / "such" / "f.csv")}, "does not exist"),
        ({**good, "--out": str(outdir / "a.txt")}, "use a video file name"),
        ({**good, "--out": str(outdir / "a.gif")}, "use a video file name ending in .mp4, .webm"),
        ({**good, "--out": str(outdir)}, "is a folder"),
        ({**good, "--json": good["--csv"]}, "two outputs are the same file"),
        ({**good, "--timeline": str(outdir / "t.bmpx")}, "--timeline"),
    ]
    for opts, pattern in cases:
        code, _, err = run_main(capsys, "video", clip, *flat(opts))
        assert_one_line_error(code, err, pattern)
        assert list(outdir.iterdir()) == [], pattern


def test_read_only_output_folder(media: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can write to read-only folders")
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    code, _, err = run_main(capsys, "video", str(media / "pyfeat_single_face.mp4"), "--csv", str(ro / "f.csv"))
    assert_one_line_error(code, err, "not writable")


def test_bad_options(
    media: Path, outdir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = str(media / "pyfeat_single_face.mp4")
    outs = flat(outputs(outdir))
    code, _, err = run_main(capsys, "video", *outs)
    assert_one_line_error(code, err, "give either a video file or URL, or --camera N")
    code, _, err = run_main(capsys, "video", clip, "--camera", "0", *outs)
    assert_one_line_error(code, err, "not both")
    code, _, err = run_main(capsys, "video", clip, "--detect-every", "0", *outs)
    assert_one_line_error(code, err, "detect_every must be a whole number of 1 or more")
    code, _, err = run_main(capsys, "video", clip, "--detector", "nope", *outs)
    assert_one_line_error(code, err, "unknown detector 'nope'")
    code, _, err = run_main(capsys, "video", clip, "--smoothing-alpha", "0", *outs)
    assert_one_line_error(code, err, "alpha")
    code, _, err = run_main(capsys, "video", clip, "--haar-min-neighbors", "-1", *outs)
    assert_one_line_error(code, err, "haar_min_neighbors must be a whole number of 0 or more")
    code, _, err = run_main(capsys, "video", clip, "--haar-scale-factor", "1", *outs)
    assert_one_line_error(code, err, "haar_scale_factor must lie in (1, 2]")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("EMOLENS_YUNET", raising=False)
    code, _, err = run_main(capsys, "video", clip, "--detector", "yunet", *outs)
    assert_one_line_error(code, err, "emolens fetch yunet")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code, _, err = run_main(capsys, "video", clip, "--show", *outs)
    assert_one_line_error(code, err, "--show needs")
    assert list(outdir.iterdir()) == []


def test_a_video_with_no_faces_gives_an_empty_result(
    tmp_path: Path, outdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = tmp_path / "wall.avi"
    w = cv2.VideoWriter(str(clip), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 120))
    assert w.isOpened()
    rng = np.random.default_rng(0)
    for _ in range(12):
        w.write(rng.integers(100, 140, (120, 160, 3), dtype=np.uint8))  # a plain, noisy wall
    w.release()
    code, out, err = run_main(capsys, "video", str(clip), *flat(outputs(outdir)), "--threads", "1", "--no-progress")
    assert code == 0, err
    summary = json.loads((outdir / "s.json").read_text())
    assert summary["frames"] == 12 and summary["faces"] == 0 and summary["tracks"] == []
    rows = list(csv.DictReader((outdir / "f.csv").read_text().splitlines()))
    assert rows == []  # the header only
    assert (outdir / "a.mp4").stat().st_size > 0  # the frames, with nothing drawn on them


def test_the_detector_options_reach_the_detector(media: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = str(media / "pyfeat_single_face.mp4")
    common = ["--max-frames", "12", "--detect-every", "4", "--threads", "1", "--no-progress"]
    found = []
    for size in ("30", "400"):  # the face is about 120 pixels wide in the frame the detector scans
        code, out, err = run_main(capsys, "video", clip, *common, "--haar-min-size", size)
        assert code == 0, err
        found.append(json.loads(out)["faces"])
    assert found[0] > 0 and found[1] == 0


def test_webm_output_and_progress_bar(media: Path, outdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = str(media / "pyfeat_single_face.mp4")
    common = ["--max-frames", "10", "--detect-scale", "0.5", "--threads", "1"]
    code, _, err = run_main(capsys, "video", clip, "--out", str(outdir / "a.webm"), *common)
    assert code == 0, err
    assert re.search(r"\b0/10 \[", err) and "frame/s" in err  # the bar, on stderr
    video, sound = probe(outdir / "a.webm")
    assert video == ("vp9", 10, 640) and sound is not None
    assert sound[0] == "opus" and sound[1] == pytest.approx(10 / 30.0, abs=0.05)
    code, _, err = run_main(capsys, "video", clip, "--json", str(outdir / "s.json"), "--no-progress", *common)
    assert code == 0 and "frame/s" not in err, err
    assert sorted(p.name for p in outdir.iterdir()) == ["a.webm", "s.json"]


def test_a_negative_camera_number_is_one_line_not_a_crash(tmp_path: Path) -> None:
    # a subprocess: before the check, OpenCV died of SIGSEGV on camera -1
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "emolens",
            "video",
            "--camera",
            "-1",
            "--max-frames",
            "5",
            "--csv",
            str(tmp_path / "f.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.strip().splitlines() == [
        "emolens: error: no camera number -1: cameras are numbered from 0 (the first camera) up"
    ], r.stderr
    assert list(tmp_path.iterdir()) == []


def test_sigterm_mid_run_leaves_no_partial_or_hidden_files(media: Path, outdir: Path) -> None:
    """SIGTERM stops `emolens video` as Ctrl+C does: the unfinished outputs are discarded, one line says so."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emolens",
            "video",
            str(media / "fer_woman2.mp4"),
            *flat(outputs(outdir)),
            "--threads",
            "1",
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 120
        # mid-run: the hidden temporary CSV beside f.csv holds rows of frames already analysed
        while time.monotonic() < deadline and proc.poll() is None:
            partial = [p for p in outdir.iterdir() if p.name.startswith(".f.csv.") and p.stat().st_size > 2000]
            if partial:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert partial, f"no partial output after 120 s: {sorted(p.name for p in outdir.iterdir())}"
        assert any(".tmp" in p.name for p in outdir.iterdir())  # the state the issue describes
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signal.SIGTERM, (proc.returncode, err)
    assert err.strip().splitlines() == ["emolens: terminated"], err
    assert out == ""
    assert sorted(p.name for p in outdir.iterdir()) == []  # no output, and no hidden .tmp file
