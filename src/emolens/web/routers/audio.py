"""``POST /api/v1/audio``: the emotion of the speech in one uploaded recording, window by window.

The recording (a sound file, or a video whose sound is wanted) goes to a temporary folder that is
deleted as soon as the answer is made: nothing is kept. It is judged while the request waits (the
model card measured 60 s of speech judged in 0.81 s), by the speech model the live page's microphone
uses; at most ``max_jobs`` recordings are received or judged at once (beyond: 429).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from emolens.errors import EmolensError
from emolens.web.context import API, Context, WebContext
from emolens.web.routers.videos import load_voice
from emolens.web.routing import Route, build_router
from emolens.web.schemas import AudioResult
from emolens.web.sniff import is_image, is_video
from emolens.web.upload import OPENAPI_BODY, receive_file

SOUND_FORMATS = "WAV, FLAC, Ogg, MP3, AIFF, M4A"
RETRY_AFTER_S = 5
MAX_WINDOW_S = 10.0
MAX_OVERLAP = 8
"""A request may ask for windows of at most :data:`MAX_WINDOW_S` seconds, each moment heard by at most
:data:`MAX_OVERLAP` of them (the hop at least a window's eighth; the default 2 s every 0.5 s hears
each moment 4 times): the work a recording costs stays within 8 times its length, whatever is asked."""


def check_recording_kind(kind: str | None) -> str:
    """``kind`` when it is a sound file or a video (its sound is judged); else HTTP 415 saying what it is."""
    if kind is not None and not is_image(kind):
        return kind
    if kind is not None:
        raise HTTPException(415, f"the file is a {kind.upper()} image, not sound: send images to {API}/analyze")
    raise HTTPException(415, f"the file is not a recording ({SOUND_FORMATS}, or a video with sound)")


@contextmanager
def recording_slot(context: WebContext) -> Iterator[None]:
    """One of the ``max_jobs`` places of recordings received or judged at once (else 429)."""
    limit = context.options.max_jobs
    if context.recordings >= limit:
        raise HTTPException(
            429,
            f"the server is busy: {limit} recordings at once at most",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    context.recordings += 1
    try:
        yield
    finally:
        context.recordings -= 1


async def analyze_recording(
    request: Request, context: Context, window_s: float = 2.0, hop_s: float = 0.5
) -> AudioResult:
    """``window_s``, ``hop_s``: the windows judged (the hop at most the window)."""
    from emolens.audio.analyze import analyze_audio
    from emolens.audio.decode import TooLongError
    from emolens.audio.recognizer import check_windows

    try:
        check_windows(window_s, hop_s)
    except EmolensError as e:
        raise HTTPException(422, str(e)) from None
    if window_s > MAX_WINDOW_S or window_s > MAX_OVERLAP * hop_s:
        raise HTTPException(
            422,
            f"this server judges windows of at most {MAX_WINDOW_S:g} s, with a hop of at least an "
            f"{MAX_OVERLAP}th of the window; got window_s={window_s:g}, hop_s={hop_s:g}",
        )
    await run_in_threadpool(load_voice, context)  # the first call loads the model: off the event loop
    options = context.options
    with recording_slot(context), tempfile.TemporaryDirectory(prefix="emolens-audio-") as folder:
        upload = await receive_file(
            request,
            limit=options.max_upload_bytes,
            check=check_recording_kind,
            folder=Path(folder),
        )
        assert upload.path is not None
        try:
            analysis = await run_in_threadpool(
                analyze_audio,
                upload.path,
                context.voice_recognizer(),
                window_s=window_s,
                hop_s=hop_s,
                max_duration_s=options.max_video_s,
            )
        except TooLongError:
            raise HTTPException(413, f"the recording is longer than the limit of {options.max_video_s:g} s") from None
        except EmolensError as e:  # the server's temporary path never leaves it: the client's file name instead
            raise HTTPException(422, str(e).replace(str(upload.path), upload.filename)) from None
    answer = analysis.as_dict()
    answer["source"] = upload.filename
    answer["video"] = is_video(upload.kind)
    return AudioResult.model_validate(answer)


ROUTES = (
    Route(
        "/audio",
        analyze_recording,
        "the voice's emotion per window and a summary, of one recording (multipart field 'file'; "
        "a sound file or a video's sound); nothing is kept",
        methods=("POST",),
        errors=(400, 408, 413, 415, 422, 429, 503),
        openapi_extra=OPENAPI_BODY,
    ),
)

router = build_router(ROUTES, tags=["audio"])
