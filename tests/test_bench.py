import json
from pathlib import Path

import pytest

from emolens.bench import VIDEO_STAGES, VideoBench, bench_video
from emolens.cli import main
from emolens.runtime.recognizer import Recognizer

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
        assert st.p50_ms is not None and st.p50_ms > 0, name
        assert st.p95_ms is not None and st.p95_ms >= st.p50_ms, name
        assert st.per_frame_ms > 0, name
    assert res.stages["decode"].calls == res.stages["draw"].calls == FRAMES
    assert res.stages["detect"].calls == FRAMES // 3 and res.stages["follow"].calls >= FRAMES - FRAMES // 3
    assert res.options["detect_every"] == 3 and res.options["follow"] is not None
    assert res.fps > 0 and 0 < res.fps_with_draw < res.fps and not res.fps_includes_draw
    assert res.faces_per_frame == pytest.approx(1.0, abs=0.1)
    assert res.frames_without_face <= 1
    assert res.fer is None and res.machine


def test_bench_video_detect_every_skips_the_detector(rec: Recognizer, media: Path) -> None:
    res = bench_video(
        media / "pyfeat_single_face.mp4", rec, max_frames=6, detect_every=3, follow=None, repeats=2, warmup=0
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
    assert data["frames"] == 10 and data["fps"] > 0 and data["stages"]["classify"]["calls"] == 10
    assert "fps_includes_draw" in data and "fer" in data
    assert "stage" in printed and "fps end to end" in printed


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
    assert set(where) == {"command", "date", "machine"}
    assert "logical CPUs" in where["machine"] and where["date"][:2] == "20" and where["command"]
