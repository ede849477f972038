"""``GET /api/v1/health``: the server's version, model, detector, load and limits."""

from __future__ import annotations

from emolens import __version__
from emolens.web.context import Context
from emolens.web.routing import Route, build_router
from emolens.web.schemas import Health, Limits


async def health(context: Context) -> Health:
    options = context.options
    return Health(
        status="ok",
        version=__version__,
        model=context.recognizer.meta.name,
        detector=options.detector,
        live_connections=context.live,
        jobs=context.job_manager.active(),
        uploads=context.uploads,
        limits=Limits(
            max_upload_mb=options.max_upload_mb,
            max_image_pixels=options.max_image_pixels,
            max_video_s=options.max_video_s,
            max_jobs=options.max_jobs,
            max_live=options.max_live,
            keep_s=options.keep_s,
            upload_idle_s=options.upload_idle_s,
            upload_min_kb_s=options.upload_min_kb_s,
            live_idle_s=options.live_idle_s,
        ),
    )


ROUTES = (Route("/health", health, "server status, model and limits", errors=(503,)),)

router = build_router(ROUTES, tags=["server"])
