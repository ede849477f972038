"""``POST /api/v1/analyze``: the faces and emotions of one uploaded image."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from emolens.web.context import Context
from emolens.web.decode import check_kind
from emolens.web.images import analyze_image
from emolens.web.routing import Route, build_router
from emolens.web.schemas import AnalyzeResult
from emolens.web.upload import OPENAPI_BODY, receive_file

YUNET_HINT = (
    "no face found: the YuNet detector finds more faces (turned, small or partly hidden ones); "
    "start the server with --detector yunet (after 'emolens fetch yunet'), or pass detector=\"yunet\" in Python; "
    "a lower --haar-min-neighbors (3) also finds more, and more non-faces"
)


def no_face_hint(detector: str) -> str | None:
    """What to try when a detector found no face (None when it is already YuNet)."""
    return None if detector == "yunet" else YUNET_HINT


def left_to_right(result: dict[str, Any]) -> dict[str, Any]:
    """The answer with its faces ordered by their number (their place from the left), else by box x."""
    result["faces"] = sorted(
        result["faces"], key=lambda f: (f.get("number") is None, f.get("number") or 0, f["box"][0])
    )
    return result


async def analyze(request: Request, context: Context) -> AnalyzeResult:
    options = context.options
    upload = await receive_file(request, limit=options.max_upload_bytes, check=check_kind)
    result = await run_in_threadpool(
        analyze_image, upload.data, context.recognizer, context.pool, options.max_image_pixels
    )
    result = left_to_right(result)
    if not result["faces"]:
        result["hint"] = no_face_hint(options.detector)
    return AnalyzeResult.model_validate(result)


ROUTES = (
    Route(
        "/analyze",
        analyze,
        "faces and emotions of one image (multipart field 'file')",
        methods=("POST",),
        errors=(400, 408, 413, 415, 422, 503),
        openapi_extra=OPENAPI_BODY,
    ),
)

router = build_router(ROUTES, tags=["images"])
