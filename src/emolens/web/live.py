"""The live WebSocket session: browser frames in, faces with track ids, smoothed emotions and events out.

Each result message carries the frame's ``events`` (:mod:`emolens.event`: people entering and
leaving, emotion changes that held...), from rules of the connection's own; a reset starts them
afresh.

Each binary message is one JPEG (or PNG) frame, numbered 0, 1, 2, ... as it arrives. A reader
task keeps only the newest frame not yet processed (a one-slot buffer): a frame replaced before
its turn counts as dropped, so a client that sends faster than the server can follow gets
answers about its latest frames, never a growing queue. The processing runs on a thread of the
connection's own (its :class:`~emolens.analysis.Analyzer` and face detector are not
thread-safe), off the event loop; the Recognizer is shared by all connections.

A client that sends nothing (no frame, no command) for ``idle_s`` seconds, while no frame of
its own is being processed, is closed with code :data:`WS_IDLE` (4408) and a reason saying so,
which frees its place among the ``max_live`` streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from emolens.errors import EmolensError
from emolens.web.decode import decode_image

if TYPE_CHECKING:
    from emolens.analysis import Analyzer
    from emolens.event.rules import EventRules
    from emolens.event.types import EventOptions
    from emolens.runtime.recognizer import Recognizer

log = logging.getLogger(__name__)

WS_IDLE = 4408
"""The close code of a live connection that sent nothing for ``idle_s`` seconds (as HTTP 408, Request Timeout)."""


class LiveSession:
    """One accepted WebSocket connection; :meth:`run` serves it until the client goes, or until
    it has sent nothing for ``idle_s`` seconds (None: never)."""

    def __init__(
        self,
        websocket: WebSocket,
        recognizer: Recognizer,
        detector: str,
        max_pixels: int,
        idle_s: float | None = None,
        event_options: EventOptions | None = None,
    ) -> None:
        self.ws = websocket
        self.recognizer = recognizer
        self.detector = detector
        self.max_pixels = max_pixels
        self.idle_s = idle_s
        self.event_options = event_options
        self._last = time.monotonic()  # the last message from the client, or answer to it
        self._busy = False  # a frame of this connection is being processed
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
        self._rules: EventRules | None = None
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
                message = await self._receive()
                if message is None:
                    await self._close_idle()
                    return
                self._last = time.monotonic()
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

    async def _receive(self) -> Message | None:
        """The client's next message; None once it has been idle for ``idle_s`` seconds (the time
        its own frame spends being processed does not count)."""
        if self.idle_s is None:
            return await self.ws.receive()
        while True:
            left = self._last + self.idle_s - time.monotonic()
            if left <= 0 and not self._busy:
                return None
            try:
                return await asyncio.wait_for(self.ws.receive(), timeout=left if left > 0 else self.idle_s)
            except TimeoutError:
                continue

    async def _close_idle(self) -> None:
        assert self.idle_s is not None
        log.info("live connection closed after %g s without a message (%d frames)", self.idle_s, self.received)
        reason = f"nothing received for {self.idle_s:g} s: idle live streams are closed; reconnect to go on"
        async with self._send_lock:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await self.ws.close(WS_IDLE, reason)

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
            self._busy = True
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
            finally:
                self._busy = False
                self._last = max(self._last, time.monotonic())
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
        events = self._get_rules(reset).frame(result)
        return {
            "type": "result",
            "frame": frame,
            "width": int(image.shape[1]),
            "height": int(image.shape[0]),
            "faces": [face.as_dict() for face in result.faces],
            "events": [e.as_dict() for e in events],
            "processing_ms": round((time.perf_counter() - t) * 1000.0, 2),
        }

    def _get_rules(self, reset: bool) -> EventRules:
        if self._rules is None:
            from emolens.event.rules import EventRules

            self._rules = EventRules(self.event_options, "live", self.recognizer.labels)
        elif reset:
            self._rules.reset()
        return self._rules

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
