"""The local pool's workers: one that dies while analysing a video costs that video only (it is
replaced), and one that cannot load its model stops the run with the reason."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

import pytest

from conftest import MEDIA, need
from emolens.batch.local import run_local
from emolens.batch.run import make_config
from emolens.batch.types import VideoJob, VideoResult
from emolens.errors import EmolensError
from emolens.types import StreamOptions


def workers() -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.name.startswith("emolens-batch-")]


def test_a_worker_that_dies_costs_its_video_only(tmp_path: Path) -> None:
    clip = need(MEDIA / "fer_woman2.mp4")  # 464 frames: the worker reports progress before it ends
    text = tmp_path / "text.mp4"
    text.write_text("not a video\n", encoding="utf-8")
    config = make_config(None, None, "haar", StreamOptions(), tmp_path)
    killed: list[int] = []

    def kill_once(frames: int) -> None:  # as a decoder crash would, in the middle of the clip
        if not killed:
            (w,) = workers()
            assert w.pid is not None
            os.kill(w.pid, signal.SIGKILL)
            killed.append(w.pid)

    results: list[VideoResult] = []
    jobs = [VideoJob("clip", str(clip)), VideoJob("text", str(text))]
    run_local(jobs, config, 1, results.append, kill_once)
    assert len(killed) == 1
    by_id = {r.id: r.error for r in results}
    assert by_id["clip"] == "the worker process died (killed by signal 9)"
    assert "text file" in (by_id["text"] or "")  # analysed by the worker that replaced it
    assert not workers()


def test_a_worker_that_cannot_start_stops_the_run(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    config = make_config(bad, None, "haar", StreamOptions(), tmp_path)
    with pytest.raises(EmolensError, match="could not start: cannot load model"):
        run_local([VideoJob("a", str(tmp_path / "a.mp4"))], config, 2, lambda r: None)
    assert not workers()
