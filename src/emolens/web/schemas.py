"""The JSON the API answers, as pydantic models: they validate each answer and document it in ``/docs``.

Every error is :class:`ErrorBody` (``{"detail": "<one sentence>"}``); :func:`error_responses`
documents the statuses a route can answer with it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    """Every error answer: one readable sentence."""

    detail: str = Field(examples=["the file is larger than the limit of 200 MB"])


ERRORS: dict[int, str] = {
    400: "the upload was interrupted, or the Host header does not name this machine",
    401: "the server has a token, and the request carries none or a wrong one",
    403: "the request comes from a page of another site",
    404: "no such job, sample or file (unknown, deleted or expired)",
    409: "the video job is not done yet: its files are not ready",
    408: "the upload's body paused too long or arrived too slowly (the connection is closed)",
    413: "the file (or its frames, or its length) is over the server's limits",
    415: "the file's bytes are not a kind the route accepts",
    416: "the byte range asked for lies outside the file",
    422: "the request is malformed: not a form with one non-empty 'file' field, or a corrupt file",
    429: "too many video jobs are arriving, queued or running (or live streams open); retry after Retry-After seconds",
    503: "the server is starting or stopping, or too many images are being decoded at once (retry later)",
}


HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    416: {"Content-Range": {"description": "bytes */<size of the file>", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}},
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of these error statuses, each with :class:`ErrorBody` (and its headers)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {"model": ErrorBody, "description": ERRORS[status]}
        if status in HEADERS:
            out[status]["headers"] = HEADERS[status]
    return out


# ---------------------------------------------------------------------- faces and images


class FaceOut(BaseModel):
    """One recognised face."""

    number: int | None = Field(
        None, description="its place on the image counted from the left, from 1 (the number drawn on its box)"
    )
    box: list[int] = Field(min_length=4, max_length=4, description="x, y, width, height in pixels")
    label: str = Field(description="the emotion with the highest probability")
    confidence: float = Field(description="the probability of that emotion")
    scores: dict[str, float] = Field(description="the probability of each emotion (they sum to 1)")
    valence: str = Field(description="the valence of the label: negative, neutral or positive")
    track_id: int | None = Field(None, description="the face's id across the frames of a stream (None on images)")


class AnalyzeResult(BaseModel):
    """The faces of one image, ordered left to right."""

    width: int
    height: int
    faces: list[FaceOut]
    processing_ms: float = Field(description="server time spent on the image")
    hint: str | None = Field(None, description="what to try when no face was found")


# ---------------------------------------------------------------------- health


class Limits(BaseModel):
    max_upload_mb: float
    max_image_pixels: int
    max_video_s: float
    max_jobs: int
    max_live: int
    keep_s: float
    upload_idle_s: float = Field(description="an upload whose body pauses this long gets a 408")
    upload_min_kb_s: float = Field(description="slowest average upload rate after the first pause allowance (0: none)")
    live_idle_s: float = Field(description="a live stream that sends nothing this long is closed (code 4408)")


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    model: str
    detector: str
    live_connections: int
    jobs: int = Field(description="video jobs queued or running")
    uploads: int = Field(description="uploads (images and videos) arriving now; each video upload holds a job's place")
    recordings: int = Field(0, description="recordings (POST /audio) being received or judged now")
    limits: Limits


# ---------------------------------------------------------------------- recordings


class VoiceWindowOut(BaseModel):
    """One window of a recording. More fields may come (the model allows them)."""

    model_config = ConfigDict(extra="allow")

    start_s: float
    end_s: float
    label: str = Field(description="an emotion of the speech model's labels, or silence, music or non-speech")
    confidence: float | None = Field(description="the top probability (None for windows not judged)")
    probs: dict[str, float] | None = Field(description="a probability per label (None for windows not judged)")
    speech: float = Field(description="how much the window sounds like speech, 0-1")
    level_db: float
    clipped: float = Field(description="the share of its samples at full scale")


class AudioResult(BaseModel):
    """The speech of one recording, window by window, and a summary. More fields may come."""

    model_config = ConfigDict(extra="allow")

    source: str = Field(description="the file's name as sent")
    video: bool = Field(description="whether the file was a video (its sound was judged)")
    duration_s: float
    source_rate: int = Field(description="the file's sample rate (the model hears it resampled)")
    channels: int
    codec: str
    model: str
    labels: list[str]
    window_s: float
    hop_s: float
    windows: int
    speech_windows: int
    silence_windows: int
    music_windows: int
    non_speech_windows: int
    emotion: str | None = Field(description="the emotion of the speech windows' mean probabilities (None: no speech)")
    mean_probs: dict[str, float] | None
    share: dict[str, float] | None = Field(description="the share of speech windows each emotion won")
    per_window: list[VoiceWindowOut]


# ---------------------------------------------------------------------- videos


class TrackSummary(BaseModel):
    """One person (track) of a video. More fields may come (the model allows them)."""

    model_config = ConfigDict(extra="allow")

    track_id: int
    frames: int
    first_s: float
    last_s: float
    dominant: str = Field(description="the emotion of most of its frames")
    dominant_valence: str | None = None
    share: dict[str, float] = Field(default_factory=dict, description="fraction of its frames in each emotion")
    mean_scores: dict[str, float] = Field(default_factory=dict)
    color: str | None = Field(None, description="the #rrggbb colour of its box in the annotated video")


class VideoSummary(BaseModel):
    """What a finished video job found. More fields may come (the model allows them)."""

    model_config = ConfigDict(extra="allow")

    source: str | None = None
    fps: float | None = None
    frames: int
    faces: int = 0
    tracks: list[TrackSummary]


class JobLinks(BaseModel):
    frames_csv: str
    annotated_mp4: str
    timeline: str


JobStatus = Literal["queued", "running", "done", "failed", "deleted"]


class JobInfo(BaseModel):
    """A video job: its status and progress, and its summary once done."""

    id: str
    status: JobStatus
    progress: float = Field(ge=0, le=1)
    frames_done: int
    frames_total: int | None
    created: str = Field(description="ISO 8601, UTC")
    expires_in_s: float | None = Field(description="seconds until its files are deleted (None while it runs)")
    filename: str
    duration_s: float | None
    voice: bool = Field(False, description="whether the job hears the sound too (POST with ?voice=true)")
    summary: VideoSummary | None
    error: str | None
    links: JobLinks
    hint: str | None = Field(None, description="what to try when the finished job found no face")


class TrackTimeline(BaseModel):
    """One track's valence over time: P(positive emotions) - P(negative emotions), from -1 to 1."""

    track_id: int
    times: list[float] = Field(description="seconds from the start of the video")
    valence: list[float]
    labels: list[str] = Field(description="the (smoothed) emotion at each time")


class Timeline(BaseModel):
    """Per track, the valence over time (at most a few thousand points each)."""

    last_s: float | None = Field(description="the time of the last face seen (None: no face)")
    tracks: list[TrackTimeline]


# ---------------------------------------------------------------------- samples


SampleKind = Literal["image", "video", "audio"]


class Sample(BaseModel):
    name: str
    kind: SampleKind


class SampleList(BaseModel):
    samples: list[Sample]
