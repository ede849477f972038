"""``emolens watch SOURCE|--camera N``: print one JSON line per emotion event and send them on."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from emolens.errors import EmolensError

log = logging.getLogger(__name__)

__all__ = ["add_parser"]


def _watch(args: argparse.Namespace) -> int:
    from emolens.cli import _detector, _stream_options
    from emolens.event.sinks import JsonlSink, Sink, open_sink
    from emolens.event.types import EventOptions
    from emolens.event.watch import watch
    from emolens.filekind import sound_file_format
    from emolens.options import options_from_args
    from emolens.runtime.recognizer import Recognizer

    if (args.source is None) == (args.camera is None):
        raise EmolensError("give either a video file or URL, or --camera N (not both)")
    source = args.source if args.source is not None else args.camera
    event_options = options_from_args(EventOptions, args)
    stream_options = _stream_options(args)
    rec = Recognizer(args.model, threads=args.threads, tta=args.tta)
    event_options.watched(rec.labels)
    recording = args.source is not None and sound_file_format(args.source) is not None
    detector = args.detector if recording else _detector(args)  # a recording has no faces to find
    voice = None
    if args.audio or recording:
        from emolens.audio.recognizer import VoiceRecognizer

        voice = VoiceRecognizer(args.speech_model, threads=args.threads)
    band = feed = None
    if args.physio:
        from emolens.relax.body import BodyFeed
        from emolens.relax.physio_mqtt import PhysioSubscriber

        feed = BodyFeed()
        band = PhysioSubscriber(args.physio, args.child, feed)
    sinks: list[Sink] = []
    try:
        try:
            if not args.quiet:
                sinks.append(JsonlSink("-"))
            if args.jsonl:
                sinks.append(JsonlSink(args.jsonl))
            for url in args.mqtt or ():
                if not url.startswith("mqtt://"):
                    raise EmolensError(f"--mqtt takes an mqtt://HOST:PORT/PREFIX URL, got {url!r}")
                sinks.append(open_sink(url))
            secret = args.webhook_secret or os.environ.get("EMOLENS_WEBHOOK_SECRET") or None
            for url in args.webhook or ():
                if not url.startswith(("http://", "https://")):
                    raise EmolensError(f"--webhook takes an http:// or https:// URL, got {url!r}")
                sinks.append(open_sink(url, secret=secret, timeout_s=args.webhook_timeout_s))
        except BaseException:
            for sink in sinks:
                sink.close()
            raise
        result = watch(
            source,
            rec,
            detector,
            stream_options,
            sinks=sinks,
            event_options=event_options,
            voice=voice or False,
            body=feed,
        )
    finally:
        if band is not None:
            band.close()
    print(json.dumps({"summary": result}), file=sys.stderr)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from emolens.cli import _add_model_options, _add_stream_options
    from emolens.event.types import EventOptions
    from emolens.options import add_options, finite_number

    p = sub.add_parser(
        "watch",
        help="emotion events of a video, stream or camera: one JSON line each, also to MQTT, webhooks or a file",
    )
    p.add_argument(
        "source",
        nargs="?",
        default=None,
        help="video file or stream URL (or use --camera); a recording (wav, flac, mp3...) gives the voice's events",
    )
    p.add_argument("--camera", type=int, default=None, metavar="N", help="watch camera number N instead")
    p.add_argument(
        "--mqtt",
        action="append",
        metavar="mqtt://HOST:PORT/PREFIX",
        help="publish to this broker (topic prefix default emolens/events)",
    )
    p.add_argument("--webhook", action="append", metavar="URL", help="POST each event to this URL (repeatable)")
    p.add_argument(
        "--webhook-secret",
        default=None,
        metavar="S",
        help="sign webhook bodies with HMAC-SHA256 (header X-Emolens-Signature; default: $EMOLENS_WEBHOOK_SECRET)",
    )
    p.add_argument(
        "--webhook-timeout-s",
        type=finite_number,
        default=2.0,
        help="seconds to wait for a webhook's answer (default: 2)",
    )
    p.add_argument("--jsonl", default=None, metavar="FILE", help="append the events to this file, one JSON line each")
    p.add_argument("--quiet", action="store_true", help="do not print the events")
    p.add_argument("--audio", action="store_true", help="also listen to a file's voice: voice_emotion_changed events")
    p.add_argument("--speech-model", default=None, metavar="M", help="speech model name or .onnx (default: bundled)")
    p.add_argument(
        "--physio",
        default=None,
        metavar="mqtt://HOST:PORT",
        help="a wristband publishing on emolens/physio/<--child>/+ of this broker: stress_changed events",
    )
    p.add_argument("--child", default="child1", metavar="ID", help="whose wristband (default: child1)")
    _add_model_options(p)
    _add_stream_options(p)
    add_options(p.add_argument_group("event rules"), EventOptions)
    p.set_defaults(func=_watch)
