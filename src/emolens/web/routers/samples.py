"""``/api/v1/samples``: the sample images, videos and recordings of ``emolens serve --samples DIR``."""

from __future__ import annotations

from pathlib import Path

from fastapi import HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from emolens.web.context import Context
from emolens.web.routing import Route, build_router
from emolens.web.schemas import Sample, SampleKind, SampleList
from emolens.web.sniff import MEDIA_TYPES

IMAGE_SUFFIXES = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp", ".bmp": "bmp"}
VIDEO_SUFFIXES = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".avi": "avi", ".mkv": "mkv", ".webm": "mkv"}
AUDIO_TYPES = {
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".aif": "audio/aiff",
    ".aiff": "audio/aiff",
}
"""Recordings by suffix, with the media type they are served with."""


def find_samples(folder: str | None) -> dict[str, tuple[SampleKind, Path]]:
    """The samples of ``folder`` by name: ``(kind, path)``; hidden files, other suffixes and folders are left out."""
    if folder is None:
        return {}
    out: dict[str, tuple[SampleKind, Path]] = {}
    root = Path(folder)
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        suffix = path.suffix.lower()
        if path.name.startswith(".") or not path.is_file():
            continue
        if suffix in IMAGE_SUFFIXES:
            out[path.name] = ("image", path)
        elif suffix in VIDEO_SUFFIXES:
            out[path.name] = ("video", path)
        elif suffix in AUDIO_TYPES:
            out[path.name] = ("audio", path)
    return out


async def sample_list(context: Context) -> SampleList:
    found = await run_in_threadpool(find_samples, context.options.samples)
    return SampleList(samples=[Sample(name=name, kind=kind) for name, (kind, _) in found.items()])


async def sample_file(name: str, context: Context) -> FileResponse:
    found = await run_in_threadpool(find_samples, context.options.samples)
    if name not in found:
        raise HTTPException(404, f"no sample named {name[:80]!r}")
    _, path = found[name]
    suffix = path.suffix.lower()
    sniffed = IMAGE_SUFFIXES.get(suffix) or VIDEO_SUFFIXES.get(suffix, "")
    media = "video/webm" if suffix == ".webm" else MEDIA_TYPES.get(sniffed, "application/octet-stream")
    media = AUDIO_TYPES.get(suffix, media)
    return FileResponse(path, media_type=media)


ROUTES = (
    Route("/samples", sample_list, "the sample images, videos and recordings the server offers"),
    Route(
        "/samples/{name}",
        sample_file,
        "one sample file",
        errors=(404,),
        responses={200: {"description": "the file", "content": {"image/*": {}, "video/*": {}, "audio/*": {}}}},
    ),
)

router = build_router(ROUTES, tags=["samples"])
