"""Encode frames to a video that plays in every browser, keeping the sound of the source.

:class:`VideoEncoder` writes BGR frames with PyAV: H.264 (libx264, yuv420p, BT.709) in MP4,
MOV, MKV or AVI, VP9 in WebM, chosen by the file name. MP4 and MOV files get their index at the
front (``movflags=+faststart``) so that a browser can play them while they download. Odd frame
sizes are padded by one pixel (4:2:0 needs even ones).

With ``audio=`` a source file, its first audio track is added, cut and shifted to the frames
written: the first frame is at time 0 and the sound that went with it too; sound before the first
frame or after the last is left out. The packets are copied as they are when the container
takes their codec and browsers play it (AAC or MP3 in MP4; Opus or Vorbis in WebM; anything
FFmpeg allows in MOV and MKV), else re-encoded to AAC (Opus in WebM). AVI sound carries no
timestamps, so it is always re-encoded, to start with the first frame; AVI timing is good to
about one frame, MP4, WebM, MOV and MKV to the millisecond. A file without sound, or whose sound
cannot be read, gives a silent video (logged).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np

from emolens.errors import EmolensError

if TYPE_CHECKING:
    import av
    from av.audio.stream import AudioStream
    from av.container import InputContainer, OutputContainer
    from av.video.stream import VideoStream

log = logging.getLogger(__name__)

CONTAINERS: dict[str, str] = {".mp4": "mp4", ".webm": "webm", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}
"""The FFmpeg container of each video file suffix."""

VIDEO_SUFFIXES = tuple(CONTAINERS)

H264_OPTIONS = {"preset": "veryfast", "crf": "23"}
VP9_OPTIONS = {"crf": "32", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"}
BT709 = 1  # AVCOL_PRI_BT709 = AVCOL_TRC_BT709 = AVCOL_SPC_BT709
LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG

COPY_AUDIO: dict[str, frozenset[str]] = {
    "mp4": frozenset({"aac", "mp3"}),  # what every browser plays
    "webm": frozenset({"opus", "vorbis"}),
    "avi": frozenset(),  # AVI sound has no timestamps: re-encoded, to start exactly with the first frame
}
"""The sound codecs copied as they are into each container; the others take what FFmpeg allows."""


def frame_rate(fps: float) -> Fraction:
    """``fps`` as a fraction (29.97 as 2997/100, 30000/1001 as such): the video's frame rate and time base."""
    if not 0 < fps < 1000:
        raise EmolensError(f"the video frame rate must lie in (0, 1000), got {fps}")
    return Fraction(fps).limit_denominator(100_000)


def container_of(path: str | Path) -> str:
    """The container of a video file name, or an EmolensError naming the suffixes that work."""
    fmt = CONTAINERS.get(Path(path).suffix.lower())
    if fmt is None:
        raise EmolensError(f"{path}: use a video file name ending in {', '.join(VIDEO_SUFFIXES)}")
    return fmt


class _AudioTrack:
    """The first audio track of a source, written into ``out`` from the source time ``start_s`` on.

    :meth:`pump` writes what plays before a given output time; :meth:`finish` the rest up to the end.
    """

    def __init__(self, source: InputContainer, stream: AudioStream, start_s: float, out: OutputContainer) -> None:
        self.source = source
        self.stream = stream
        self.start_s = start_s
        self.out = out
        self._packets = self._demux()
        self.done = False

    def _demux(self) -> Iterator[tuple[float, float, av.Packet[AudioStream]]]:
        tb = self.stream.time_base
        assert tb is not None
        for pkt in self.source.demux(self.stream):
            ts = pkt.pts if pkt.pts is not None else pkt.dts
            if ts is None or pkt.size == 0:
                continue
            start = float(ts * tb) - self.start_s
            yield start, start + float((pkt.duration or 0) * tb), pkt

    def pump(self, until_s: float) -> None:
        raise NotImplementedError

    def finish(self, end_s: float) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.source.close()


class _AudioCopy(_AudioTrack):
    """The packets copied as they are (no decoding), their times shifted."""

    def __init__(self, source: InputContainer, stream: AudioStream, start_s: float, out: OutputContainer) -> None:
        super().__init__(source, stream, start_s, out)
        self.ostream = out.add_stream_from_template(stream)
        self._pending: tuple[float, float, av.Packet[AudioStream]] | None = None
        tb = stream.time_base
        assert tb is not None
        self._shift = round(start_s / tb)

    def pump(self, until_s: float) -> None:
        while not self.done:
            item = self._pending or next(self._packets, None)
            self._pending = None
            if item is None:
                self.done = True
                return
            start, end, pkt = item
            if start >= until_s:
                self._pending = item
                return
            if end <= 0 and pkt.duration:
                continue  # wholly before the first frame
            if pkt.pts is not None:
                pkt.pts -= self._shift
            if pkt.dts is not None:
                pkt.dts -= self._shift
            pkt.stream = self.ostream
            self.out.mux(pkt)

    def finish(self, end_s: float) -> None:
        self.pump(end_s)


class _AudioTranscode(_AudioTrack):
    """The sound decoded, resampled and encoded again (AAC, or Opus in WebM)."""

    def __init__(self, source: InputContainer, stream: AudioStream, start_s: float, out: OutputContainer) -> None:
        import av

        super().__init__(source, stream, start_s, out)
        name: Literal["libopus", "aac"] = "libopus" if out.format.name == "webm" else "aac"
        codec = av.codec.Codec(name, "w")
        rates = codec.audio_rates
        in_rate = stream.codec_context.sample_rate or 48000
        self.rate = in_rate if not rates or in_rate in rates else 48000
        layout = "mono" if stream.codec_context.channels == 1 else "stereo"
        fmt = codec.audio_formats[0].name if codec.audio_formats else "fltp"
        self.ostream = out.add_stream(name, rate=self.rate, layout=layout, format=fmt)
        self.ostream.codec_context.time_base = Fraction(1, self.rate)
        self._resampler = av.AudioResampler(format=fmt, layout=layout, rate=self.rate)
        self._fifo = av.AudioFifo()
        self._next: int | None = None  # the output sample number of the next sample written
        self._drop = 0  # samples to drop at the start (the part of a frame before the first video frame)
        self._pending: list[tuple[float, av.AudioFrame]] = []
        self._warned = False
        self._flushed = False

    def _frames(self) -> Iterator[tuple[float, av.AudioFrame]]:
        import av

        while True:
            if self._pending:
                yield self._pending.pop(0)
                continue
            item = next(self._packets, None)
            if item is None and self._flushed:
                return
            self._flushed = item is None  # the end: take what the decoder still holds
            try:
                frames = self.stream.codec_context.decode(item[2] if item is not None else None)
            except av.error.FFmpegError as e:
                if not self._warned:
                    log.warning("%s: skipping undecodable sound: %s", self.source.name, e)
                    self._warned = True
                continue
            for frame in frames:
                if frame.time is not None:
                    t = float(frame.time) - self.start_s
                elif item is not None:
                    t = item[0]
                else:
                    continue
                self._pending.append((t, frame))

    def _encode(self, final: bool) -> None:
        frame_size = self.ostream.codec_context.frame_size or 1024
        while self._fifo.samples >= frame_size or (final and self._fifo.samples > 0):
            frame = self._fifo.read(frame_size, partial=final)
            if frame is None:
                break
            assert self._next is not None
            frame.pts = self._next
            frame.time_base = Fraction(1, self.rate)
            self._next += frame.samples
            self.out.mux(self.ostream.encode(frame))

    def _add(self, frames: list[av.AudioFrame]) -> None:
        for frame in frames:
            frame.pts = None
            self._fifo.write(frame)
        if self._drop and self._fifo.samples:
            n = min(self._drop, self._fifo.samples)
            self._fifo.read(n, partial=True)
            self._drop -= n

    def pump(self, until_s: float) -> None:
        if self.done:
            return
        frames = self._frames()
        for t, frame in frames:
            if t >= until_s:
                self._pending.insert(0, (t, frame))
                break
            length = frame.samples / (frame.sample_rate or self.rate)
            if t + length <= 0:
                continue  # wholly before the first frame
            if self._next is None:
                self._next = max(0, round(t * self.rate))
                self._drop = max(0, round(-t * self.rate))
            self._add(self._resampler.resample(frame))
            self._encode(final=False)
        else:
            self.done = True

    def finish(self, end_s: float) -> None:
        self.pump(end_s)
        if self._next is not None:
            self._add(self._resampler.resample(None))
            self._encode(final=True)
        self.out.mux(self.ostream.encode(None))


def _open_audio(path: str | Path) -> tuple[InputContainer, AudioStream, float] | None:
    """The source's container, its first audio stream and its first video frame's time; None without sound."""
    import av

    try:
        source = av.open(str(path))
    except (av.error.FFmpegError, OSError) as e:
        log.warning("the annotated video will be silent: cannot read the sound of %s: %s", path, e)
        return None
    if not source.streams.audio:
        source.close()
        return None
    audio = source.streams.audio[0]
    start_s = 0.0
    if source.streams.video:
        video = source.streams.video[0]
        if video.start_time is not None and video.time_base is not None:
            start_s = float(video.start_time * video.time_base)
    return source, audio, start_s


class VideoEncoder:
    """Writes BGR frames to ``path`` (its suffix names the container); :meth:`close` finishes the file.

    ``fps``: the frame rate; a frame's time (seconds from the first frame) sets its timestamp.
    ``audio``: a source file whose sound to keep (see the module). The frame size is the first
    frame's; later frames of another size are resized to it. Errors are EmolensErrors; after one,
    call :meth:`abort` and remove the file. ``name``: the file named in messages (default ``path``;
    the destination, when ``path`` is a temporary file).
    """

    def __init__(
        self, path: str | Path, fps: float, *, audio: str | Path | None = None, name: str | Path | None = None
    ) -> None:
        self.path = Path(path)
        self.name = Path(name) if name is not None else self.path
        self.format = container_of(self.path)
        self.rate = frame_rate(fps)
        self.time_base = 1 / self.rate
        self.audio_source = audio
        self.frames = 0
        self.duration_s = 0.0
        self._out: OutputContainer | None = None
        self._video: VideoStream | None = None
        self._audio: _AudioTrack | None = None
        self._size = (0, 0)
        self._last_pts = -1
        self._closed = False

    @property
    def has_audio(self) -> bool:
        return self._audio is not None

    def _error(self, e: BaseException) -> EmolensError:
        return EmolensError(f"cannot write the video {self.name}: {str(e).strip() or type(e).__name__}")

    def _open(self, width: int, height: int) -> None:
        import av

        faststart = {"movflags": "+faststart"} if self.format in ("mp4", "mov") else {}
        self._out = out = av.open(str(self.path), "w", format=self.format, options=faststart)
        vp9 = self.format == "webm"
        options = dict(VP9_OPTIONS if vp9 else H264_OPTIONS)
        video = out.add_stream("libvpx-vp9" if vp9 else "libx264", rate=self.rate, options=options)
        video.width, video.height = width + width % 2, height + height % 2
        video.pix_fmt = "yuv420p"
        cc = video.codec_context
        cc.time_base = self.time_base
        cc.color_primaries = cc.color_trc = cc.colorspace = BT709
        cc.color_range = LIMITED_RANGE
        self._video = video
        if self.audio_source is not None:
            self._add_audio(out, self.audio_source)

    def _add_audio(self, out: OutputContainer, path: str | Path) -> None:
        opened = _open_audio(path)
        if opened is None:
            return
        source, stream, start_s = opened
        name = stream.codec_context.codec.canonical_name
        allowed = COPY_AUDIO.get(self.format, out.supported_codecs)
        try:
            if name in allowed and name in out.supported_codecs:
                self._audio = _AudioCopy(source, stream, start_s, out)
            else:
                log.info("%s: re-encoding the %s sound for %s", self.name.name, name, self.format)
                self._audio = _AudioTranscode(source, stream, start_s, out)
        except BaseException:
            source.close()
            raise

    def write(self, image: np.ndarray, time_s: float) -> None:
        """Add a BGR (or grey) frame shown from ``time_s`` seconds on (later than the previous frame's)."""
        if self._closed:
            raise EmolensError(f"{self.name}: the video is already closed")
        import av

        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        try:
            if self._out is None:
                self._size = (image.shape[1], image.shape[0])
                self._open(*self._size)
            elif (image.shape[1], image.shape[0]) != self._size:
                image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
            w, h = self._size
            if w % 2 or h % 2:
                image = cv2.copyMakeBorder(image, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
            assert self._out is not None and self._video is not None
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
            frame = frame.reformat(format="yuv420p", dst_colorspace=BT709, dst_color_range=LIMITED_RANGE)
            pts = max(self._last_pts + 1, round(time_s / self.time_base))
            frame.pts = pts
            frame.time_base = self.time_base
            self._out.mux(self._video.encode(frame))
            self._last_pts = pts
            self.frames += 1
            self.duration_s = float((pts + 1) * self.time_base)
            if self._audio is not None:
                self._audio.pump(float(pts * self.time_base))
        except (av.error.FFmpegError, OSError, ValueError) as e:
            raise self._error(e) from None

    def close(self) -> None:
        """Flush the encoders, add the rest of the sound (up to the end of the last frame), finish the file."""
        if self._closed:
            return
        self._closed = True
        if self._out is None:
            return
        import av

        try:
            assert self._video is not None
            self._out.mux(self._video.encode(None))
            if self._audio is not None:
                self._audio.finish(self.duration_s)
            out, self._out = self._out, None
            out.close()
        except (av.error.FFmpegError, OSError, ValueError) as e:
            raise self._error(e) from None
        finally:
            self._release()

    def abort(self) -> None:
        """Stop without finishing the file (after an error; the caller removes it)."""
        self._closed = True
        self._release()

    def _release(self) -> None:
        if self._audio is not None:
            self._audio.close()
            self._audio = None
        if self._out is not None:
            import contextlib

            with contextlib.suppress(Exception):
                self._out.close()
            self._out = None
