import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from audio_support import tone, write_audio
from emolens.errors import EmolensError
from emolens.video.source import Frame, FrameSource, open_source


def write_clip(path: Path, frames: int = 20, fps: float = 10.0, size: tuple[int, int] = (64, 48)) -> Path:
    """A small MJPG AVI whose frame i has the gray level 10 * i mod 250 (and a noisy band at the top)."""
    w = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert w.isOpened()
    rng = np.random.default_rng(0)
    for i in range(frames):
        img = np.full((size[1], size[0], 3), (10 * i) % 250, np.uint8)
        img[:4] = rng.integers(0, 256, (4, size[0], 3), dtype=np.uint8)
        w.write(img)
    w.release()
    return path


def test_frames_of_a_file(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.avi", frames=20, fps=10.0)
    with open_source(clip) as src:
        assert (src.fps, src.frame_count, src.width, src.height) == (10.0, 20, 64, 48)
        assert src.duration_s == 2.0 and not src.live and src.kind == "file"
        frames = list(src)
    assert [f.index for f in frames] == list(range(20))
    assert [f.time_s for f in frames] == pytest.approx([i / 10 for i in range(20)])
    assert all(isinstance(f, Frame) and f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8 for f in frames)
    assert abs(int(frames[7].image[24, 32, 0]) - 70) <= 6  # frame order is kept
    with pytest.raises(EmolensError, match="only once"):
        iter(src)


def test_shared_clip_properties(media: Path) -> None:
    src = open_source(str(media / "pyfeat_single_face.mp4"))
    try:
        assert (src.width, src.height, src.fps, src.frame_count) == (640, 360, 30.0, 72)
        first = next(iter(src))
        assert first.index == 0 and first.time_s == 0.0 and first.image.shape == (360, 640, 3)
    finally:
        src.close()


def write_faststart_mp4(path: Path, frames: int = 48, fps: int = 12) -> Path:
    """An MPEG-4 MP4 with its index first (as web downloads are): cut short, it still opens."""
    import av

    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        rng = np.random.default_rng(0)
        for i in range(frames):
            img = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
            img[:, : 2 + i] = 200
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.mark.parametrize("kind", ["avi", "mp4"])
def test_a_truncated_file_is_refused_when_it_is_opened(tmp_path: Path, kind: str) -> None:
    """A file cut short whose header or index still announces all its frames: refused at once, not
    analysed in part as if it were whole; the whole file opens and yields every frame."""
    clip = write_clip(tmp_path / "c.avi", frames=30) if kind == "avi" else write_faststart_mp4(tmp_path / "c.mp4")
    with open_source(clip) as src:
        assert sum(1 for _ in src) == src.frame_count
    data = clip.read_bytes()
    cut = tmp_path / f"cut.{kind}"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(EmolensError, match=f"cannot use .*cut.{kind}: the video is truncated"):
        open_source(cut)


def test_a_file_that_ends_early_without_an_index_ends_cleanly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """FrameSource itself, on a capture whose announced count is more than it yields: a warning, no error."""
    clip = write_clip(tmp_path / "c.avi", frames=30)
    data = clip.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    src = FrameSource(cv2.VideoCapture(str(cut), cv2.CAP_FFMPEG), str(cut), "file")
    src._prime()
    with caplog.at_level(logging.WARNING), src:
        assert src.frame_count == 30  # what the header announces
        n = sum(1 for _ in src)
    assert 5 <= n < 30
    assert "ends after" in caplog.text


def test_an_mp4_cut_before_its_index_cannot_be_opened(tmp_path: Path, media: Path) -> None:
    data = (media / "pyfeat_single_face.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(EmolensError, match="cannot open .*cut.mp4: not a video, or a corrupt or truncated one"):
        open_source(cut)


def test_clear_errors(tmp_path: Path, media: Path) -> None:
    with pytest.raises(EmolensError, match="video not found"):
        open_source(tmp_path / "missing.mp4")
    for name in ("notes.mp4", "notes.txt"):  # FFmpeg itself would play a .txt as scrolling text
        text = tmp_path / name
        text.write_text("not a video, déjà vu\n" * 300, encoding="utf-8")
        with pytest.raises(EmolensError, match=f"{name} is a text file, not a video"):
            open_source(text)
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(EmolensError, match="cannot open"):
        open_source(empty)
    with pytest.raises(EmolensError, match="is an image, not a video"):
        open_source(media / "fer_justin.jpg")
    with pytest.raises(EmolensError, match=r"talk.mp4 is a sound file \(wav\), not a video; use 'emolens audio'"):
        open_source(write_audio(tmp_path / "talk.wav", tone(0.5)).rename(tmp_path / "talk.mp4"))
    with pytest.raises(EmolensError, match="not a video file"):
        open_source(tmp_path)


def test_camera_and_stream_errors() -> None:
    with pytest.raises(EmolensError, match="cannot open camera 97"):
        open_source(97)
    with pytest.raises(EmolensError, match="cannot open camera 98"):
        open_source("98")  # digits that name no file: a camera index
    with pytest.raises(EmolensError, match="cannot open the stream"):
        open_source("http://127.0.0.1:9/nothing.mp4")  # refused at once, nothing is downloaded


def test_invalid_camera_numbers_are_refused_before_opencv_sees_them() -> None:
    """OpenCV crashes (SIGSEGV) on a negative camera index and overflows past a C int."""
    import emolens

    for source in (-1, np.int64(-3), "99999999999", 2**40):
        with pytest.raises(EmolensError, match=r"no camera number -?\d+: cameras are numbered from 0"):
            open_source(source)  # type: ignore[arg-type]
    for source in (True, 1.5, None, b"0"):
        with pytest.raises(EmolensError, match="give a video file, a stream URL or a camera number"):
            open_source(source)  # type: ignore[arg-type]
    with pytest.raises(EmolensError, match="no camera number -1"):
        emolens.stream(-1)
