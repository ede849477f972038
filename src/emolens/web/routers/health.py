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
        recordings=context.recordings,
        limits=Limits(**{name: getattr(options, name) for name in Limits.model_fields}),
    )


ROUTES = (Route("/health", health, "server status, model and limits", errors=(503,)),)

router = build_router(ROUTES, tags=["server"])
