"""The web app: :func:`create_app` assembles the routers of :mod:`emolens.web.routers` from :class:`ServeOptions`.

Routes (see the README and ``/docs``): the page at ``/`` and ``/static/``, and under ``/api/v1``,
behind the token (:func:`~emolens.web.context.require_token`): ``health``, ``analyze`` (one
image), ``videos`` (background jobs), ``samples``, the live WebSocket ``stream`` and ``relax`` (the
relaxation operator panel's API; its page is ``/relax``). Every error
is JSON ``{"detail": "<one sentence>"}``. A WebSocket without its token is refused before the
handshake completes, with HTTP 401 and that JSON (:func:`refuse_handshake`); one refused for
another reason (no live place left) is accepted, then closed with a code and the same sentence
as its reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from emolens import __version__
from emolens.errors import EmolensError
from emolens.web.context import API, WebContext, require_token
from emolens.web.decode import BadImage
from emolens.web.images import DetectorPool
from emolens.web.jobs import JobManager, JobsFull
from emolens.web.relax import close_panel
from emolens.web.routers import audio, health, images, live, pages, relax, samples, videos
from emolens.web.routers.pages import DOCS_ASSETS, STATIC, docs_csp, docs_html, swagger_assets
from emolens.web.schemas import error_responses
from emolens.web.security import Guard
from emolens.web.settings import ServeOptions

if TYPE_CHECKING:
    from emolens.runtime.recognizer import Recognizer

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5
WS_TRY_LATER = 1013  # "try again later" (RFC 6455 registry)
WS_REASON_BYTES = 123  # the longest close reason a WebSocket frame carries
API_ROUTERS = (health.router, images.router, videos.router, audio.router, samples.router, live.router, relax.router)


def _sentence(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
    return "invalid request: " + "; ".join(parts)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The video job worker starts and stops with the app; stopping deletes every uploaded file."""
    context: WebContext = app.state.web
    options = context.options
    jobs = JobManager(
        context.recognizer,
        detector=options.detector,
        detector_options=options.detector_options,
        max_jobs=options.max_jobs,
        keep_s=options.keep_s,
        max_video_s=options.max_video_s,
        max_pixels=options.max_image_pixels,
        voice=context.voice_recognizer,
    )
    jobs.start()
    context.jobs = app.state.jobs = jobs
    if options.physio_mqtt is not None:
        from emolens.relax.body import BodyFeed
        from emolens.relax.physio_mqtt import PhysioSubscriber

        feed = BodyFeed()
        try:
            context.band = await asyncio.to_thread(PhysioSubscriber, options.physio_mqtt, options.physio_child, feed)
        except BaseException:
            await asyncio.to_thread(jobs.close)
            raise
        context.body = feed
    try:
        yield
    finally:
        context.jobs = app.state.jobs = None
        if context.band is not None:
            context.band.close()
            context.band = context.body = None
        await asyncio.to_thread(jobs.close)
        await asyncio.to_thread(close_panel, app.state)  # the relaxation chair: every output off


def create_app(options: ServeOptions, recognizer: Recognizer | None = None) -> FastAPI:
    """The web application. ``recognizer``: shared by every request (default: ``Recognizer(options.model)``).

    The model and the detector are loaded here, so a bad name fails before the server listens.
    """
    if recognizer is None:
        from emolens.runtime.recognizer import Recognizer

        recognizer = Recognizer(options.model)
    rec: Recognizer = recognizer
    pool = DetectorPool(options.detector, options.detector_options)
    pool.create()  # an unknown detector (or YuNet not fetched) fails now

    app = FastAPI(
        title="emolens",
        version=__version__,
        description="Real-time facial emotion recognition: live camera frames over a WebSocket, images and videos.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.web = WebContext(options, rec, pool)
    app.state.jobs = None
    app.add_middleware(Guard, loopback=options.loopback, csp_overrides={"/docs": docs_csp(docs_html())})
    add_error_handlers(app)

    api = APIRouter(prefix=API, dependencies=[Depends(require_token)], responses=error_responses(401))
    for router in API_ROUTERS:
        api.include_router(router)
    app.include_router(pages.router)
    app.include_router(relax.page_router)
    app.include_router(api)
    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_assets()), name="docs-assets")
    app.openapi = lambda: openapi_schema(app)  # type: ignore[method-assign]
    return app


def openapi_schema(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, without the validation error shape it adds by default: this app answers
    every error, 422 included, with ``ErrorBody`` (each route documents its own)."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                answer = operation.get("responses", {}).get("422", {})
                ref = str(answer.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", ""))
                if ref.endswith("/HTTPValidationError"):
                    del operation["responses"]["422"]
        components = schema.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        app.openapi_schema = schema
    return app.openapi_schema


def ws_close_code(status: int) -> int:
    """The WebSocket close code for an HTTP error status of a refused connection (4000 + status,
    but 1013 "try again later" for 429 and 503; a missing token never gets here: it is refused
    before the handshake)."""
    if status in (429, 503):
        return WS_TRY_LATER
    return 4000 + status if 400 <= status < 600 else 1008


def _reason(text: str) -> str:
    return text.encode()[:WS_REASON_BYTES].decode("utf-8", "ignore")


def add_error_handlers(app: FastAPI) -> None:
    """Every error as JSON ``{"detail": ...}``; on a WebSocket, a close frame with a code and the sentence."""
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(BadImage, bad_image)
    app.add_exception_handler(JobsFull, jobs_full)
    app.add_exception_handler(EmolensError, user_error)


async def refuse_handshake(
    websocket: WebSocket, status: int, detail: str, headers: Mapping[str, str] | None = None
) -> None:
    """Answer a WebSocket handshake with HTTP ``status`` and ``{"detail": ...}`` instead of accepting it.

    Where the ASGI server lacks the WebSocket denial response extension (uvicorn has it), the
    handshake is refused by closing before accepting, which the server answers with HTTP 403.
    """
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse({"detail": detail}, status_code=status, headers=headers))
    else:
        await websocket.close(1008, _reason(detail))


async def http_error(conn: HTTPConnection, exc: Exception) -> Response | None:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(conn, WebSocket):
        if exc.status_code == 401:  # no or a wrong token: refused before the handshake completes
            await refuse_handshake(conn, exc.status_code, str(exc.detail), exc.headers)
            return None
        # refused by a dependency (live places): accept, then say why in the close frame
        await conn.accept()
        await conn.close(ws_close_code(exc.status_code), _reason(str(exc.detail)))
        return None
    detail = exc.detail
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"nothing at {conn.url.path}"
    elif exc.status_code == 405 and detail == "Method Not Allowed":
        detail = f"{conn.scope.get('method')} is not allowed on {conn.url.path}"
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": _sentence(exc)}, status_code=422)


async def bad_image(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BadImage)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status)


async def jobs_full(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": str(RETRY_AFTER_S)})


async def user_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=422)
