"""What every route shares, and the dependencies that hand it out.

:class:`WebContext` holds the settings, the recogniser, the detector pool, the video jobs and the
live connection count of one app (``app.state.web``). :func:`require_token` is the one access
check, for the HTTP routes and the live WebSocket alike: a WebSocket without its token is
refused before its handshake completes, with HTTP 401 and the same JSON sentence (see
:func:`emolens.web.app.refuse_handshake`).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException
from fastapi.security import APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from emolens.web.security import token_matches
from emolens.web.settings import ServeOptions

if TYPE_CHECKING:
    from emolens.audio.recognizer import VoiceRecognizer
    from emolens.relax.body import BodyFeed
    from emolens.relax.physio_mqtt import PhysioSubscriber
    from emolens.runtime.recognizer import Recognizer
    from emolens.web.images import DetectorPool
    from emolens.web.jobs import JobManager

API = "/api/v1"

bearer = HTTPBearer(auto_error=False, description="the token given to `emolens serve --token`")
query_token = APIKeyQuery(name="token", auto_error=False, description="the same token in the query string")

NO_TOKEN = "this server needs its access token: send 'Authorization: Bearer <token>' or add ?token=<token>"
WRONG_TOKEN = "the access token is wrong"


@dataclass
class WebContext:
    """The state of one app. ``jobs`` exists between startup and shutdown (see :attr:`job_manager`)."""

    options: ServeOptions
    recognizer: Recognizer
    pool: DetectorPool
    jobs: JobManager | None = None
    live: int = 0
    uploads: int = 0
    """Request bodies of uploads (images and videos) arriving now; see :meth:`uploading`."""
    recordings: int = 0
    """Sound recordings being received or judged now (``POST /audio``; at most ``max_jobs``)."""
    body: BodyFeed | None = None
    """The wristband's readings, when ``physio_mqtt`` is set (between startup and shutdown)."""
    band: PhysioSubscriber | None = None
    _voice: VoiceRecognizer | None = None
    _voice_lock: threading.Lock = field(default_factory=threading.Lock)

    def voice_recognizer(self) -> VoiceRecognizer:
        """The speech model of the live page's microphone, loaded on first use and then shared (an
        EmolensError, for the page to show, when it cannot be loaded)."""
        with self._voice_lock:
            if self._voice is None:
                from emolens.audio.recognizer import VoiceRecognizer

                self._voice = VoiceRecognizer(self.options.speech_model, threads=1)
            return self._voice

    @property
    def job_manager(self) -> JobManager:
        """The video jobs; HTTP 503 while the server starts or stops."""
        if self.jobs is None:
            raise HTTPException(503, "the server is starting or stopping; try again in a moment")
        return self.jobs

    @contextmanager
    def uploading(self) -> Iterator[None]:
        """Counts one upload in :attr:`uploads` (shown by ``/health``) while its body arrives."""
        self.uploads += 1
        try:
            yield
        finally:
            self.uploads -= 1


def get_context(conn: HTTPConnection) -> WebContext:
    """The :class:`WebContext` of the app serving ``conn`` (a request or a WebSocket)."""
    context = conn.app.state.web
    assert isinstance(context, WebContext)
    return context


Context = Annotated[WebContext, Depends(get_context)]


def check_token(given: str | None, expected: str | None) -> None:
    """Nothing when ``expected`` is None or ``given`` matches it; else HTTP 401 saying which."""
    if expected is None:
        return
    if given is None:
        raise HTTPException(401, NO_TOKEN, headers={"WWW-Authenticate": "Bearer"})
    if not token_matches(given, expected):
        raise HTTPException(401, WRONG_TOKEN, headers={"WWW-Authenticate": "Bearer"})


async def require_token(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    token: Annotated[str | None, Depends(query_token)],
) -> None:
    """The access check of every API route and of the WebSocket: ``Authorization: Bearer T`` or ``?token=T``."""
    check_token(credentials.credentials if credentials is not None else token, context.options.token)


async def live_slot(context: Context) -> AsyncIterator[None]:
    """Holds one of the ``max_live`` places of the live streams while a WebSocket is served (else 429)."""
    limit = context.options.max_live
    if context.live >= limit:
        raise HTTPException(429, f"the server is busy: {limit} live streams at once at most")
    context.live += 1
    try:
        yield
    finally:
        context.live -= 1
