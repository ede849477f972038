"""The live WebSocket session: browser frames in, faces with track ids and smoothed emotions out.

Each binary message is one JPEG (or PNG) frame, numbered 0, 1, 2, ... as it arrives. A reader
task keeps only the newest frame not yet processed (a one-slot buffer): a frame replaced before
its turn counts as dropped, so a client that sends faster than the server can follow gets
answers about its latest frames, never a growing queue. The processing runs on a thread of the
connection's own (its :class:`~emolens.analysis.Analyzer` and face detector are not
thread-safe), off the event loop; the Recognizer is shared by all connections.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from emolens.errors import EmolensError
from emolens.web.decode import decode_image

if TYPE_CHECKING:
    from emolens.analysis import Analyzer
    from emolens.runtime.recognizer import Recognizer

log = logging.getLogger(__name__)


class LiveSession:
    """One accepted WebSocket connection; :meth:`run` serves it until the client goes."""

    def __init__(self, websocket: WebSocket, recognizer: Recognizer, detector: str, max_pixels: int) -> None:
        self.ws = websocket
        self.recognizer = recognizer
        self.detector = detector
        self.max_pixels = max_pixels
        self.received = 0
        self.dropped = 0
        self.answered = 0
        self._slot: tuple[int, bytes] | None = None
        self._ready = asyncio.Event()
        self._closed = False
        self._reset = False
        self._send_lock = asyncio.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emolens-live")
        self._analyzer: Analyzer | None = None
        self._t0 = time.monotonic()

    async def run(self) -> None:
        reader = asyncio.create_task(self._read())
        try:
            await self._process()
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await asyncio.to_thread(self._executor.shutdown, wait=True)
            log.debug(
                "live connection closed: %d frames, %d answered, %d dropped", self.received, self.answered, self.dropped
            )

    # ------------------------------------------------------------------ reading

    async def _read(self) -> None:
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                data = message.get("bytes")
                if data is not None:
                    self._put(data)
                elif message.get("text") is not None:
                    await self._command(message["text"])
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            self._closed = True
            self._ready.set()

    def _put(self, data: bytes) -> None:
        frame = self.received
        self.received += 1
        if self._slot is not None:
            self.dropped += 1
        self._slot = (frame, data)
        self._ready.set()

    async def _command(self, text: str) -> None:
        try:
            command = json.loads(text)
        except ValueError:
            command = None
        if isinstance(command, dict) and command.get("type") == "reset":
            self._reset = True  # applied on the processing thread, before the next frame
            return
        await self._send(
            {
                "type": "error",
                "frame": None,
                "detail": 'unknown message: send frames as binary JPEG or PNG images, or {"type": "reset"}',
            }
        )

    # ------------------------------------------------------------------ processing

    async def _process(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._ready.wait()
            self._ready.clear()
            if self._closed:
                return
            if self._slot is None:
                continue
            frame, data = self._slot
            self._slot = None
            reset, self._reset = self._reset, False
            try:
                message = await loop.run_in_executor(self._executor, self._analyse, frame, data, reset)
            except EmolensError as e:
                message = {"type": "error", "frame": frame, "detail": str(e)}
            except Exception as e:  # a bug: say so to the client, keep the connection and the server
                log.exception("live frame %d failed", frame)
                message = {
                    "type": "error",
                    "frame": frame,
                    "detail": f"the server failed on this frame ({type(e).__name__})",
                }
            self.answered += 1
            message["received"] = self.received
            message["dropped"] = self.dropped
            if not await self._send(message):
                return

    def _analyse(self, frame: int, data: bytes, reset: bool) -> dict[str, Any]:
        """Decode and analyse one frame, on the connection's thread."""
        t = time.perf_counter()
        analyzer = self._get_analyzer()
        if reset:
            analyzer.reset()
        image = decode_image(data, self.max_pixels)
        result = analyzer.process(image, frame, time.monotonic() - self._t0)
        return {
            "type": "result",
            "frame": frame,
            "width": int(image.shape[1]),
            "height": int(image.shape[0]),
            "faces": [face.as_dict() for face in result.faces],
            "processing_ms": round((time.perf_counter() - t) * 1000.0, 2),
        }

    def _get_analyzer(self) -> Analyzer:
        if self._analyzer is None:
            from emolens.analysis import Analyzer
            from emolens.detect import create_detector

            self._analyzer = Analyzer(self.recognizer, create_detector(self.detector))
        return self._analyzer

    async def _send(self, message: dict[str, Any]) -> bool:
        """Send one JSON message; False when the client has gone."""
        if self.ws.application_state != WebSocketState.CONNECTED:
            return False
        try:
            async with self._send_lock:
                await self.ws.send_text(json.dumps(message))
        except (WebSocketDisconnect, RuntimeError, OSError):
            return False
        return True
