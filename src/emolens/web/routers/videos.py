"""``/api/v1/videos``: video analysis as background jobs: upload, follow, download, delete.

The job routes other than the upload are plain functions: FastAPI runs them on a worker thread,
off the event loop that serves the live streams (the expiry sweep they trigger deletes files).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from fastapi import HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool

from emolens.errors import EmolensError
from emolens.web.context import API, Context, WebContext
from emolens.web.decode import ACCEPTED, VIDEOS
from emolens.web.jobs import CSV_NAME, VIDEO_NAME
from emolens.web.ranges import file_response
from emolens.web.routers.images import no_face_hint
from emolens.web.routing import Route, build_router
from emolens.web.schemas import JobInfo, Timeline
from emolens.web.sniff import is_image, is_sound, is_video
from emolens.web.timeline import read_timeline
from emolens.web.upload import OPENAPI_BODY, receive_file


def check_video_kind(kind: str | None) -> str:
    """``kind`` when it is a video container; else HTTP 415 saying what the file is."""
    if is_video(kind):
        assert kind is not None
        return kind
    if kind is not None and is_image(kind):
        raise HTTPException(415, f"the file is a {kind.upper()} image, not a video: send images to {API}/analyze")
    if is_sound(kind):
        assert kind is not None
        raise HTTPException(415, f"the file is a {kind.upper()} recording, not a video: send recordings to {API}/audio")
    raise HTTPException(
        415,
        f"the file is not a video ({VIDEOS}) nor an image ({ACCEPTED}): its bytes match no format the server knows",
    )


def probe(path: Path, filename: str, context: WebContext) -> tuple[float | None, float | None, int | None]:
    """Duration, frame rate and frame count the video announces; 422 when it cannot be read, 413 over the limits."""
    from emolens.video.source import open_source

    options = context.options
    try:
        src = open_source(path)
    except EmolensError as e:
        raise HTTPException(422, str(e).replace(str(path), filename)) from None
    with src:
        duration, fps, frames = src.duration_s, src.fps, src.frame_count
        pixels = src.width * src.height
    if pixels > options.max_image_pixels:
        raise HTTPException(
            413,
            f"the video's frames are {src.width}x{src.height} = {pixels:,} pixels, "
            f"more than the limit of {options.max_image_pixels:,}",
        )
    if duration is not None and duration > options.max_video_s:
        raise HTTPException(
            413, f"the video lasts {duration:.1f} s, longer than the limit of {options.max_video_s:g} s"
        )
    return duration, fps, frames


def load_voice(context: WebContext) -> None:
    """Load the speech model now, so that a job that asks to hear the sound is refused (503) before
    its upload when the model cannot serve."""
    try:
        context.voice_recognizer()
    except EmolensError as e:
        raise HTTPException(503, f"the speech model cannot be loaded: {e}") from None


async def upload_video(request: Request, response: Response, context: Context, voice: bool = False) -> JobInfo:
    """``voice``: also hear the video's sound, fused with the faces (the summary gains a ``voice``
    section: the voice's emotion, its speech, music and silence windows; the CSV the voice and fused
    columns). A video without sound is analysed by its faces, and its summary says why."""
    jobs = context.job_manager
    if voice:
        await run_in_threadpool(load_voice, context)
    with jobs.reserve():  # an upload in progress holds a job's place: 429 now rather than after it
        folder = jobs.new_folder()
        try:
            upload = await receive_file(
                request,
                limit=context.options.max_upload_bytes,
                check=check_video_kind,
                folder=folder,
            )
            assert upload.path is not None
            duration, fps, frames = await run_in_threadpool(probe, upload.path, upload.filename, context)
            info = jobs.submit(
                folder,
                upload.path,
                upload.filename,
                duration_s=duration,
                fps=fps,
                frames=frames,
                reserved=True,
                voice=voice,
            )
        except BaseException:
            jobs.discard_folder(folder)
            raise
    response.headers["Location"] = f"{API}/videos/{info['id']}"
    return JobInfo.model_validate(info)


def unknown_job(job_id: str) -> HTTPException:
    return HTTPException(404, f"no video job {job_id[:40]!r}: unknown, deleted or expired")


def video_status(job_id: str, context: Context) -> JobInfo:
    info = context.job_manager.info(job_id)
    if info is None:
        raise unknown_job(job_id)
    summary = info.get("summary")
    if info["status"] == "done" and summary is not None and not summary.get("tracks"):
        info["hint"] = no_face_hint(context.options.detector)
    return JobInfo.model_validate(info)


def open_output(context: WebContext, job_id: str, name: str) -> BinaryIO:
    """The output ``name`` of a done job, opened now (a DELETE or the expiry sweep that comes later
    cannot cut its download); 404 (unknown job, or no such file) or 409 (not done)."""
    jobs = context.job_manager
    out = jobs.output(job_id, name)
    if out is None:
        raise unknown_job(job_id)
    status, path = out
    if path is None:
        raise HTTPException(409, f"the video job is {status}; its files are ready when it is done")
    try:
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        if jobs.output(job_id, name) is None:
            raise unknown_job(job_id) from None
        raise HTTPException(404, f"the video job wrote no {name} (the video had no frames)") from None


def download(request: Request, context: Context, job_id: str, name: str, media_type: str, suffix: str) -> Response:
    """A job's output file as an attachment named after the upload, with range requests (seeking)."""
    fh = open_output(context, job_id, name)
    size = os.fstat(fh.fileno()).st_size
    info = context.job_manager.info(job_id)
    filename = f"{Path(info['filename']).stem if info else 'video'}_{suffix}"
    quoted = quote(filename)  # as Starlette's FileResponse: plain names stay readable, others are encoded
    disposition = (
        f'attachment; filename="{filename}"' if quoted == filename else f"attachment; filename*=utf-8''{quoted}"
    )
    return file_response(fh, size, request.headers.get("range"), media_type, {"Content-Disposition": disposition})


def video_csv(job_id: str, request: Request, context: Context) -> Response:
    return download(request, context, job_id, CSV_NAME, "text/csv", "frames.csv")


def video_mp4(job_id: str, request: Request, context: Context) -> Response:
    return download(request, context, job_id, VIDEO_NAME, "video/mp4", "annotated.mp4")


def video_timeline(job_id: str, context: Context) -> Timeline:
    with open_output(context, job_id, CSV_NAME) as fh:
        lines = (line.decode("utf-8", "replace") for line in fh)
        return Timeline.model_validate(read_timeline(lines))


async def video_delete(job_id: str, context: Context) -> Response:
    if not await run_in_threadpool(context.job_manager.delete, job_id):
        raise unknown_job(job_id)
    return Response(status_code=204)


def _file_answer(media_type: str, what: str) -> dict[int | str, dict[str, object]]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        200: {"description": what, "content": {media_type: binary}},
        206: {"description": "one byte range of it (the request had a Range header)", "content": {media_type: binary}},
    }


JOB = "/videos/{job_id}"
ROUTES = (
    Route(
        "/videos",
        upload_video,
        "analyse a video in the background (multipart field 'file'; ?voice=true: hear its sound too)",
        methods=("POST",),
        status_code=202,
        errors=(400, 408, 413, 415, 422, 429, 503),
        openapi_extra=OPENAPI_BODY,
    ),
    Route(JOB, video_status, "status, progress and (when done) summary of a video job", errors=(404, 503)),
    Route(
        f"{JOB}/frames.csv",
        video_csv,
        "one row per face per frame (when done)",
        errors=(404, 409, 416, 503),
        responses=_file_answer("text/csv", "the CSV"),
    ),
    Route(
        f"{JOB}/annotated.mp4",
        video_mp4,
        "the video with the faces drawn (when done); answers range requests, so a player can seek",
        errors=(404, 409, 416, 503),
        responses=_file_answer("video/mp4", "the video"),
    ),
    Route(f"{JOB}/timeline", video_timeline, "each track's valence over time (when done)", errors=(404, 409, 503)),
    Route(
        JOB,
        video_delete,
        "cancel a video job and delete its files",
        methods=("DELETE",),
        status_code=204,
        errors=(404, 503),
        responses={204: {"description": "the job is cancelled and its files are deleted"}},
    ),
)

router = build_router(ROUTES, tags=["videos"])
