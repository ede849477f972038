import json
from pathlib import Path

import numpy as np
import pytest

from emolens.bench import VIDEO_STAGES, VideoBench, bench_video
from emolens.cli import main
from emolens.errors import DataError, EmolensError
from emolens.runtime.recognizer import Recognizer
from emolens.types import TrackerOptions

FRAMES = 15


@pytest.fixture(scope="module")
def rec() -> Recognizer:
    return Recognizer(threads=1)


def test_bench_video_times_every_stage(rec: Recognizer, media: Path) -> None:
    res = bench_video(media / "pyfeat_single_face.mp4", rec, max_frames=FRAMES, detect_every=3, warmup=1)
    assert isinstance(res, VideoBench)
    assert res.frames == FRAMES and res.repeats == 1 and (res.width, res.height) == (640, 360)
    assert set(res.stages) == set(VIDEO_STAGES)
    for name, st in res.stages.items():
        assert st.calls > 0, name
        assert st.p50_ms is not None and st.p95_ms is not None, name
        # per_frame_ms is the stage's total over the frames: at least half its calls took p50 or more
        assert st.per_frame_ms * FRAMES >= (st.calls // 2) * st.p50_ms * 0.999, name
    assert res.stages["decode"].calls == res.stages["draw"].calls == FRAMES
    # the new face is detected on frames 0, 1 and 2 until its track is confirmed (min_hits=3), then
    # every 3rd frame: 5, 8, 11, 14; the other frames are followed
    detected = 3 + len(range(5, FRAMES, 3))
    assert res.stages["detect"].calls == detected and res.stages["follow"].calls >= FRAMES - detected
    assert res.options["detect_every"] == 3 and res.options["follow"] is not None
    assert not res.fps_includes_draw
    # fps_with_draw adds the measured drawing time to the same run: 1/fps_with_draw - 1/fps is that time a frame
    draw_s = res.stages["draw"].per_frame_ms / 1000
    assert 1 / res.fps_with_draw - 1 / res.fps == pytest.approx(draw_s, rel=0.05)
    # the face shows from frame 2 on, once its track is confirmed (min_hits=3)
    assert res.faces_per_frame == pytest.approx((FRAMES - 2) / FRAMES, abs=0.1)
    assert 2 <= res.frames_without_face <= 3
    assert res.fer is None and res.machine


def test_bench_video_detect_every_skips_the_detector(rec: Recognizer, media: Path) -> None:
    res = bench_video(
        media / "pyfeat_single_face.mp4",
        rec,
        max_frames=6,
        detect_every=3,
        follow=None,
        tracking=TrackerOptions(min_hits=1),  # no extra detections while a new face is confirmed
        repeats=2,
        warmup=0,
    )
    assert res.frames == 6 and res.repeats == 2
    assert res.stages["decode"].calls == 12 and res.stages["detect"].calls == 4
    assert res.stages["follow"].calls == 0 and res.options["follow"] is None


def test_cli_bench_video_writes_json(media: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    code = main(
        ["bench", "video", str(media / "pyfeat_single_face.mp4"), "--max-frames", "10", "--threads", "1"]
        + ["--json", str(out)]
    )
    printed = capsys.readouterr().out
    assert code == 0
    data = json.loads(out.read_text())
    # the face shows (and is classified) from frame 2 on, once its track is confirmed (min_hits=3)
    assert data["frames"] == 10 and data["stages"]["classify"]["calls"] == 10 - 2
    assert data["fps_includes_draw"] is False and data["fer"] is None
    assert data["detector"] == "haar"  # named as the command line names it
    # the printed table is the JSON's figures, not other numbers
    assert f"{data['fps']:6.1f} fps end to end" in printed
    classify = data["stages"]["classify"]
    assert f"classify    {classify['calls']:6d} {classify['p50_ms']:8.2f}" in printed


@pytest.mark.parametrize(("name", "message"), [("notes.mp4", "not a video"), ("missing.mp4", "video not found")])
def test_cli_bench_video_rejects_a_non_video(
    name: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    if name == "notes.mp4":
        path.write_text("not a video\n" * 100)
    code = main(["bench", "video", str(path), "--threads", "1", "--json", str(tmp_path / "b.json")])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emolens: error:") and message in lines[0], err
    assert not (tmp_path / "b.json").exists()


def test_provenance_names_command_date_and_machine() -> None:
    from emolens.bench import provenance

    where = provenance()
    assert set(where) == {"command", "date", "machine", "system"}
    from emolens.info import system_info

    assert where["system"] == system_info()
    assert "logical CPUs" in where["machine"] and where["date"][:2] == "20" and where["command"]


def test_bench_models_covers_every_shipped_file(fer_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from emolens.bench import bench_models
    from emolens.models.bundled import WEIGHTS_DIR

    # accuracy on a sample of PrivateTest: tests/test_accuracy.py scores every model on all of it
    rows = bench_models(data=str(fer_root), repeats=3, min_faces=16, batches=(1, 8), threads=(1,), test_faces=600)
    # every file, and the short names that run one in a mode of its own
    names = [*(p.stem for p in WEIGHTS_DIR.glob("*.onnx")), "accurate", "fast"]
    assert sorted(r.name for r in rows) == sorted(names)
    accurate = next(r for r in rows if r.name == "accurate")
    assert accurate.tta == "shift" and accurate.precision.startswith("int8")
    for r in rows:
        assert set(r.faces_per_s) == {"b1t1", "b8t1"}
        assert r.params is not None and r.params > 1_000_000  # recorded in the file at export
        # the model cards' figures are 0.71-0.72 (FER-2013) and 0.84 (FER+) on all of PrivateTest
        assert r.test_accuracy is not None and r.test_accuracy >= 0.66
        if r.test_labels == "fer2013":
            assert r.test_faces == 600
        else:  # FER+'s majority votes drop ties and unclear faces from the same sample
            assert r.test_labels == "ferplus-majority" and r.test_faces is not None and 450 < r.test_faces < 600
    sizes = {r.precision.split("-")[0]: r.size_mb for r in rows}
    assert sizes["int8"] < 0.4 * sizes["fp32"]
    assert main(["bench", "models", "emolens-vgg-fer2013-int8", "--repeats", "2", "--min-faces", "4"]) == 0
    printed = capsys.readouterr().out
    assert "emolens-vgg-fer2013-int8" in printed and "int8-u8s8-rr" in printed and "CPU " in printed


def test_sample_faces_draws_the_same_faces_in_their_order() -> None:
    from emolens.bench import sample_faces
    from emolens.data.fer2013 import FaceSet

    faces = FaceSet(
        np.arange(50, dtype=np.uint8).reshape(50, 1, 1),
        np.arange(50) % 7,
        tuple(f"f{i}.png" for i in range(50)),
    )
    one, again = sample_faces(faces, 10), sample_faces(faces, 10)
    picked = one.images[:, 0, 0].astype(int)
    assert len(one) == 10 and len(set(picked)) == 10 and list(picked) == sorted(picked)
    assert np.array_equal(one.images, again.images)  # the same faces every time
    assert list(one.labels) == [i % 7 for i in picked] and one.paths == tuple(f"f{i}.png" for i in picked)
    assert not np.array_equal(sample_faces(faces, 10, seed=1).images, one.images)
    assert sample_faces(faces, None) is faces and sample_faces(faces, 50) is faces
    with pytest.raises(ValueError, match="at least one face"):
        sample_faces(faces, 0)


def test_bench_models_refuses_a_sample_of_no_faces(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "models", "--test-faces", "0"])
    assert exit_info.value.code == 2 and "must be at least 1, not 0" in capsys.readouterr().err


def test_bench_faces_on_real_faces_takes_them_in_turn(rec: Recognizer) -> None:
    from emolens.bench import bench_faces

    faces = np.random.default_rng(5).integers(0, 256, (20, 40, 40), dtype=np.uint8)
    faces[:, 0, 0] = np.arange(20)  # each face's number in its corner
    calls: list[int] = []

    class Counting:
        def __init__(self, inner: Recognizer) -> None:
            self.inner, self.meta, self.tta, self.threads = inner, inner.meta, "selective", inner.threads

        def predict_faces(self, batch: np.ndarray) -> np.ndarray:
            calls.append(int(batch[0, 0, 0]))
            return self.inner.predict_faces(batch)

    res = bench_faces(Counting(rec), faces=8, repeats=4, warmup=0, images=faces)  # type: ignore[arg-type]
    assert res.inputs == "real" and res.face_size == 40 and res.faces == 8 and res.faces_per_s > 0
    assert calls == [0, 8, 0, 8]  # the two whole batches of 8, in turn
    with pytest.raises(DataError, match="fewer than a batch"):
        bench_faces(rec, faces=32, images=faces)
    assert bench_faces(rec, faces=4, repeats=2).inputs == "random"


def test_bench_faces_overall_figure_counts_the_slow_calls(rec: Recognizer) -> None:
    """Selective flip makes some calls slower than others; the median call hides them, the overall
    figure (all faces over all the time) does not."""
    import time

    from emolens.bench import bench_faces

    faces = np.random.default_rng(6).integers(0, 256, (2, 48, 48), dtype=np.uint8)
    calls = 0

    class SlowEveryThird:
        def __init__(self, inner: Recognizer) -> None:
            self.inner, self.meta, self.tta, self.threads = inner, inner.meta, "selective", inner.threads

        def predict_faces(self, batch: np.ndarray) -> np.ndarray:
            nonlocal calls
            calls += 1
            if calls % 3 == 0:
                time.sleep(0.5)  # far longer than one pass over a face
            return self.inner.predict_faces(batch)

    res = bench_faces(SlowEveryThird(rec), faces=1, repeats=6, warmup=0, images=faces)  # type: ignore[arg-type]
    assert res.overall_faces_per_s < 6 / 1.0  # two slow calls in six
    assert res.faces_per_s > 3 * res.overall_faces_per_s  # the median call is a quick one


def test_bench_faces_refuses_values_that_time_nothing(rec: Recognizer, capsys: pytest.CaptureFixture[str]) -> None:
    from emolens.bench import bench_faces

    for kwargs in ({"faces": 0}, {"repeats": 0}, {"face_size": 4}, {"face_size": 100_000}):
        with pytest.raises(EmolensError):
            bench_faces(rec, **kwargs)  # type: ignore[arg-type]
    for flag in ("--faces", "--repeats", "--face-size"):
        with pytest.raises(SystemExit) as exit_info:
            main(["bench", "faces", flag, "-1"])
        assert exit_info.value.code == 2 and "must be at least 1" in capsys.readouterr().err


def test_test_accuracy_matches_classes_by_name_in_a_folder_of_some_classes(tmp_path: Path) -> None:
    """A folder with only happy/ and sad/ numbers them 0 and 1; the score must still compare names."""
    import shutil

    from conftest import write_fer_folder
    from emolens.bench import _test_accuracy
    from emolens.data.fer2013 import load_split
    from emolens.labels import EMOTIONS

    root = write_fer_folder(tmp_path / "fer", per_class=2)
    for name in EMOTIONS:
        if name not in ("happy", "sad"):
            shutil.rmtree(root / "test" / name)
    test = load_split(root, "test")
    assert test.classes == ("happy", "sad")

    class AlwaysHappy:
        labels = EMOTIONS

        def predict_faces(self, faces: np.ndarray) -> np.ndarray:
            return np.eye(len(EMOTIONS), dtype=np.float32)[[EMOTIONS.index("happy")] * len(faces)]

    acc, kind, n = _test_accuracy(AlwaysHappy(), test, root)  # type: ignore[arg-type]
    assert (acc, kind, n) == (0.5, "fer2013", 4)
