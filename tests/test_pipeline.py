import csv
import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

import emolens
from emolens.errors import EmolensError
from emolens.imageio import read_image
from emolens.labels import EMOTIONS
from emolens.runtime.recognizer import Recognizer
from emolens.types import Face, FrameResult, SmoothingOptions, TrackerOptions
from emolens.video import pipeline
from emolens.video.outputs import AnnotatedVideoWriter, CsvWriter, TrackLog, VideoOutputs, summarize, write_timeline
from emolens.video.pipeline import stream
from emolens.video.tracking import iou_matrix

MAX_FRAMES = 60
SMILE = range(40, 60)  # frames where the man of pyfeat_single_face.mp4 smiles broadly (he is neutral at frame 0)
ONE_HIT = TrackerOptions(min_hits=1)  # faces shown from their first detection: for tests of the per-frame mechanics


@pytest.fixture(scope="module")
def rec() -> Recognizer:
    return Recognizer(threads=1)


@pytest.fixture(scope="module")
def single_face(rec: Recognizer) -> list[FrameResult]:
    """The first 60 frames of the single-face clip with the real-time defaults (Haar every 10th frame at half size)."""
    from conftest import MEDIA, need

    with stream(need(MEDIA / "pyfeat_single_face.mp4"), rec, max_frames=MAX_FRAMES) as vs:
        return list(vs)


def test_stream_is_exported_lazily() -> None:
    assert {"stream", "StreamOptions", "Face"} <= set(emolens.__all__)
    assert emolens.stream is pipeline.stream and emolens.StreamOptions is pipeline.StreamOptions
    assert emolens.Face is Face


def test_one_result_per_frame_in_order(single_face: list[FrameResult]) -> None:
    assert [r.index for r in single_face] == list(range(MAX_FRAMES))
    assert [r.time for r in single_face] == pytest.approx([i / 30 for i in range(MAX_FRAMES)])
    assert all(r.image.shape == (360, 640, 3) for r in single_face)
    # a new face is detected again on each next frame until its track is confirmed (min_hits=3:
    # frames 0, 1, 2); from then on every 10th frame
    assert [r.detected for r in single_face] == [i < 3 or (i - 2) % 10 == 0 for i in range(MAX_FRAMES)]


def test_single_face_keeps_one_track_id(single_face: list[FrameResult]) -> None:
    with_face = [r for r in single_face if r.faces]
    assert len(with_face) >= 0.95 * MAX_FRAMES
    assert all(len(r.faces) == 1 for r in with_face)
    assert {f.track_id for r in with_face for f in r.faces} == {1}


def test_scores_are_smoothed_probabilities(single_face: list[FrameResult]) -> None:
    for r in single_face:
        for f in r.faces:
            assert set(f.scores) == set(EMOTIONS)
            assert sum(f.scores.values()) == pytest.approx(1.0, abs=1e-4)
            assert f.valence == emolens.valence_of(f.label)
            assert set(f.extra) == {"raw_label", "raw_scores"}
            assert f.extra["raw_label"] == max(f.extra["raw_scores"], key=f.extra["raw_scores"].get)


def test_the_smile_is_recognised_as_happy(single_face: list[FrameResult]) -> None:
    labels = [r.faces[0].label for r in single_face if r.index in SMILE and r.faces]
    assert len(labels) >= 15
    assert Counter(labels)["happy"] > len(labels) / 2, Counter(labels)


def test_the_happy_score_rises_with_the_smile(single_face: list[FrameResult]) -> None:
    """Meaningful only with a trained model: the raw happy score is higher smiling than neutral."""
    neutral = [r.faces[0].extra["raw_scores"]["happy"] for r in single_face[:3] if r.faces]
    smiling = [r.faces[0].extra["raw_scores"]["happy"] for r in single_face if r.index in SMILE and r.faces]
    assert neutral and smiling
    assert np.mean(smiling) > np.mean(neutral) + 0.1, (np.mean(neutral), np.mean(smiling))


def two_people_clip(path: Path, media: Path, frames: int = 4) -> Path:
    img = np.ascontiguousarray(read_image(media / "facerec_two_people.jpg")[:250])  # the faces, not the shirts
    w = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (img.shape[1], img.shape[0]))
    assert w.isOpened()
    for i in range(frames):
        w.write(np.roll(img, 2 * i, axis=1))  # the faces drift right by 2 pixels a frame
    w.release()
    return path


def test_faces_of_a_frame_go_to_the_model_in_one_batch(
    rec: Recognizer, media: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = two_people_clip(tmp_path / "two.avi", media)
    calls: list[int] = []
    original = rec.predict_faces

    def counting(faces: list[np.ndarray]) -> np.ndarray:
        calls.append(len(faces))
        return original(faces)

    monkeypatch.setattr(rec, "predict_faces", counting)
    with stream(clip, rec, smoothing=None, tracking=ONE_HIT) as vs:
        results = list(vs)
    assert [len(r.faces) for r in results] == [2, 2, 2, 2]
    assert calls == [2, 2, 2, 2]
    ids = [sorted(f.track_id for f in r.faces if f.track_id is not None) for r in results]
    assert ids == [[1, 2]] * 4
    first = {f.track_id: f.box for f in results[0].faces}
    last = {f.track_id: f.box for f in results[-1].faces}
    assert all(iou_matrix([first[t]], [last[t]])[0, 0] > 0.6 for t in first)  # each id follows its own face
    for f in results[0].faces:  # no smoothing: the scores are the raw ones
        assert f.scores == f.extra["raw_scores"] and f.label == f.extra["raw_label"]


def test_detect_every_k_without_follow_keeps_the_last_boxes(rec: Recognizer, media: Path, tmp_path: Path) -> None:
    clip = two_people_clip(tmp_path / "two.avi", media, frames=5)
    with stream(clip, rec, detect_every=3, follow=None, tracking=ONE_HIT) as vs:
        results = list(vs)
    assert [r.detected for r in results] == [True, False, False, True, False]
    assert [len(r.faces) for r in results] == [2] * 5
    assert {f.track_id for r in results for f in r.faces} == {1, 2}
    boxes = [sorted(f.box for f in r.faces) for r in results]
    assert boxes[1] == boxes[2] == boxes[0]  # between detections: the last boxes of the tracks


def test_detect_every_k_follows_each_face_in_between(rec: Recognizer, media: Path, tmp_path: Path) -> None:
    clip = two_people_clip(tmp_path / "two.avi", media, frames=5)
    stages: list[str] = []
    with stream(clip, rec, detect_every=3, tracking=ONE_HIT, timing=lambda stage, s: stages.append(stage)) as vs:
        results = list(vs)
    assert [r.detected for r in results] == [True, False, False, True, False]
    assert [len(r.faces) for r in results] == [2] * 5
    by_id = [{f.track_id: f.box for f in r.faces} for r in results]
    assert all(set(b) == {1, 2} for b in by_id)
    for b in by_id[1:]:  # the faces do not move in this clip: each follow box stays on its own face
        assert all(iou_matrix([by_id[0][t]], [b[t]])[0, 0] > 0.6 for t in (1, 2))
    assert stages.count("detect") == 2 and stages.count("follow") == 3


def test_follow_finds_a_face_that_moved(media: Path) -> None:
    from emolens.detect import create_detector
    from emolens.preprocess import to_gray
    from emolens.video.follow import follow_face

    image = to_gray(read_image(media / "pyfeat_single_face.jpg"))
    (box,) = create_detector("haar").detect(image)
    dx, dy = -box[2] // 4, box[3] // 5
    shifted = np.roll(image, (dy, dx), axis=(0, 1))  # the face moved left and down
    truth = (box[0] + dx, box[1] + dy, box[2], box[3])
    new = follow_face(image, shifted, box)
    assert new is not None
    assert iou_matrix([new], [truth])[0, 0] > 0.9 > 0.6 > iou_matrix([box], [truth])[0, 0]
    noise = np.random.default_rng(0).integers(0, 256, image.shape, dtype=np.uint8)
    assert follow_face(image, noise, box) is None  # the face is gone
    assert follow_face(image, np.zeros_like(image), box) is None  # a blank frame matches nothing


def test_detect_scale_gives_boxes_in_frame_pixels(rec: Recognizer, media: Path, tmp_path: Path) -> None:
    clip = two_people_clip(tmp_path / "two.avi", media, frames=1)
    with stream(clip, rec, detect_scale=1.0, tracking=ONE_HIT) as vs:
        full = sorted(f.box for f in next(vs).faces)
    with stream(clip, rec, detect_scale=0.5, tracking=ONE_HIT) as vs:
        half = sorted(f.box for f in next(vs).faces)
    assert len(full) == len(half) == 2
    assert np.diag(iou_matrix(full, half)).min() > 0.6


def test_bad_arguments_fail_before_the_first_frame(rec: Recognizer, tmp_path: Path, media: Path) -> None:
    clip = media / "pyfeat_single_face.mp4"
    with pytest.raises(EmolensError, match="detect_every"):
        stream(clip, rec, detect_every=0)
    with pytest.raises(EmolensError, match="detect_scale"):
        stream(clip, rec, detect_scale=1.5)
    with pytest.raises(EmolensError, match="max_frames"):
        stream(clip, rec, max_frames=-1)
    with pytest.raises(EmolensError, match="unknown detector"):
        stream(clip, rec, detector="nope")
    with pytest.raises(EmolensError, match="unknown stream option detect_evry; valid: detect_every"):
        stream(clip, rec, detect_evry=2)
    with pytest.raises(EmolensError, match="video not found"):
        stream(tmp_path / "nope.mp4", rec)


# ---------------------------------------------------------------- outputs, on made-up results


def fake_results(n: int = 10) -> list[FrameResult]:
    """Track 1 neutral then happy, track 2 sad on the second half only, on a 30 fps timeline."""

    def face(tid: int, label: str, x: int) -> Face:
        scores = {lab: (0.7 if lab == label else 0.05) for lab in EMOTIONS}
        return Face((x, 20, 40, 40), label, scores, emolens.valence_of(label), tid, extra={"raw_label": label})

    img = np.full((120, 160, 3), 90, np.uint8)
    out = []
    for i in range(n):
        faces = [face(1, "neutral" if i < 4 else "happy", 10 + i)]
        if i >= n // 2:
            faces.append(face(2, "sad", 100))
        out.append(FrameResult(i, i / 30, faces, img))
    return out


def test_csv_rows(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    with CsvWriter(path) as w:
        for r in fake_results():
            w.write(r)
    rows = list(csv.DictReader(path.read_text().splitlines()))
    assert list(rows[0]) == ["frame", "time", "track_id", "x", "y", "w", "h", *EMOTIONS, "label", "valence"]
    assert len(rows) == 15 and w.rows == 15
    assert rows[0]["track_id"] == "1" and rows[0]["label"] == "neutral" and rows[0]["x"] == "10"
    assert float(rows[-1]["time"]) == pytest.approx(9 / 30, abs=1e-4)
    assert rows[-1]["label"] == "sad" and rows[-1]["valence"] == "negative"
    assert sum(float(rows[5][lab]) for lab in EMOTIONS) == pytest.approx(1.0, abs=1e-3)
    assert [p.name for p in tmp_path.iterdir()] == ["f.csv"]


def test_summary_per_track() -> None:
    log = TrackLog()
    for r in fake_results():
        log.add(r)
    s = summarize(log, source="x.mp4", fps=30.0)
    assert (s["frames"], s["faces"], s["source"]) == (10, 15, "x.mp4")
    t1, t2 = s["tracks"]
    assert (t1["track_id"], t1["frames"], t1["dominant"], t1["dominant_valence"]) == (1, 10, "happy", "positive")
    assert t1["share"]["happy"] == 0.6 and t1["share"]["neutral"] == 0.4
    assert sum(t1["share"].values()) == pytest.approx(1.0)
    assert (t1["first_s"], t1["last_s"]) == (0.0, pytest.approx(0.3))
    assert (t2["track_id"], t2["frames"], t2["dominant"], t2["first_s"]) == (
        2,
        5,
        "sad",
        pytest.approx(5 / 30, abs=1e-4),
    )
    assert t1["label_switches_per_s"] == pytest.approx(1 / 0.3, rel=1e-3)
    json.dumps(s)  # serialisable


def test_timeline_and_annotated_video(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    results = fake_results(12)
    log = TrackLog()
    video = AnnotatedVideoWriter(tmp_path / "a.mp4", fps=30.0)
    for r in results:
        log.add(r)
        video.write(r)
    assert not (tmp_path / "a.mp4").exists()  # only the temporary file so far
    video.commit()
    cap = cv2.VideoCapture(str(tmp_path / "a.mp4"))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 12 and cap.get(cv2.CAP_PROP_FRAME_WIDTH) == 160
    cap.release()
    write_timeline(tmp_path / "t.png", log)
    png = cv2.imread(str(tmp_path / "t.png"))
    assert png is not None and png.shape[0] > 200
    write_timeline(tmp_path / "empty.png", TrackLog())  # no faces: still a valid plot
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "empty.png", "t.png"]


def test_discarded_outputs_leave_nothing(tmp_path: Path) -> None:
    outs = VideoOutputs(EMOTIONS, fps=30.0, out=tmp_path / "a.mp4", csv=tmp_path / "f.csv")
    for r in fake_results(3):
        outs.add(r)
    assert len(list(tmp_path.iterdir())) == 2  # two temporary files
    outs.discard()
    assert list(tmp_path.iterdir()) == []


def test_a_failure_mid_video_writes_nothing(rec: Recognizer, media: Path, tmp_path: Path) -> None:
    class Failing:
        calls = 0

        def detect(self, image: np.ndarray) -> list[tuple[int, int, int, int]]:
            self.calls += 1
            if self.calls == 3:
                raise EmolensError("detector broke")
            return [(10, 10, 50, 50)]

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(EmolensError, match="detector broke"):
        pipeline.analyze_video(
            media / "pyfeat_single_face.mp4",
            rec,
            detector=Failing(),
            csv=out / "f.csv",
            json=out / "s.json",
            out=out / "a.mp4",
            progress=False,
        )
    assert list(out.iterdir()) == []


def test_analyze_video_smoothing_options(rec: Recognizer, media: Path, tmp_path: Path) -> None:
    summary = pipeline.analyze_video(
        media / "pyfeat_single_face.mp4",
        rec,
        smoothing=SmoothingOptions(alpha=0.5, margin=0.05),
        detect_every=4,
        detect_scale=0.5,
        max_frames=12,
        json=tmp_path / "s.json",
        progress=False,
    )
    assert summary == json.loads((tmp_path / "s.json").read_text())
    assert summary["frames"] == 12 and [t["track_id"] for t in summary["tracks"]] == [1]


@pytest.mark.parametrize("clip", ["pyfeat_single_face.mp4", "fer_test.mp4", "fer_woman2.mp4"])
def test_one_person_keeps_one_track_id_with_the_defaults(rec: Recognizer, media: Path, clip: str) -> None:
    ids: Counter[int] = Counter()
    frames = 0
    with stream(media / clip, rec) as vs:
        for r in vs:
            frames += 1
            ids.update(f.track_id for f in r.faces if f.track_id is not None)
    (main, count), *others = ids.most_common()
    assert count >= 0.95 * frames, ids  # the person is tracked on nearly every frame, under one id
    assert sum(n for _, n in others) <= 0.05 * frames, ids  # few, short-lived other boxes


def test_frame_analyzer_starts_afresh_when_the_frame_size_changes(rec: Recognizer, media: Path) -> None:
    from emolens.analysis import Analyzer
    from emolens.detect import create_detector
    from emolens.types import StreamOptions

    image = read_image(media / "facerec_two_people.jpg")[:250]
    analyzer = Analyzer(rec, create_detector("haar"), StreamOptions(tracking=ONE_HIT))
    first = analyzer.process(image, 0)
    second = analyzer.process(image, 1)  # followed, not detected
    assert first.detected and not second.detected and len(second.faces) == 2
    small = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2))
    third = analyzer.process(small, 2)  # another size: detected afresh, new track ids
    assert third.detected
    assert all(f.box[0] + f.box[2] <= small.shape[1] for f in third.faces)
    assert {f.track_id for f in third.faces}.isdisjoint({f.track_id for f in first.faces})
