"""Real-time recognition of every face in a video: detect, track, recognise, smooth.

:func:`stream` turns a video file, stream URL or camera into :class:`FrameResult` objects, one
per frame, each holding the faces of that frame with a stable ``track_id`` and smoothed scores
(the per-frame work is :class:`~emolens.analysis.Analyzer`'s). :func:`analyze_video`
runs a stream to the end and writes the outputs the user asked for.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import cv2

from emolens.analysis import STAGES, Analyzer, StageHook
from emolens.errors import EmolensError
from emolens.fusion import FusionOptions, VoiceTrack, fuse
from emolens.types import FrameResult, StreamOptions
from emolens.video.source import FrameSource, Source, open_source

if TYPE_CHECKING:
    from emolens.audio.recognizer import VoiceRecognizer
    from emolens.detect.base import Detector
    from emolens.runtime.recognizer import Recognizer

log = logging.getLogger(__name__)

__all__ = [
    "STAGES",
    "Analyzer",
    "FrameResult",
    "StageHook",
    "StreamOptions",
    "VideoStream",
    "analyze_video",
    "stream",
]


class VideoStream:
    """An iterator of :class:`FrameResult` over an opened source; close it (or use ``with``) when done.

    ``source`` is the :class:`~emolens.video.source.FrameSource` (``fps``, ``frame_count``, ``live``);
    ``analyzer`` the :class:`~emolens.analysis.Analyzer` that does the per-frame work.
    """

    def __init__(self, source: FrameSource, owns_source: bool, analyzer: Analyzer) -> None:
        self.source = source
        self._owns = owns_source
        self.analyzer = analyzer
        self._gen: Generator[FrameResult, None, None] = self._run()

    @property
    def recognizer(self) -> Recognizer:
        return self.analyzer.recognizer

    @property
    def options(self) -> StreamOptions:
        return self.analyzer.options

    def __iter__(self) -> VideoStream:
        return self

    def __next__(self) -> FrameResult:
        return next(self._gen)

    def close(self) -> None:
        self._gen.close()
        if self._owns:
            self.source.close()

    def __enter__(self) -> VideoStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _run(self) -> Generator[FrameResult, None, None]:
        max_frames = self.analyzer.options.max_frames
        timing = self.analyzer.timing
        frames = iter(self.source)
        while True:
            t = time.perf_counter() if timing is not None else 0.0
            frame = next(frames, None)
            if frame is None or (max_frames is not None and frame.index >= max_frames):
                break
            if timing is not None:
                timing("decode", time.perf_counter() - t)
            yield self.analyzer.process(frame.image, frame.index, frame.time_s)


def _make_detector(detector: str | Detector) -> Detector:
    if isinstance(detector, str):
        from emolens.detect import create_detector

        return create_detector(detector)
    return detector


def stream(
    source: Source | FrameSource,
    recognizer: Recognizer | None = None,
    detector: str | Detector = "haar",
    options: StreamOptions | None = None,
    *,
    timing: StageHook | None = None,
    **changes: Any,
) -> VideoStream:
    """Recognise every face of every frame of ``source``; iterate the result for :class:`FrameResult`.

    ``source``: a video file, stream URL, camera index, or an opened FrameSource (left open).
    ``recognizer``: default ``Recognizer()``. ``detector``: a detector name (``"haar"``,
    ``"yunet"``) or object. ``options``: a :class:`StreamOptions` (default: the real-time
    defaults); keyword arguments change single fields of it, e.g. ``stream(clip, detect_every=1)``.
    ``timing``: called as ``timing(stage, seconds)`` after each stage of :data:`STAGES` on each
    frame (for benchmarks; None, the default, reads no clock).

    The detector and source are opened here, so bad input fails before the first frame.
    """
    opts = (options or StreamOptions()).with_changes(**changes)
    if recognizer is None:
        from emolens.runtime.recognizer import Recognizer

        recognizer = Recognizer()
    det = _make_detector(detector)
    if opts.align and not hasattr(det, "detect_landmarks"):
        log.warning("align needs a detector with eye landmarks (yunet); faces will not be aligned")
    owns = not isinstance(source, FrameSource)
    src = open_source(source) if not isinstance(source, FrameSource) else source
    if opts.max_pixels is not None:
        src.max_pixels = opts.max_pixels
    return VideoStream(src, owns, Analyzer(recognizer, det, opts, timing))


# ---------------------------------------------------------------------- end-to-end


def check_display() -> None:
    """Raise an EmolensError unless OpenCV can open a window here."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise EmolensError("--show needs a display, and none is set (DISPLAY)")
    try:
        cv2.namedWindow("emolens", cv2.WINDOW_NORMAL)
        cv2.destroyWindow("emolens")
    except cv2.error:
        raise EmolensError(
            "--show needs OpenCV with windows; this one is headless (pip install opencv-python)"
        ) from None


def check_outputs(
    out: str | Path | None = None,
    csv: str | Path | None = None,
    json: str | Path | None = None,
    timeline: str | Path | None = None,
) -> None:
    """Fail now, before any frame is read, if an output could not be written later."""
    from emolens.io import check_writable
    from emolens.video.outputs import get_writer

    named = {"--out": out, "--csv": csv, "--json": json, "--timeline": timeline}
    given = {k: Path(v) for k, v in named.items() if v is not None}
    for flag, path in given.items():
        if path.is_dir():
            raise EmolensError(f"{flag} {path} is a folder; give a file name")
        check_writable(path)
    resolved = [p.resolve() for p in given.values()]
    if len(set(resolved)) != len(resolved):
        raise EmolensError("two outputs are the same file")
    for flag, name, dest in (("--out", "video", out), ("--timeline", "timeline", timeline)):
        suffixes = get_writer(name).suffixes
        if dest is not None and Path(dest).suffix.lower() not in suffixes:
            raise EmolensError(f"{flag} {dest}: use a {name} file name ending in {', '.join(suffixes)}")


def _progress_bar(total: int | None, enabled: bool) -> Any:
    """A tqdm bar of frames on stderr (cleared when closed), or None when not ``enabled``."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", mininterval=1, leave=False, file=sys.stderr, dynamic_ncols=True)


def _show(result: FrameResult) -> bool:
    """Show the annotated frame; True when the user pressed q or Esc."""
    from emolens.video.draw import draw_faces

    cv2.imshow("emolens", draw_faces(result.image, result.faces))
    return (int(cv2.waitKey(1)) & 0xFF) in (ord("q"), 27)


def _close_windows() -> None:
    with contextlib.suppress(cv2.error):
        cv2.destroyAllWindows()


def hear_file(
    voice: VoiceRecognizer | bool,
    src: FrameSource,
    labels: Sequence[str],
    fusion: FusionOptions,
    progress: bool = False,
) -> tuple[VoiceTrack | None, dict[str, Any]]:
    """The voice windows of ``src``'s sound, and the summary's ``voice`` section; (None, why) when
    there is nothing to hear (a camera, a stream, a file without sound), said once in the log.
    ``progress``: a progress bar of each stage on stderr."""
    from emolens.audio.analyze import StageBars
    from emolens.audio.decode import NoAudioError, decode_audio
    from emolens.audio.recognizer import VoiceRecognizer

    if src.kind != "file":
        log.warning("--audio listens to files only (not to %s): going on with the face alone", src.kind)
        return None, {"available": False, "reason": f"the source is a {src.kind}, not a file"}
    vr = voice if isinstance(voice, VoiceRecognizer) else VoiceRecognizer()
    try:
        sound = decode_audio(src.name, vr.features.sample_rate)
    except NoAudioError as e:
        log.warning("%s: going on with the face alone", e)
        return None, {"available": False, "reason": str(e)}
    with StageBars() as bars:
        windows = vr.windows(
            sound.samples, sound.sample_rate, fusion.window_s, fusion.hop_s, progress=bars.update if progress else None
        )
    track = VoiceTrack(windows, vr.labels, labels)
    info: dict[str, Any] = {
        "available": True,
        "model": vr.meta.name,
        "duration_s": round(sound.duration_s, 3),
        "face_skill": fusion.face_skill,
        "voice_skill": fusion.voice_skill,
        **track.summary(),
    }
    return track, info


def with_voice(result: FrameResult, heard: VoiceTrack, fusion: FusionOptions) -> FrameResult:
    """``result`` with each face's ``extra`` holding the voice's window at its time
    (``voice_label``, ``voice_speech``) and the fused scores (``fused``: a :class:`~emolens.fusion.Fused`)."""
    found = heard.at(result.time)
    window, probs = found if found is not None else (None, None)
    faces = []
    for f in result.faces:
        fused = fuse(f.scores, probs, window.speech if window is not None else 0.0, fusion, heard.face_labels)
        extra = {
            **f.extra,
            "voice_label": None if window is None else window.label,
            "voice_speech": None if window is None else window.speech,
            "fused": fused,
        }
        faces.append(replace(f, extra=extra))
    return replace(result, faces=faces)


def analyze_video(
    source: Source,
    recognizer: Recognizer | None = None,
    *,
    detector: str | Detector = "haar",
    options: StreamOptions | None = None,
    out: str | Path | None = None,
    csv: str | Path | None = None,
    json: str | Path | None = None,
    timeline: str | Path | None = None,
    show: bool = False,
    progress: bool = True,
    audio: bool = True,
    voice: VoiceRecognizer | bool = False,
    fusion: FusionOptions | None = None,
    on_frame: Callable[[int, int | None], None] | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """Run :func:`stream` to the end, write the outputs asked for, and return the summary.

    ``options`` and keyword ``changes`` are those of :func:`stream`. Every output is checked
    before the first frame is read and written under a temporary name that is moved into place
    only at the end: a failure leaves no partial file. ``out`` is H.264 MP4 (or MOV, MKV, AVI) or
    VP9 WebM, by its name; with ``audio`` it keeps the sound of a source file. ``progress``: a
    progress bar on stderr (files only). ``on_frame(frames_done, frames_total_or_None)`` is called after each frame; an
    exception it raises stops the run like any other failure (nothing is written). Interrupting a live source (Ctrl+C, or ``q``
    in the ``show`` window) ends it normally; interrupting a file writes nothing.

    ``voice``: also listen (a :class:`~emolens.audio.recognizer.VoiceRecognizer`, or True for the
    bundled one): the file's sound is judged window by window, each face's scores are fused with
    the voice's (:mod:`emolens.fusion`, ``fusion`` its options), the CSV gains the voice and fused
    columns, the summary a ``voice`` section and each track its fused shares, the timeline a voice
    row. A file without an audio track says so once and goes on with the face alone.
    """
    from emolens.video.outputs import VideoOutputs, VoicePoint, summarize

    check_outputs(out, csv, json, timeline)
    if show:
        check_display()
    opts = (options or StreamOptions()).with_changes(**changes)
    vs = stream(source, recognizer, detector, opts)
    rec = vs.recognizer
    src = vs.source
    total = src.frame_count
    if opts.max_frames is not None:
        total = min(total, opts.max_frames) if total is not None else opts.max_frames
    stopped = False
    with vs:
        sound = src.name if audio and src.kind == "file" else None
        fusion = fusion or FusionOptions()
        heard, voice_info = hear_file(voice, src, rec.labels, fusion, progress) if voice else (None, None)
        outputs = VideoOutputs(
            rec.labels, fps=src.fps or 30.0, out=out, csv=csv, json=json, timeline=timeline, audio=sound,
            voice=heard is not None,
        )  # fmt: skip
        if heard is not None:
            outputs.log.voice = [
                VoicePoint(w.start_s, w.end_s, w.label, None if p is None else [p[k] for k in rec.labels])
                for w, p in zip(heard.windows, heard.as_face, strict=True)
            ]
        bar = _progress_bar(total, progress and not src.live)
        try:
            try:
                for result in vs:
                    if heard is not None:
                        result = with_voice(result, heard, fusion)
                    outputs.add(result)
                    if bar is not None:
                        bar.update(1)
                    if on_frame is not None:
                        on_frame(outputs.log.frames, total)
                    if show and _show(result):
                        stopped = True
                        break
            except KeyboardInterrupt:
                if not src.live:
                    raise
                stopped = True
            if stopped:
                log.info("stopped after %d frames", outputs.log.frames)
            summary = summarize(
                outputs.log,
                source=src.name,
                fps=src.fps,
                model=rec.meta.name,
                detector=detector if isinstance(detector, str) else getattr(detector, "name", type(detector).__name__),
            )
            if voice_info is not None:
                summary["voice"] = voice_info
            outputs.commit(summary)
        except BaseException:
            outputs.discard()
            raise
        finally:
            if bar is not None:
                bar.close()
            if show:
                _close_windows()
    for t in summary["tracks"]:
        log.info(
            "track %d: %s %.0f%% of %d frames (%.1f-%.1f s)",
            t["track_id"],
            t["dominant"],
            100 * t["share"][t["dominant"]],
            t["frames"],
            t["first_s"],
            t["last_s"],
        )
    return summary
