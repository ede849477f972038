"""The web app: :func:`create_app` builds the FastAPI application from :class:`ServeOptions`.

Routes (see the README and ``/docs``): the page at ``/`` and ``/static/``, and under ``/api/v1``:
``health``, ``analyze`` (one image), ``videos`` (background jobs), ``samples`` and the live
WebSocket ``stream``. Every error is JSON ``{"detail": "<one sentence>"}``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response, WebSocket
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from fastapi.security import APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from emolens import __version__
from emolens.errors import EmolensError
from emolens.web.decode import BadImage, check_kind
from emolens.web.images import DetectorPool, analyze_image
from emolens.web.jobs import CSV_NAME, VIDEO_NAME, JobManager, JobsFull
from emolens.web.live import LiveSession
from emolens.web.security import Guard, token_matches
from emolens.web.settings import ServeOptions
from emolens.web.sniff import MEDIA_TYPES, is_image, is_video
from emolens.web.upload import OPENAPI_BODY, receive_file

if TYPE_CHECKING:
    from emolens.runtime.recognizer import Recognizer

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
API = "/api/v1"
IMAGE_SUFFIXES = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp", ".bmp": "bmp"}
VIDEO_SUFFIXES = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".avi": "avi", ".mkv": "mkv", ".webm": "mkv"}
DOCS_ASSETS = "/docs-assets"
WS_TRY_LATER = 1013  # "try again later" (RFC 6455 registry)
WS_UNAUTHORIZED = 4401
RETRY_AFTER_S = 5

# how the token may come (module level: FastAPI resolves the annotations of routes in this module's namespace)
_bearer = HTTPBearer(auto_error=False, description="the token given to `emolens serve --token`")
_query = APIKeyQuery(name="token", auto_error=False, description="the same token in the query string")


def docs_csp(html: str) -> str:
    """The policy of the API documentation page: Swagger UI from this server, its inline script by hash."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
        for s in re.findall(r"<script>(.*?)</script>", html, re.S)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


def _sentence(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
    return "invalid request: " + "; ".join(parts)


class _State:
    """What the routes share: the job manager (made at startup) and the live connection count."""

    def __init__(self) -> None:
        self.jobs: JobManager | None = None
        self.live = 0

    @property
    def job_manager(self) -> JobManager:
        if self.jobs is None:
            raise HTTPException(503, "the server is starting or stopping; try again in a moment")
        return self.jobs


def create_app(options: ServeOptions, recognizer: Recognizer | None = None) -> FastAPI:
    """The web application. ``recognizer``: shared by every request (default: ``Recognizer(options.model)``).

    The model and the detector are loaded here, so a bad name fails before the server listens.
    The video job worker starts and stops with the application's lifespan; stopping deletes
    every uploaded file.
    """
    if recognizer is None:
        from emolens.runtime.recognizer import Recognizer

        recognizer = Recognizer(options.model, detector=options.detector)
    rec: Recognizer = recognizer
    pool = DetectorPool(options.detector)
    pool.create()  # an unknown detector (or YuNet not fetched) fails now
    state = _State()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        jobs = JobManager(
            rec,
            detector=options.detector,
            max_jobs=options.max_jobs,
            keep_s=options.keep_s,
            max_video_s=options.max_video_s,
        )
        jobs.start()
        state.jobs = app.state.jobs = jobs
        try:
            yield
        finally:
            state.jobs = app.state.jobs = None
            await asyncio.to_thread(jobs.close)

    app = FastAPI(
        title="emolens",
        version=__version__,
        description="Real-time facial emotion recognition: live camera frames over a WebSocket, images and videos.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    # Swagger UI comes from the swagger-ui-bundle-v2 package (web extra), served here: no CDN
    import swagger_ui_bundle

    docs_page = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=f"emolens {__version__} API",
        swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url="data:,",
    )
    docs_html = bytes(docs_page.body).decode()
    app.add_middleware(Guard, loopback=options.loopback, csp_overrides={"/docs": docs_csp(docs_html)})
    _add_error_handlers(app)

    async def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        token: Annotated[str | None, Depends(_query)],
    ) -> None:
        if options.token is None:
            return
        given = credentials.credentials if credentials is not None else token
        if given is None:
            raise HTTPException(
                401,
                "this server needs its access token: send 'Authorization: Bearer <token>' or add ?token=<token>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not token_matches(given, options.token):
            raise HTTPException(401, "the access token is wrong", headers={"WWW-Authenticate": "Bearer"})

    api = APIRouter(prefix=API, dependencies=[Depends(require_token)])

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(docs_html)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        index = STATIC / "index.html"
        if not index.is_file():
            raise HTTPException(404, "the page is not installed (src/emolens/web/static/index.html is missing)")
        return FileResponse(index, media_type="text/html")

    @api.get("/health", summary="server status")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "model": rec.meta.name,
            "detector": options.detector,
            "live_connections": state.live,
            "jobs": state.job_manager.active(),
            "limits": {
                "max_upload_mb": options.max_upload_mb,
                "max_image_pixels": options.max_image_pixels,
                "max_video_s": options.max_video_s,
                "max_jobs": options.max_jobs,
                "max_live": options.max_live,
                "keep_s": options.keep_s,
            },
        }

    @api.post(
        "/analyze", summary="faces and emotions of one image (multipart field 'file')", openapi_extra=OPENAPI_BODY
    )
    async def analyze(request: Request) -> dict[str, Any]:
        upload = await receive_file(request, limit=options.max_upload_bytes, check=check_kind)
        return await run_in_threadpool(analyze_image, upload.data, rec, pool, options.max_image_pixels)

    def check_video_kind(kind: str | None) -> str:
        if is_video(kind):
            assert kind is not None
            return kind
        if kind is not None and is_image(kind):
            raise HTTPException(415, f"the file is a {kind.upper()} image, not a video: send images to {API}/analyze")
        raise HTTPException(415, "the file is not a video the server knows (MP4, MOV, AVI, MKV or WebM), by its bytes")

    def probe(path: Path, filename: str) -> tuple[float | None, float | None, int | None]:
        from emolens.video.source import open_source

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

    @api.post(
        "/videos",
        status_code=202,
        summary="analyse a video in the background (multipart field 'file')",
        openapi_extra=OPENAPI_BODY,
    )
    async def upload_video(request: Request, response: Response) -> dict[str, Any]:
        jobs = state.job_manager
        with jobs.reserve():  # an upload in progress holds a job's place: 429 now rather than after it
            folder = jobs.new_folder()
            try:
                upload = await receive_file(
                    request, limit=options.max_upload_bytes, check=check_video_kind, folder=folder
                )
                assert upload.path is not None
                duration, fps, frames = await run_in_threadpool(probe, upload.path, upload.filename)
                info = jobs.submit(
                    folder, upload.path, upload.filename, duration_s=duration, fps=fps, frames=frames, reserved=True
                )
            except BaseException:
                jobs.discard_folder(folder)
                raise
        response.headers["Location"] = f"{API}/videos/{info['id']}"
        return info

    def unknown_job(job_id: str) -> HTTPException:
        return HTTPException(404, f"no video job {job_id[:40]!r}: unknown, deleted or expired")

    @api.get("/videos/{job_id}", summary="status, progress and (when done) summary of a video job")
    # The job routes are plain functions: FastAPI runs them on a worker thread, off the event loop
    # that serves the live streams (the expiry sweep they trigger deletes files).
    def video_status(job_id: str) -> dict[str, Any]:
        info = state.job_manager.info(job_id)
        if info is None:
            raise unknown_job(job_id)
        return info

    def job_file(job_id: str, name: str, media_type: str, download: str) -> Response:
        jobs = state.job_manager
        out = jobs.output(job_id, name)
        if out is None:
            raise unknown_job(job_id)
        status, path = out
        if path is None:
            raise HTTPException(409, f"the video job is {status}; its files are ready when it is done")
        try:  # opened now: a DELETE or the expiry sweep that comes later cannot cut the download
            fh = open(path, "rb")  # noqa: SIM115 - closed by blocks() once the download ends
        except FileNotFoundError:
            if jobs.output(job_id, name) is None:
                raise unknown_job(job_id) from None
            raise HTTPException(404, f"the video job wrote no {name} (the video had no frames)") from None
        size = os.fstat(fh.fileno()).st_size
        info = jobs.info(job_id)
        stem = Path(info["filename"]).stem if info else "video"

        def blocks() -> Iterator[bytes]:
            with fh:
                while block := fh.read(1 << 16):
                    yield block

        name = f"{stem}_{download}"
        quoted = quote(name)  # as Starlette's FileResponse: plain names stay readable, others are encoded
        disposition = f'attachment; filename="{name}"' if quoted == name else f"attachment; filename*=utf-8''{quoted}"
        return StreamingResponse(
            blocks(), media_type=media_type, headers={"Content-Disposition": disposition, "Content-Length": str(size)}
        )

    @api.get("/videos/{job_id}/frames.csv", summary="one row per face per frame (when done)")
    def video_csv(job_id: str) -> Response:
        return job_file(job_id, CSV_NAME, "text/csv", "frames.csv")

    @api.get("/videos/{job_id}/annotated.mp4", summary="the video with the faces drawn, MPEG-4 part 2 (when done)")
    def video_mp4(job_id: str) -> Response:
        return job_file(job_id, VIDEO_NAME, "video/mp4", "annotated.mp4")

    @api.delete("/videos/{job_id}", status_code=204, summary="cancel a video job and delete its files")
    async def video_delete(job_id: str) -> Response:
        if not await run_in_threadpool(state.job_manager.delete, job_id):
            raise unknown_job(job_id)
        return Response(status_code=204)

    def samples() -> dict[str, tuple[str, Path]]:
        if options.samples is None:
            return {}
        out = {}
        folder = Path(options.samples)
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            suffix = path.suffix.lower()
            if path.name.startswith(".") or not path.is_file():
                continue
            if suffix in IMAGE_SUFFIXES:
                out[path.name] = ("image", path)
            elif suffix in VIDEO_SUFFIXES:
                out[path.name] = ("video", path)
        return out

    @api.get("/samples", summary="the sample images and videos the server offers")
    async def sample_list() -> dict[str, Any]:
        found = await run_in_threadpool(samples)
        return {"samples": [{"name": name, "kind": kind} for name, (kind, _) in found.items()]}

    @api.get("/samples/{name}", summary="one sample file")
    async def sample_file(name: str) -> FileResponse:
        found = await run_in_threadpool(samples)
        if name not in found:
            raise HTTPException(404, f"no sample named {name[:80]!r}")
        kind, path = found[name]
        suffix = path.suffix.lower()
        sniffed = IMAGE_SUFFIXES.get(suffix) or VIDEO_SUFFIXES.get(suffix, "")
        media = "video/webm" if suffix == ".webm" else MEDIA_TYPES.get(sniffed, "application/octet-stream")
        return FileResponse(path, media_type=media)

    app.include_router(api)

    @app.websocket(f"{API}/stream")
    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        if options.token is not None:
            given = websocket.query_params.get("token")
            auth = websocket.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                given = auth[7:].strip()
            if not token_matches(given, options.token):
                await websocket.close(WS_UNAUTHORIZED, "missing or wrong access token (add ?token=<token>)")
                return
        if state.live >= options.max_live:
            await websocket.close(WS_TRY_LATER, f"the server is busy: {options.max_live} live streams at once at most")
            return
        state.live += 1
        try:
            await LiveSession(websocket, rec, options.detector, options.max_image_pixels).run()
        finally:
            state.live -= 1

    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")
    return app


def _add_error_handlers(app: FastAPI) -> None:
    async def validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse({"detail": _sentence(exc)}, status_code=422)

    async def bad_image(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, BadImage)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    async def full(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": str(RETRY_AFTER_S)})

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"nothing at {request.url.path}"
        elif exc.status_code == 405 and detail == "Method Not Allowed":
            detail = f"{request.method} is not allowed on {request.url.path}"
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=exc.headers)
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    async def user_error(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(BadImage, bad_image)
    app.add_exception_handler(JobsFull, full)
    app.add_exception_handler(EmolensError, user_error)
