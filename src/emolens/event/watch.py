"""Events of a video file, stream or camera, for Python code and for ``emolens watch``.

:func:`events` runs the analysis (:func:`emolens.video.pipeline.stream`: detect, track, smooth),
passes each frame's result through the event rules (:class:`~emolens.event.rules.EventRules`) and
yields the events as they happen; ``on_event`` and ``sinks`` get each one too. At the end of the
stream everyone still in view leaves. A recording (a sound file) gives the voice's events alone,
each at the end of the window it was heard in. :func:`watch` does the same to the end and returns
what each sink delivered: the body of ``emolens watch``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emolens.event.rules import EventRules
from emolens.event.sinks import CallbackSink, Sink
from emolens.event.types import Event, EventOptions
from emolens.fusion import FusionOptions
from emolens.labels import EMOTIONS

if TYPE_CHECKING:
    from emolens.audio.recognizer import VoiceRecognizer, VoiceWindow
    from emolens.detect import Detector
    from emolens.fusion import VoiceTrack
    from emolens.relax.body import BodyFeed
    from emolens.runtime.recognizer import Recognizer
    from emolens.types import StreamOptions
    from emolens.video.source import FrameSource, Source

log = logging.getLogger(__name__)

__all__ = ["events", "source_name", "watch"]


def source_name(source: object) -> str:
    """How events name their source: ``camera:N`` for a camera number, else the path or URL."""
    return f"camera:{source}" if isinstance(source, int) else str(source)


def events(
    source: Source | FrameSource,
    recognizer: Recognizer | None = None,
    detector: str | Detector = "haar",
    options: StreamOptions | None = None,
    *,
    event_options: EventOptions | None = None,
    on_event: Callable[[Event], Any] | None = None,
    sinks: Sequence[Sink] = (),
    name: str | None = None,
    voice: VoiceRecognizer | bool = False,
    body: BodyFeed | None = None,
    **changes: Any,
) -> Iterator[Event]:
    """Iterate the events of ``source`` (a video file, stream URL or camera number, or a recording)
    as they happen.

    ``recognizer``, ``detector``, ``options`` and ``changes`` are those of
    :func:`~emolens.video.pipeline.stream`; ``event_options`` the rules' thresholds
    (:class:`~emolens.event.types.EventOptions`); ``on_event`` is called with each event, and each
    of ``sinks`` gets it (they are not closed here). ``name``: the events' ``source`` (default:
    the path, URL or ``camera:N``). Bad input fails before the first event.

    ``voice``: also listen to a file's sound (a :class:`~emolens.audio.recognizer.VoiceRecognizer`,
    or True for the bundled one): ``voice_emotion_changed`` events from its windows, in step with
    the frames (a file without sound says so once). ``body``: a wristband's readings
    (:class:`~emolens.relax.body.BodyFeed`, fed e.g. by a
    :class:`~emolens.relax.physio_mqtt.PhysioSubscriber`): ``stress_changed`` events.

    A recording (a sound file: WAV, FLAC, Ogg, MP3, AIFF, M4A) is heard whether or not ``voice`` is
    set (with it when it is a :class:`~emolens.audio.recognizer.VoiceRecognizer`): its
    ``voice_emotion_changed`` events, timed by the end of each window; there are no faces and no
    ``body`` readings in step with it.
    """
    from emolens.filekind import sound_file_format
    from emolens.video.pipeline import hear_file, stream

    outputs: list[Sink] = [*sinks, *([CallbackSink(on_event)] if on_event is not None else [])]
    if isinstance(source, (str, Path)) and sound_file_format(source) is not None:
        labels = recognizer.labels if recognizer is not None else EMOTIONS
        rules = EventRules(event_options, name if name is not None else source_name(source), labels)
        return _run_recording(Path(source), voice, rules, outputs)

    video = stream(source, recognizer, detector, options, **changes)
    labels = video.recognizer.labels
    rules = EventRules(event_options, name if name is not None else source_name(source), labels)
    heard = None
    if voice:
        try:
            heard, _ = hear_file(voice, video.source, labels, FusionOptions())
        except BaseException:
            video.close()
            raise
    return _run(video, rules, outputs, heard, body)


def _run_recording(
    path: Path, voice: VoiceRecognizer | bool, rules: EventRules, outputs: Sequence[Sink]
) -> Iterator[Event]:
    """The voice's events of a sound file; it is decoded and judged before the first event, so that
    bad input fails at once."""
    from emolens.audio.decode import decode_audio
    from emolens.audio.recognizer import VoiceRecognizer

    vr = voice if isinstance(voice, VoiceRecognizer) else VoiceRecognizer()
    sound = decode_audio(path, vr.features.sample_rate)
    fusion = FusionOptions()
    windows = vr.windows(sound.samples, sound.sample_rate, fusion.window_s, fusion.hop_s)
    return _emit_recording(windows, vr.labels, sound.duration_s, rules, outputs)


def _emit_recording(
    windows: Sequence[VoiceWindow],
    labels: Sequence[str],
    duration_s: float,
    rules: EventRules,
    outputs: Sequence[Sink],
) -> Iterator[Event]:
    for w in windows:
        probs = {} if w.probs is None else {k: float(p) for k, p in zip(labels, w.probs, strict=True)}
        for event in rules.voice(w.end_s, w.label, probs):
            for sink in outputs:
                sink.send(event)
            yield event
    for event in rules.end(duration_s):
        for sink in outputs:
            sink.send(event)
        yield event


def _run(
    video: Any, rules: EventRules, outputs: Sequence[Sink], heard: VoiceTrack | None, body: BodyFeed | None
) -> Iterator[Event]:
    last_window: object = None
    with video:
        for result in video:
            made = rules.frame(result)
            if heard is not None:
                found = heard.at(result.time)
                if found is not None and found[0] is not last_window:
                    last_window = found[0]
                    w = found[0]
                    probs = (
                        {}
                        if w.probs is None
                        else {k: float(p) for k, p in zip(heard.voice_labels, w.probs, strict=True)}
                    )
                    made += rules.voice(result.time, w.label, probs)
            if body is not None:
                reading = body.take()
                if reading is not None:
                    made += rules.stress(result.time, reading.stress)
            for event in made:
                for sink in outputs:
                    sink.send(event)
                yield event
    for event in rules.end():
        for sink in outputs:
            sink.send(event)
        yield event


def watch(
    source: Source | FrameSource,
    recognizer: Recognizer | None = None,
    detector: str | Detector = "haar",
    options: StreamOptions | None = None,
    *,
    sinks: Sequence[Sink] = (),
    event_options: EventOptions | None = None,
    name: str | None = None,
    voice: VoiceRecognizer | bool = False,
    body: BodyFeed | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """Send every event of ``source`` to ``sinks`` until the stream ends (or Ctrl-C), close the sinks
    and return ``{"events": count, "by_kind": {...}, "sinks": {name: stats}}``."""
    count: dict[str, int] = {}
    try:
        for event in events(
            source,
            recognizer,
            detector,
            options,
            event_options=event_options,
            sinks=sinks,
            name=name,
            voice=voice,
            body=body,
            **changes,
        ):
            count[event.kind] = count.get(event.kind, 0) + 1
    finally:
        for sink in sinks:
            try:
                sink.close()
            except Exception as e:  # one sink failing to close must not hide the others
                log.error("closing %s failed: %s", sink.name, e)
    return {"events": sum(count.values()), "by_kind": count, "sinks": {s.name: s.stats() for s in sinks}}
