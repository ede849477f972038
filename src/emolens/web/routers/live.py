"""``/api/v1/stream``: the live WebSocket (see :mod:`emolens.web.live`).

The token is checked by the API router's dependency, as for every HTTP route, and a place among
the ``max_live`` streams is held by :func:`~emolens.web.context.live_slot`: a refusal closes the
connection with 4401 (token) or 1013 (busy, "try again later") and the reason.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, WebSocket

from emolens.web.context import Context, live_slot
from emolens.web.live import LiveSession


async def stream(websocket: WebSocket, context: Context) -> None:
    await websocket.accept()
    options = context.options
    rec = context.recognizer
    await LiveSession(websocket, rec, options.detector, options.max_image_pixels).run()


router = APIRouter()
router.add_api_websocket_route("/stream", stream, dependencies=[Depends(live_slot)])
