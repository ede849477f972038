"""What keeps the web app to its user: security headers, the Host and Origin checks, the token.

* Every HTTP response carries a strict Content-Security-Policy (the page loads nothing from
  elsewhere and runs no inline code), ``nosniff``, ``DENY`` framing and no referrer; API answers
  are never cached.
* On a loopback address the ``Host`` header must name this machine (127.0.0.1, localhost, [::1]):
  a web page whose name resolves to 127.0.0.1 (DNS rebinding) cannot talk to the server.
* A request that changes something (POST, DELETE) or opens the WebSocket, coming from a browser
  page of another origin, is refused (403): other sites cannot use the server through the
  user's browser, token or not.
* With a token, every API request and the WebSocket must carry it (``Authorization: Bearer T``
  or ``?token=T``), compared in constant time.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(self), geolocation=()",
}

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
_TOKEN_IN_QUERY = re.compile(r"(?<=[?&]token=)[^&\s]*")


def redact(text: str) -> str:
    """``text`` with the value of every ``token=`` query parameter replaced by ``***``."""
    return _TOKEN_IN_QUERY.sub("***", text)


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the expected one."""
    return given is not None and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def host_name(host_header: str) -> str:
    """The name part of a ``Host`` header: ``127.0.0.1:8000`` -> ``127.0.0.1``, ``[::1]:80`` -> ``::1``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def cross_origin(headers: Headers) -> bool:
    """True when a browser says the request comes from a page of another origin than this server."""
    origin = headers.get("origin")
    if origin is None:
        return False  # not a browser, or a same-origin GET
    host = headers.get("host", "")
    return origin == "null" or urlsplit(origin).netloc.lower() != host.lower()


class Guard:
    """ASGI middleware: the Host and Origin checks, and the security headers on every response.

    ``loopback``: enforce that the Host header names this machine. ``csp_overrides``: a relaxed
    policy for some paths (the API documentation page, which loads Swagger UI from its CDN).
    """

    def __init__(self, app: ASGIApp, *, loopback: bool, csp_overrides: Mapping[str, str] | None = None) -> None:
        self.app = app
        self.loopback = loopback
        self.csp_overrides = dict(csp_overrides or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        problem = self._problem(scope, headers)
        if problem is not None:
            status, detail = problem
            if scope["type"] == "websocket":
                # refuse the handshake (the client sees HTTP 403)
                await send({"type": "websocket.close", "code": 1008, "reason": detail})
                return
            await self._reply(status, detail, scope, send)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                self._add_headers(MutableHeaders(scope=message), path)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as e:  # a bug: log it, answer 500 in JSON with the same headers, keep serving
            log.error("%s %s failed", scope.get("method"), redact(path), exc_info=e)
            if started:
                raise
            await self._reply(500, f"internal server error ({type(e).__name__}); see the server log", scope, send)

    def _problem(self, scope: Scope, headers: Headers) -> tuple[int, str] | None:
        if self.loopback and host_name(headers.get("host", "")) not in LOOPBACK_HOSTS:
            return 400, "this server answers only to 127.0.0.1, localhost or [::1] in the Host header"
        unsafe = scope["type"] == "websocket" or scope.get("method") in UNSAFE_METHODS
        if unsafe and cross_origin(headers):
            return 403, "requests from pages of other sites are not allowed"
        return None

    def _add_headers(self, out: MutableHeaders, path: str) -> None:
        out["Content-Security-Policy"] = self.csp_overrides.get(path, CSP)
        for name, value in SECURITY_HEADERS.items():
            out[name] = value
        if path.startswith("/api/"):
            out["Cache-Control"] = "no-store"
        elif "cache-control" not in out:
            out["Cache-Control"] = "no-cache"  # the page and its assets: revalidate, so an upgrade shows at once

    async def _reply(self, status: int, detail: str, scope: Scope, send: Send) -> None:
        from starlette.responses import JSONResponse

        response = JSONResponse({"detail": detail}, status_code=status)
        self._add_headers(response.headers, scope["path"])
        await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
