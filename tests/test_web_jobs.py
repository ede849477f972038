"""Video jobs through the HTTP API, end to end on real clips: progress, results, downloads, delete, expiry."""

import csv
import time
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed (pip install 'emolens[web]')")

from fastapi.testclient import TestClient  # noqa: E402

from emolens.labels import EMOTIONS  # noqa: E402
from emolens.runtime.recognizer import Recognizer  # noqa: E402
from emolens.web.app import create_app  # noqa: E402
from emolens.web.jobs import JobManager  # noqa: E402
from emolens.web.settings import ServeOptions  # noqa: E402

BASE = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer(threads=1)


def client_for(recognizer: Recognizer, **options: Any) -> TestClient:
    return TestClient(create_app(ServeOptions(**options), recognizer), base_url=BASE)


def cut_clip(source: Path, dest: Path, frames: int) -> Path:
    cap = cv2.VideoCapture(str(source))
    fps = cap.get(cv2.CAP_PROP_FPS)
    writer = None
    for _ in range(frames):
        ok, img = cap.read()
        assert ok
        if writer is None:
            writer = cv2.VideoWriter(str(dest), cv2.VideoWriter.fourcc(*"mp4v"), fps, (img.shape[1], img.shape[0]))
        writer.write(img)
    cap.release()
    assert writer is not None
    writer.release()
    return dest


def post_video(c: TestClient, path: Path) -> Any:
    with open(path, "rb") as fh:
        return c.post("/api/v1/videos", files={"file": (path.name, fh, "video/mp4")})


def wait_for(c: TestClient, job: str, statuses: tuple[str, ...], timeout: float = 180.0) -> list[dict[str, Any]]:
    """Poll the job until its status is one of ``statuses``; every status seen on the way."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = c.get(f"/api/v1/videos/{job}")
        assert r.status_code == 200, r.text
        seen.append(r.json())
        if seen[-1]["status"] in statuses:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"job {job} still {seen[-1]['status']} after {timeout} s")


def job_folder(c: TestClient) -> list[Path]:
    jobs: JobManager = c.app.state.jobs  # type: ignore[attr-defined]
    return sorted(jobs.root.iterdir())


def test_a_video_job_end_to_end(recognizer: Recognizer, media: Path, tmp_path: Path) -> None:
    clip = media / "pyfeat_single_face.mp4"
    with client_for(recognizer) as c:
        r = post_video(c, clip)
        assert r.status_code == 202, r.text
        info = r.json()
        job = info["id"]
        assert len(job) == 32 and info["status"] in ("queued", "running") and info["progress"] < 1
        assert r.headers["location"] == f"/api/v1/videos/{job}"
        assert info["filename"] == "pyfeat_single_face.mp4" and info["duration_s"] == pytest.approx(2.4, abs=0.05)
        assert info["frames_total"] == 72 and info["expires_in_s"] is None and info["summary"] is None
        assert info["links"] == {
            "frames_csv": f"/api/v1/videos/{job}/frames.csv",
            "annotated_mp4": f"/api/v1/videos/{job}/annotated.mp4",
            "timeline": f"/api/v1/videos/{job}/timeline",
        }
        early = c.get(f"/api/v1/videos/{job}/frames.csv")
        assert early.status_code in (200, 409)  # 409 unless the job has already finished
        seen = wait_for(c, job, ("done", "failed"))
        final = seen[-1]
        assert final["status"] == "done", final["error"]
        order = [s["status"] for s in seen]
        assert order == sorted(order, key=["queued", "running", "done"].index)
        progress = [s["progress"] for s in seen]
        assert progress == sorted(progress) and final["progress"] == 1.0
        assert final["frames_done"] == final["frames_total"] == 72 and 0 < final["expires_in_s"] <= 600
        summary = final["summary"]
        assert summary["source"] == "pyfeat_single_face.mp4" and summary["frames"] == 72
        (track,) = summary["tracks"]
        assert track["dominant"] in ("happy", "neutral")  # the clip: neutral turning into a smile
        # nearly every frame; none before frame 2: the face shows once its track is confirmed
        # (3 detections, TrackerOptions.min_hits)
        assert track["frames"] >= 66 - 2

        r = c.get(f"/api/v1/videos/{job}/frames.csv")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert 'filename="pyfeat_single_face_frames.csv"' in r.headers["content-disposition"]
        rows = list(csv.DictReader(r.text.splitlines()))
        per_frame = Counter(int(row["frame"]) for row in rows)
        assert len(rows) == summary["faces"] == sum(per_frame.values()) == track["frames"]
        assert max(per_frame.values()) == 1 and set(per_frame) <= set(range(2, 72))
        assert {row["track_id"] for row in rows} == {"1"}
        assert all(sum(float(row[e]) for e in EMOTIONS) == pytest.approx(1, abs=1e-3) for row in rows)

        r = c.get(f"/api/v1/videos/{job}/annotated.mp4")
        assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
        assert r.headers["content-disposition"].startswith("attachment")
        out = tmp_path / "annotated.mp4"
        out.write_bytes(r.content)
        cap = cv2.VideoCapture(str(out))
        assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 72 and cap.get(cv2.CAP_PROP_FRAME_WIDTH) == 640
        cap.release()

        # range requests, so that the page's player can seek
        whole = r.content
        assert r.headers["accept-ranges"] == "bytes"
        for asked, first, last in [
            ("bytes=0-99", 0, 99),
            ("bytes=1000-", 1000, len(whole) - 1),
            ("bytes=-10", len(whole) - 10, len(whole) - 1),
        ]:
            part = c.get(f"/api/v1/videos/{job}/annotated.mp4", headers={"Range": asked})
            assert part.status_code == 206, asked
            assert part.headers["content-range"] == f"bytes {first}-{last}/{len(whole)}"
            assert part.content == whole[first : last + 1] and part.headers["content-length"] == str(last - first + 1)
        past = c.get(f"/api/v1/videos/{job}/annotated.mp4", headers={"Range": f"bytes={len(whole)}-"})
        assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{len(whole)}"
        assert past.json()["detail"]

        # the chart's data: each track's valence over time, as in frames.csv
        timeline = c.get(f"/api/v1/videos/{job}/timeline").json()
        (line,) = timeline["tracks"]
        assert line["track_id"] == track["track_id"] and len(line["times"]) == len(rows)
        assert line["times"] == [float(row["time"]) for row in rows]
        happy_minus_negative = [
            float(row["happy"]) - sum(float(row[e]) for e in ("angry", "disgust", "fear", "sad")) for row in rows
        ]
        assert line["valence"] == pytest.approx(happy_minus_negative, abs=1e-3)
        assert line["labels"] == [row["label"] for row in rows]
        assert timeline["last_s"] == pytest.approx(track["last_s"], abs=1e-3)

        (folder,) = job_folder(c)
        assert sorted(p.name for p in folder.iterdir()) == ["annotated.mp4", "frames.csv", "upload.mp4"]
        assert c.delete(f"/api/v1/videos/{job}").status_code == 204
        assert not folder.exists() and job_folder(c) == []
        for suffix in ("", "/frames.csv", "/annotated.mp4", "/timeline"):
            assert c.get(f"/api/v1/videos/{job}{suffix}").status_code == 404
        assert c.delete(f"/api/v1/videos/{job}").status_code == 404


def test_queue_limit_409_and_cancelling(recognizer: Recognizer, media: Path) -> None:
    long_clip = media / "fer_woman2.mp4"  # 15.5 s: still running while the test goes on
    with client_for(recognizer, max_jobs=2) as c:
        first = post_video(c, long_clip).json()["id"]
        second = post_video(c, media / "pyfeat_single_face.mp4").json()["id"]
        r = post_video(c, media / "fer_test.mp4")
        assert r.status_code == 429 and "try again later" in r.json()["detail"] and r.headers["retry-after"]
        wait_for(c, first, ("running",))
        assert c.get(f"/api/v1/videos/{second}").json()["status"] == "queued"
        assert c.get("/api/v1/health").json()["jobs"] == 2
        for name in ("frames.csv", "annotated.mp4"):
            r = c.get(f"/api/v1/videos/{second}/{name}")
            assert r.status_code == 409 and "queued" in r.json()["detail"]
            assert c.get(f"/api/v1/videos/{first}/{name}").status_code == 409
        assert len(job_folder(c)) == 2
        # delete the queued job, then the running one: each folder is gone when DELETE answers
        assert c.delete(f"/api/v1/videos/{second}").status_code == 204
        assert len(job_folder(c)) == 1
        t = time.monotonic()
        assert c.delete(f"/api/v1/videos/{first}").status_code == 204
        assert time.monotonic() - t < 5 and job_folder(c) == []
        assert c.get(f"/api/v1/videos/{first}").status_code == 404
        assert c.get("/api/v1/health").json()["jobs"] == 0
        # the worker goes on with new jobs
        third = post_video(c, media / "fer_test.mp4")
        assert third.status_code == 202
        assert wait_for(c, third.json()["id"], ("done", "failed"))[-1]["status"] == "done"


def test_results_expire_and_everything_goes_at_shutdown(recognizer: Recognizer, media: Path, tmp_path: Path) -> None:
    clip = cut_clip(media / "pyfeat_single_face.mp4", tmp_path / "short.mp4", 12)
    with client_for(recognizer, keep_s=0.5) as c:
        root = c.app.state.jobs.root  # type: ignore[attr-defined]
        job = post_video(c, clip).json()["id"]
        done = wait_for(c, job, ("done", "failed"))[-1]
        assert done["status"] == "done" and done["frames_done"] == 12 and done["expires_in_s"] <= 0.5
        deadline = time.monotonic() + 10
        while job_folder(c) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert job_folder(c) == []  # the sweep removed it without anyone asking
        assert c.get(f"/api/v1/videos/{job}").status_code == 404
        kept = post_video(c, clip).json()["id"]  # still queued or running at shutdown
        assert root.is_dir()
    assert not root.exists()  # shutdown deletes every upload and result
    assert kept


def test_a_video_that_fails_during_analysis_reports_why(recognizer: Recognizer, media: Path, tmp_path: Path) -> None:
    # a job whose upload vanished before its turn: the job fails with a readable error, the worker goes on
    clip = cut_clip(media / "pyfeat_single_face.mp4", tmp_path / "short.mp4", 6)
    jobs = JobManager(recognizer, max_jobs=1)
    try:
        folder = jobs.new_folder()
        upload = folder / "upload.mp4"
        upload.write_bytes(clip.read_bytes())
        upload.unlink()  # the file is gone before the worker starts
        info = jobs.submit(folder, upload, "short.mp4", duration_s=0.2, fps=30.0, frames=6)
        jobs.start()
        deadline = time.monotonic() + 30
        while (jobs.info(info["id"]) or {}).get("status") in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.05)
        final = jobs.info(info["id"])
        assert final is not None and final["status"] == "failed"
        assert final["error"] == "video not found: short.mp4"  # the user's name, not the server's path
    finally:
        jobs.close()
    assert not jobs.root.exists()


def lying_avi(path: Path, frames: int = 300, claimed: int = 10) -> Path:
    """An MJPG AVI of ``frames`` frames at 10 fps whose header claims only ``claimed`` frames."""
    import struct

    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (64, 64))
    for i in range(frames):
        writer.write(np.full((64, 64, 3), i % 255, np.uint8))
    writer.release()
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, data.find(b"avih") + 8 + 16, claimed)  # dwTotalFrames
    struct.pack_into("<I", data, data.find(b"strh") + 8 + 32, claimed)  # dwLength
    path.write_bytes(bytes(data))
    return path


def test_a_header_that_lies_about_the_length_does_not_lift_the_limit(recognizer: Recognizer, tmp_path: Path) -> None:
    clip = lying_avi(tmp_path / "lying.avi")  # 30 s of frames, a header that says 1 s
    with client_for(recognizer, max_video_s=5) as c:
        r = post_video(c, clip)
        assert r.status_code == 202, r.text  # the header passes the check at upload...
        final = wait_for(c, r.json()["id"], ("done", "failed"))[-1]
        assert final["status"] == "failed" and "longer than the limit of 5 s" in final["error"]  # ...the frames do not
        assert final["frames_done"] <= 5 * 10 + 1


def test_uploads_in_progress_hold_a_place(recognizer: Recognizer) -> None:
    from emolens.web.jobs import JobsFull

    jobs = JobManager(recognizer, max_jobs=1)
    try:
        with jobs.reserve():
            with pytest.raises(JobsFull, match="already arriving, queued or being analysed"), jobs.reserve():
                pass  # a second upload while the first one arrives: refused before it sends its bytes
            folder = jobs.new_folder()
            (folder / "upload.mp4").write_bytes(b"")
            jobs.submit(folder, folder / "upload.mp4", "a.mp4", reserved=True)  # the arriving upload takes its place
        with pytest.raises(JobsFull):
            jobs.check_capacity()  # the queued job holds it now
    finally:
        jobs.close()


def test_a_download_racing_a_delete_is_a_404(recognizer: Recognizer, media: Path, tmp_path: Path) -> None:
    clip = cut_clip(media / "pyfeat_single_face.mp4", tmp_path / "short.mp4", 6)
    with client_for(recognizer) as c:
        job = post_video(c, clip).json()["id"]
        assert wait_for(c, job, ("done",))[-1]["status"] == "done"
        jobs = c.app.state.jobs  # type: ignore[attr-defined]
        original = jobs.output

        def output_then_deleted(job_id: str, name: str) -> Any:
            out = original(job_id, name)
            jobs.output = original
            jobs.delete(job_id)  # a DELETE lands between the status check and the opening of the file
            return out

        jobs.output = output_then_deleted
        r = c.get(f"/api/v1/videos/{job}/frames.csv")
        assert r.status_code == 404 and "unknown, deleted or expired" in r.json()["detail"]


def test_video_frames_over_the_pixel_limit_are_refused(recognizer: Recognizer, media: Path, tmp_path: Path) -> None:
    clip = cut_clip(media / "pyfeat_single_face.mp4", tmp_path / "short.mp4", 3)  # 640x360 frames
    with client_for(recognizer, max_image_pixels=100_000) as c:
        r = post_video(c, clip)
        assert r.status_code == 413 and "640x360 = 230,400 pixels, more than the limit of 100,000" in r.json()["detail"]
        assert c.get("/api/v1/health").json()["jobs"] == 0


def test_cancelling_right_after_the_upload(recognizer: Recognizer, media: Path) -> None:
    # the page's Cancel comes as soon as the upload answers: whatever the worker is doing with the job
    # then (not started, just starting, running), the DELETE answers 204, the job is gone, and so are its files
    with client_for(recognizer) as c:
        for _ in range(4):
            r = post_video(c, media / "fer_test.mp4")
            assert r.status_code == 202, r.text
            job = r.json()["id"]
            assert c.delete(f"/api/v1/videos/{job}").status_code == 204
            assert job_folder(c) == []
            gone = c.get(f"/api/v1/videos/{job}")
            assert gone.status_code == 404 and "deleted" in gone.json()["detail"]
            assert c.get(f"/api/v1/videos/{job}/timeline").status_code == 404
        assert c.get("/api/v1/health").json()["jobs"] == 0
        # the worker is free for the next job
        final = wait_for(c, post_video(c, media / "pyfeat_single_face.mp4").json()["id"], ("done", "failed"))[-1]
        assert final["status"] == "done"


def test_a_video_job_can_hear_the_sound_too(recognizer: Recognizer, media: Path, tmp_path: Path) -> None:
    from emolens.audio.labels import NOT_EMOTIONS, SPEECH_EMOTIONS

    clip = media / "pyfeat_single_face.mp4"  # 2.4 s with a sound track
    silent = cut_clip(media / "pyfeat_single_face.mp4", tmp_path / "silent.mp4", 20)  # OpenCV writes no sound
    with client_for(recognizer) as c:
        with open(clip, "rb") as fh:
            r = c.post("/api/v1/videos?voice=true", files={"file": (clip.name, fh, "video/mp4")})
        assert r.status_code == 202, r.text
        assert r.json()["voice"] is True
        final = wait_for(c, r.json()["id"], ("done", "failed"))[-1]
        assert final["status"] == "done", final["error"]
        voice = final["summary"]["voice"]
        assert voice["available"] is True and voice["windows"] >= 1
        kinds = ("speech_windows", "silence_windows", "music_windows", "non_speech_windows")
        assert voice["windows"] == sum(voice[k] for k in kinds)
        rows = list(csv.DictReader(c.get(f"/api/v1/videos/{final['id']}/frames.csv").text.splitlines()))
        assert rows and {"voice_label", "fused_label", "fused_happy"} <= set(rows[0])
        assert {row["voice_label"] for row in rows} <= set(SPEECH_EMOTIONS) | set(NOT_EMOTIONS) | {""}

        plain = post_video(c, clip).json()  # without ?voice: the faces alone, as before
        assert plain["voice"] is False
        done = wait_for(c, plain["id"], ("done", "failed"))[-1]
        assert done["status"] == "done" and "voice" not in done["summary"]
        assert "voice_label" not in c.get(f"/api/v1/videos/{plain['id']}/frames.csv").text.splitlines()[0]

        with open(silent, "rb") as fh:
            r = c.post("/api/v1/videos?voice=1", files={"file": ("silent.mp4", fh, "video/mp4")})
        final = wait_for(c, r.json()["id"], ("done", "failed"))[-1]
        assert final["status"] == "done", final["error"]
        assert final["summary"]["voice"]["available"] is False
        assert "no audio track" in final["summary"]["voice"]["reason"]
        reason = final["summary"]["voice"]["reason"]
        assert reason.startswith("silent.mp4 ") and "upload" not in reason, reason  # the upload's name, no server path

        with open(clip, "rb") as fh:
            r = c.post("/api/v1/videos?voice=perhaps", files={"file": (clip.name, fh, "video/mp4")})
        assert r.status_code == 422 and "voice" in r.json()["detail"]


def test_a_speech_model_that_cannot_load_refuses_voice_jobs_before_the_upload(
    recognizer: Recognizer, media: Path, tmp_path: Path
) -> None:
    with client_for(recognizer, speech_model=str(tmp_path / "missing.onnx")) as c:
        clip = media / "pyfeat_single_face.mp4"
        with open(clip, "rb") as fh:
            r = c.post("/api/v1/videos?voice=true", files={"file": (clip.name, fh, "video/mp4")})
        assert r.status_code == 503 and "speech model" in r.json()["detail"]
        assert job_folder(c) == []
        assert post_video(c, clip).status_code == 202  # the faces alone still work
