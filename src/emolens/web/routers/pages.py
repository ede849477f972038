"""The page (``/``) and the API documentation (``/docs``, Swagger UI served from this server: no CDN)."""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from pathlib import Path

from fastapi import HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from emolens import __version__
from emolens.web.routing import Route, build_router

STATIC = Path(__file__).resolve().parents[1] / "static"
DOCS_ASSETS = "/docs-assets"


def swagger_assets() -> str:
    """The folder of Swagger UI's files (the swagger-ui-bundle-v2 package of the web extra)."""
    import swagger_ui_bundle

    return str(swagger_ui_bundle.swagger_ui_path)


@functools.cache
def docs_html() -> str:
    """The API documentation page."""
    page = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=f"emolens {__version__} API",
        swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url="data:,",
    )
    return bytes(page.body).decode()


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


async def page() -> FileResponse:
    index = STATIC / "index.html"
    if not index.is_file():
        raise HTTPException(404, "the page is not installed (src/emolens/web/static/index.html is missing)")
    return FileResponse(index, media_type="text/html")


async def docs() -> HTMLResponse:
    return HTMLResponse(docs_html())


ROUTES = (
    Route("/", page, "the page", methods=("GET", "HEAD"), include_in_schema=False),
    Route("/docs", docs, "the API documentation", methods=("GET", "HEAD"), include_in_schema=False),
)

router = build_router(ROUTES)
