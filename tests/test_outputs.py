"""The outputs of a video run, written with the real encoders: H.264/VP9 video with the source's
sound in sync, the writer registry, the timeline, and nothing left behind by a failure."""

import json
import struct
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from emolens.errors import EmolensError
from emolens.labels import EMOTIONS, valence_of
from emolens.types import Face, FrameResult
from emolens.video.draw import TRACK_COLORS, track_color
from emolens.video.encode import VideoEncoder
from emolens.video.outputs import (
    WRITERS,
    AnnotatedVideoWriter,
    CsvWriter,
    JsonWriter,
    OutputWriter,
    TimelineWriter,
    TrackLog,
    VideoOutputs,
    get_writer,
    render_timeline,
    summarize,
)
from emolens.video.source import open_source

HAMILTON = "facerec_short_hamilton_clip.mp4"  # 275 frames at 29.97 fps, AAC sound from 0.85 s before the first frame
PYFEAT = "pyfeat_single_face.mp4"  # 72 frames at 30 fps, MP3 sound


def face(tid: int | None, label: str = "happy", x: int = 10, number: int | None = None) -> Face:
    scores = {lab: (0.7 if lab == label else 0.05) for lab in EMOTIONS}
    return Face((x, 20, 40, 40), label, scores, valence_of(label), tid, number, extra={"raw_label": label})


def results_of(clip: Path, faces: list[Face] | None = None) -> list[FrameResult]:
    """The frames of a real clip (decoded as the pipeline decodes them), each with the given faces."""
    with open_source(clip) as src:
        return [FrameResult(f.index, f.time_s, list(faces or []), f.image) for f in src]


def write_video(dest: Path, results: list[FrameResult], fps: float, audio: Path | None = None) -> None:
    with AnnotatedVideoWriter(dest, fps=fps, audio=audio) as w:
        for r in results:
            w.write(r)


def probe(path: Path) -> dict[str, object]:
    """Codec names, frame count and durations as FFmpeg reads them back."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = [f.time for f in c.decode(v)]
        info: dict[str, object] = {
            "video": v.codec_context.name,
            "pix_fmt": v.codec_context.pix_fmt,
            "size": (v.codec_context.width, v.codec_context.height),
            "frames": len(frames),
            "video_s": float(v.duration * v.time_base) if v.duration is not None and v.time_base else None,
        }
    with av.open(str(path)) as c:
        if c.streams.audio:
            a = c.streams.audio[0]
            chunks = list(c.decode(a))
            info["audio"] = a.codec_context.codec.canonical_name
            info["audio_s"] = sum(ch.samples for ch in chunks) / chunks[0].sample_rate
        else:
            info["audio"] = None
    return info


def top_level_boxes(path: Path) -> list[bytes]:
    """The names of the top-level boxes of an MP4 file, in order."""
    data = path.read_bytes()
    names, i = [], 0
    while i + 8 <= len(data):
        size, name = struct.unpack(">I4s", data[i : i + 8])
        if size == 1:
            size = struct.unpack(">Q", data[i + 8 : i + 16])[0]
        names.append(name)
        if size < 8:
            break
        i += size
    return names


# ---------------------------------------------------------------- a made-up clip with a flash and a beep


def make_clip(
    path: Path, audio_codec: str, *, frames: int = 40, fps: int = 25, flash: int = 20, video_delay: int = 12
) -> float:
    """A clip whose picture turns white at frame ``flash`` while a 1 kHz beep starts: the same moment.

    The picture starts ``video_delay`` frames after the sound (as in many camera files), so the
    sound must be shifted to stay in sync. Returns the flash's time from the first frame.
    """
    rate = 44100
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264" if path.suffix != ".webm" else "libvpx-vp9", rate=fps)
        v.width, v.height, v.pix_fmt = 96, 64, "yuv420p"
        a = out.add_stream(audio_codec, rate=rate, layout="mono")
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((64, 96, 3), 255 if i >= flash else 30, np.uint8), "bgr24")
            frame.pts = video_delay + i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        t = np.arange(int((video_delay + frames + 10) / fps * rate)) / rate
        beep = np.where(t >= (video_delay + flash) / fps, 0.5 * np.sin(2 * np.pi * 1000 * t), 0.0)
        pcm = av.AudioFrame.from_ndarray((beep * 32767).astype(np.int16)[None, :], format="s16", layout="mono")
        pcm.sample_rate, pcm.pts, pcm.time_base = rate, 0, Fraction(1, rate)
        fmt = a.codec_context.codec.audio_formats[0].name
        resampler = av.AudioResampler(fmt, "mono", rate, frame_size=a.codec_context.frame_size or 1024)
        for chunk in [*resampler.resample(pcm), *resampler.resample(None)]:
            out.mux(a.encode(chunk))
        out.mux(a.encode(None))
    return flash / fps


def flash_and_beep(path: Path) -> tuple[float, float]:
    """When the picture turns white, and when the beep starts, in the file's own time."""
    with av.open(str(path)) as c:
        flash = next(f.time for f in c.decode(video=0) if f.to_ndarray(format="gray").mean() > 128)
    with av.open(str(path)) as c:
        for chunk in c.decode(audio=0):
            x = np.abs(chunk.to_ndarray().astype(np.float64)).max(axis=0)
            loud = np.nonzero(x > 0.1 * (32767 if chunk.format.name.startswith("s16") else 1))[0]
            if len(loud):
                return flash, chunk.time + loud[0] / chunk.sample_rate
    raise AssertionError(f"no beep in {path}")


# ---------------------------------------------------------------- video


def test_annotated_video_is_h264_and_keeps_the_sound(media: Path, tmp_path: Path) -> None:
    clip = media / HAMILTON
    results = results_of(clip, [face(1)])
    with av.open(str(clip)) as c:
        v = c.streams.video[0]
        assert v.duration is not None and v.time_base is not None
        source_s = float(v.duration * v.time_base)
        source_frames = sum(1 for _ in c.decode(v))
    out = tmp_path / "a.mp4"
    write_video(out, results, fps=open_source(clip).fps or 0, audio=clip)
    info = probe(out)
    assert info["video"] == "h264" and info["pix_fmt"] == "yuv420p" and info["size"] == (640, 360)
    assert info["frames"] == len(results) == source_frames == 275
    assert info["video_s"] == pytest.approx(source_s, abs=1 / 29.97)
    # the sound is kept (copied, AAC) and cut to the picture: the 0.85 s before the first frame are left out
    assert info["audio"] == "aac"
    assert info["audio_s"] == pytest.approx(source_s, abs=0.05)
    assert top_level_boxes(out).index(b"moov") < top_level_boxes(out).index(b"mdat")  # streamable: index first
    assert [p.name for p in tmp_path.iterdir()] == ["a.mp4"]


@pytest.mark.parametrize(
    ("source", "codec", "dest", "video", "audio"),
    [
        ("s.mp4", "aac", "o.mp4", "h264", "aac"),  # copied
        ("s.mkv", "libmp3lame", "o.mp4", "h264", "mp3"),  # copied
        ("s.mov", "pcm_s16le", "o.mp4", "h264", "aac"),  # browsers play no PCM in MP4: re-encoded
        ("s.mp4", "aac", "o.webm", "vp9", "opus"),  # WebM takes Opus: re-encoded
        ("s.mkv", "libmp3lame", "o.mkv", "h264", "mp3"),
    ],
)
def test_sound_stays_in_sync(tmp_path: Path, source: str, codec: str, dest: str, video: str, audio: str) -> None:
    src = tmp_path / source
    flash_s = make_clip(src, codec)
    assert flash_and_beep(src)[1] - flash_and_beep(src)[0] == pytest.approx(0, abs=0.002)  # the source is in sync
    results = results_of(src, [face(1)])
    out = tmp_path / dest
    write_video(out, results, fps=25.0, audio=src)
    info = probe(out)
    assert (info["video"], info["audio"], info["frames"]) == (video, audio, 40)
    flash, beep = flash_and_beep(out)
    assert beep - flash == pytest.approx(0, abs=0.005)  # in sync, to 5 ms
    assert flash - flash_s == pytest.approx(0, abs=0.05)  # where the frame times put it (up to the container's start)
    assert info["audio_s"] == pytest.approx(40 / 25, abs=0.05)  # the sound after the last frame is left out


def test_webm_is_vp9(media: Path, tmp_path: Path) -> None:
    results = results_of(media / PYFEAT, [face(1)])
    out = tmp_path / "a.webm"
    write_video(out, results, fps=30.0, audio=media / PYFEAT)
    info = probe(out)
    assert (info["video"], info["pix_fmt"], info["audio"], info["frames"]) == ("vp9", "yuv420p", "opus", 72)
    assert info["audio_s"] == pytest.approx(72 / 30, abs=0.05)


def test_silent_sources_odd_sizes_and_no_sound_asked(media: Path, tmp_path: Path) -> None:
    results = results_of(media / "fer_test.mp4")[:20]
    write_video(tmp_path / "a.mp4", results, fps=25.0, audio=media / "fer_test.mp4")  # a source without sound
    assert probe(tmp_path / "a.mp4")["audio"] is None
    odd = [FrameResult(r.index, r.time, [face(2)], r.image[:335, :595]) for r in results]  # 595x335
    write_video(tmp_path / "odd.mp4", odd, fps=25.0)
    info = probe(tmp_path / "odd.mp4")
    assert info["size"] == (596, 336) and info["frames"] == 20  # padded to even, as 4:2:0 needs
    pyfeat = results_of(media / PYFEAT)[:10]
    write_video(tmp_path / "mute.mp4", pyfeat, fps=30.0)  # sound not asked for
    assert probe(tmp_path / "mute.mp4")["audio"] is None


def test_frame_times_set_the_timestamps(tmp_path: Path) -> None:
    img = np.full((48, 64, 3), 80, np.uint8)
    enc = VideoEncoder(tmp_path / "v.mp4", 10.0)
    for t in (0.0, 0.1, 0.2, 0.5, 0.6):  # a gap of 0.3 s, as from a live source
        enc.write(img, t)
    enc.close()
    with av.open(str(tmp_path / "v.mp4")) as c:
        times = [round(float(f.time), 3) for f in c.decode(video=0)]
    assert times == [0.0, 0.1, 0.2, 0.5, 0.6]


def test_bad_video_outputs(tmp_path: Path) -> None:
    with pytest.raises(EmolensError, match=r"a\.gif: use a video file name ending in \.mp4, \.webm"):
        AnnotatedVideoWriter(tmp_path / "a.gif")
    with pytest.raises(EmolensError, match="frame rate"):
        AnnotatedVideoWriter(tmp_path / "a.mp4", fps=0.0)
    with pytest.raises(EmolensError, match="does not exist"):
        AnnotatedVideoWriter(tmp_path / "no" / "a.mp4")
    assert list(tmp_path.iterdir()) == []


def test_a_failure_mid_way_leaves_no_file(media: Path, tmp_path: Path) -> None:
    results = results_of(media / PYFEAT, [face(1)])[:6]
    outs = VideoOutputs(
        EMOTIONS,
        fps=30.0,
        out=tmp_path / "a.mp4",
        csv=tmp_path / "f.csv",
        json=tmp_path / "s.json",
        timeline=tmp_path / "t.png",
        audio=media / PYFEAT,
    )
    for r in results[:5]:
        outs.add(r)
    assert len(list(tmp_path.iterdir())) == 4  # the temporary files, hidden
    broken = FrameResult(5, 5 / 30, [], np.zeros((360, 640, 4), np.uint8))  # 4 channels: the encoder refuses it
    with pytest.raises(EmolensError, match=r"^cannot write the video .*a\.mp4: ") as err:
        outs.add(broken)
    assert "\n" not in str(err.value)
    outs.discard()
    assert list(tmp_path.iterdir()) == []


def test_no_frames_no_video(tmp_path: Path) -> None:
    outs = VideoOutputs(EMOTIONS, fps=30.0, out=tmp_path / "a.mp4", json=tmp_path / "s.json")
    outs.commit()
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]
    assert json.loads((tmp_path / "s.json").read_text())["frames"] == 0


# ---------------------------------------------------------------- writers by name


def test_writers_by_name(tmp_path: Path) -> None:
    assert {name: get_writer(name) for name in ("csv", "json", "video", "timeline")} == {
        "csv": CsvWriter,
        "json": JsonWriter,
        "video": AnnotatedVideoWriter,
        "timeline": TimelineWriter,
    }
    assert set(WRITERS) == {"csv", "json", "video", "timeline"}
    for name, cls in WRITERS.items():
        assert issubclass(cls, OutputWriter) and cls.name == name
    assert get_writer("video").suffixes == (".mp4", ".webm", ".mov", ".mkv", ".avi")
    assert get_writer("timeline").suffixes == (".png", ".svg", ".pdf")
    with pytest.raises(EmolensError, match="unknown output 'srt'; choose from csv, json, timeline, video"):
        get_writer("srt")


def test_each_writer_writes_its_file(media: Path, tmp_path: Path) -> None:
    results = [
        FrameResult(r.index, r.time, [face(1), face(2, "sad", x=300)], r.image) for r in results_of(media / PYFEAT)[:8]
    ]
    log = TrackLog()
    names = {"csv": "f.csv", "json": "s.json", "video": "a.mp4", "timeline": "t.svg"}
    writers = {name: get_writer(name)(tmp_path / file, fps=30.0) for name, file in names.items()}
    for r in results:
        log.add(r)
        for w in writers.values():
            w.write(r)
    assert not any((tmp_path / file).exists() for file in names.values())  # nothing in place before the end
    summary = summarize(log)
    for w in writers.values():
        w.finish(log, summary)
        w.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names.values())
    assert len((tmp_path / "f.csv").read_text().splitlines()) == 1 + 16
    assert json.loads((tmp_path / "s.json").read_text()) == summary
    assert probe(tmp_path / "a.mp4")["frames"] == 8
    assert (tmp_path / "t.svg").read_bytes().lstrip().startswith(b"<?xml")


def test_a_summary_writer_needs_the_run_first(tmp_path: Path) -> None:
    w = JsonWriter(tmp_path / "s.json")
    with pytest.raises(EmolensError, match="call finish first"):
        w.commit()
    w.discard()
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- summary and timeline


def test_summary_gives_each_track_its_drawing_colour() -> None:
    log = TrackLog()
    img = np.zeros((64, 64, 3), np.uint8)
    for i in range(3):
        log.add(FrameResult(i, i / 30, [face(tid, x=tid) for tid in (1, 2, 11)], img))
    tracks = summarize(log)["tracks"]
    assert [(t["track_id"], t["color"]) for t in tracks] == [
        (1, TRACK_COLORS[0]),
        (2, TRACK_COLORS[1]),
        (11, TRACK_COLORS[0]),
    ]
    assert all(t["color"] == track_color(t["track_id"]) for t in tracks)


def test_timeline_renders_png_svg_and_pdf() -> None:
    log = TrackLog()
    img = np.zeros((64, 64, 3), np.uint8)
    for i in range(20):
        log.add(FrameResult(i, i / 30, [face(1, "happy" if i > 5 else "neutral")], img))
    png = render_timeline(log, "png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    decoded = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None and decoded.shape[1] == 1000  # 10 inches at 100 dpi
    assert b"<svg" in render_timeline(log, "svg")
    assert render_timeline(log, "pdf").startswith(b"%PDF")
    assert render_timeline(TrackLog(), "png").startswith(b"\x89PNG")  # no faces: still a plot


def test_analyze_video_keeps_the_sound_unless_told_not_to(media: Path, tmp_path: Path) -> None:
    from emolens.runtime.recognizer import Recognizer
    from emolens.video.pipeline import analyze_video

    rec = Recognizer(threads=1)
    for name, audio in (("a.mp4", True), ("b.mp4", False)):
        analyze_video(media / PYFEAT, rec, out=tmp_path / name, audio=audio, max_frames=6, progress=False)
    with_sound, without = probe(tmp_path / "a.mp4"), probe(tmp_path / "b.mp4")
    assert (with_sound["video"], with_sound["frames"], with_sound["audio"]) == ("h264", 6, "mp3")
    assert with_sound["audio_s"] == pytest.approx(6 / 30, abs=0.05)
    assert (without["frames"], without["audio"]) == (6, None)
