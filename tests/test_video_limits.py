"""Frames larger than a video's header announces (issue 11): check_frame_sizes, FrameSource.max_pixels, stream()."""

from pathlib import Path

import pytest

from bombs import small_header_video
from emolens.errors import ImageError
from emolens.runtime.recognizer import Recognizer
from emolens.video.pipeline import stream
from emolens.video.source import check_frame_sizes, open_source


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".mkv"])
def test_frames_larger_than_the_header_are_found_without_decoding_them(tmp_path: Path, suffix: str) -> None:
    clip = small_header_video(tmp_path / f"lying{suffix}", header=64, big=1200)
    with open_source(clip) as src:  # what OpenCV shows: the header's size, on every frame
        assert (src.width, src.height) == (64, 64)
        assert {frame.image.shape for frame in src} == {(64, 64, 3)}
    with pytest.raises(
        ImageError,
        match=r"lying\.\w+: the video has frames of 1200x1200 = 1,440,000 pixels, more than the limit of 1,000,000$",
    ):
        check_frame_sizes(clip, 1_000_000)
    check_frame_sizes(clip, 1_440_000)  # within the limit: nothing to say


def test_frame_source_and_stream_refuse_frames_over_max_pixels(tmp_path: Path, media: Path) -> None:
    clip = small_header_video(tmp_path / "lying.mp4", header=64, big=1200)
    src = open_source(clip)
    src.max_pixels = 1_000_000
    with pytest.raises(ImageError, match="1200x1200"):
        next(iter(src))
    with pytest.raises(ImageError, match="1200x1200"), stream(clip, Recognizer(threads=1), max_pixels=1_000_000) as vs:
        next(vs)
    # a stream is not read ahead: each frame is checked as it comes
    live = open_source((media / "pyfeat_single_face.mp4").resolve().as_uri())
    assert live.kind == "stream"
    live.max_pixels = 200_000
    with pytest.raises(ImageError, match=r"frame 0 is 640x360 = 230,400 pixels, more than the limit of 200,000$"):
        next(iter(live))
    with open_source(media / "pyfeat_single_face.mp4") as ok:  # the real clip, within a real limit
        ok.max_pixels = 40_000_000
        assert sum(1 for _ in ok) > 10
