"""Running the web app: bind the socket, start uvicorn, say where, stop cleanly on a signal."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

from emolens.errors import EmolensError
from emolens.web.settings import ServeOptions

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger(__name__)

WEB_MODULES = ("fastapi", "uvicorn", "python_multipart", "websockets")
HINT = "pip install 'emolens[web]'"


def require_web_extra() -> None:
    """Raise an EmolensError naming the install command when a package of the ``web`` extra is missing."""
    missing = []
    for name in WEB_MODULES:
        try:
            __import__(name)
        except ImportError:
            missing.append(name.replace("_", "-"))
    if missing:
        raise EmolensError(f"the web app needs the 'web' extra ({', '.join(missing)} missing): {HINT}")


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (port 0: a free one), or an EmolensError saying why not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise EmolensError(f"cannot listen on {host}: {e.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise EmolensError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    return sock


class _RedactToken(logging.Filter):
    """Log records of uvicorn with the value of ``?token=`` replaced by ``***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        from emolens.web.security import redact

        message = record.getMessage()
        if "token=" in message:
            record.msg, record.args = redact(message), None
        return True


def serve(options: ServeOptions, *, on_ready: Callable[[str], None] | None = None, verbose: bool = False) -> None:
    """Serve the web app until SIGINT or SIGTERM, then stop cleanly (uploads deleted) and return.

    ``on_ready(url)`` is called once the server accepts connections, with the page's address
    (``?token=...`` included when a token is set); by default the address is logged.
    ``verbose``: log uvicorn's messages and one line per request (tokens redacted).
    """
    require_web_extra()
    import uvicorn

    from emolens.web.app import create_app

    app = create_app(options)
    sock = bind(options.host, options.port)
    port = int(sock.getsockname()[1])
    url = options.url(port)
    if not options.loopback and options.token is None:
        log.warning(
            "emolens: warning: serving on %s without a token: anyone who can reach this machine can use it; "
            "set --token (or EMOLENS_TOKEN)",
            options.host,
        )
    redact = _RedactToken()
    for name in ("uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).addFilter(redact)
    config = uvicorn.Config(
        app,
        host=options.host,
        port=port,
        log_config=None,
        log_level="info" if verbose else "warning",
        access_log=verbose,
        lifespan="on",
        timeout_graceful_shutdown=5,
        server_header=False,
        http=_json_400_protocol(),
    )
    server = _make_server(config, lambda: (on_ready or _log_url)(url))
    # uvicorn catches SIGINT/SIGTERM, shuts down gracefully, then raises the signal again for the
    # previous handler: make that a no-op, so that a signal ends serve() normally (exit status 0)
    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)} if main else {}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        for name in ("uvicorn.access", "uvicorn.error"):
            logging.getLogger(name).removeFilter(redact)
    log.info("emolens: stopped")


def _json_400_protocol() -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol, answering a request it cannot parse (a malformed request line or
    header) with a JSON reason, as the app answers every other bad request, not plain text."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class JsonH11Protocol(H11Protocol):
        def send_400_response(self, msg: str) -> None:
            body = json.dumps({"detail": f"malformed HTTP request: {msg}"}).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            for event in (h11.Response(status_code=400, headers=headers), h11.Data(data=body), h11.EndOfMessage()):
                self.transport.write(self.conn.send(event) or b"")
            self.transport.close()

    return JsonH11Protocol


def _log_url(url: str) -> None:
    log.info("emolens: serving on %s", url)


def _ignore(sig: int, frame: FrameType | None) -> None:
    return None


def _make_server(config: uvicorn.Config, on_ready: Callable[[], None]) -> uvicorn.Server:
    """uvicorn's Server, calling ``on_ready`` once it listens."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and not self.should_exit:
                on_ready()

    return Server(config)
