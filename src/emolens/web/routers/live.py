"""``/api/v1/stream``: the live WebSocket (see :mod:`emolens.web.live`).

The token is checked by the API router's dependency, as for every HTTP route: without it the
handshake is refused with HTTP 401 and a JSON reason, before the connection is accepted. A place
among the ``max_live`` streams is held by :func:`~emolens.web.context.live_slot`: when none is
left the connection is accepted, then closed with 1013 ("try again later") and the reason. A
stream that sends nothing for ``live_idle_s`` seconds is closed with 4408, freeing its place.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, WebSocket

from emolens.web.context import Context, live_slot
from emolens.web.live import LiveSession


async def stream(websocket: WebSocket, context: Context) -> None:
    await websocket.accept()
    options = context.options
    rec = context.recognizer
    session = LiveSession(
        websocket,
        rec,
        options.detector,
        options.max_image_pixels,
        options.live_idle_s,
        detector_options=options.detector_options,
        voice=context.voice_recognizer,
        body=context.body,
    )
    await session.run()


router = APIRouter()
router.add_api_websocket_route("/stream", stream, dependencies=[Depends(live_slot)])
