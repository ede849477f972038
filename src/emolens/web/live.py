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
import base64
import binascii
import contextlib
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from emolens.audio.features import ProfileAccumulator
from emolens.errors import EmolensError
from emolens.web.decode import decode_image

if TYPE_CHECKING:
    from emolens.analysis import Analyzer
    from emolens.audio.recognizer import VoiceRecognizer
    from emolens.event.rules import EventRules
    from emolens.event.types import EventOptions
    from emolens.relax.body import BodyFeed
    from emolens.runtime.recognizer import Recognizer
    from emolens.types import DetectorOptions

log = logging.getLogger(__name__)

_EMPTY = np.zeros(0, np.float32)

BODY_FRESH_S = 2.0
"""A wristband reading older than this is shown as stale (the relaxation controller's default rule)."""
VOICE_WINDOW_S = 2.0
"""The microphone's last seconds that are judged (the speech model's window)."""
VOICE_EVERY_S = 0.5
"""How much new sound makes the next judgement."""
MIN_VOICE_S = 1.0
"""Less sound than this is not judged yet."""
MAX_CHUNK_S = 1.0
"""The longest microphone chunk one message may carry."""

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
        detector_options: DetectorOptions | None = None,
        event_options: EventOptions | None = None,
        voice: Callable[[], VoiceRecognizer] | None = None,
        body: BodyFeed | None = None,
    ) -> None:
        self.ws = websocket
        self.recognizer = recognizer
        self.detector = detector
        self.detector_options = detector_options
        self.max_pixels = max_pixels
        self.idle_s = idle_s
        self.event_options = event_options
        self.voice = voice
        self.body = body
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
        self._audio: np.ndarray = _EMPTY
        self._rate = 16000
        self._heard_new = 0
        self._voice_profile: ProfileAccumulator | None = None  # level and spectrum sums only, no sound
        self._voice_due = False
        self._last_face: dict[str, float] | None = None
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
        if isinstance(command, dict) and command.get("type") == "audio":
            problem = self._take_audio(command)
            if problem:
                await self._send({"type": "voice", "error": problem})
            return
        await self._send(
            {
                "type": "error",
                "frame": None,
                "detail": 'unknown message: send frames as binary JPEG or PNG images, {"type": "reset"}, '
                'or {"type": "audio", "rate": HZ, "pcm": BASE64_INT16}',
            }
        )

    # ------------------------------------------------------------------ processing

    def _take_audio(self, command: dict[str, Any]) -> str:
        """Add a microphone chunk to the last ``VOICE_WINDOW_S`` seconds kept; "" or what is wrong."""
        if self.voice is None:
            return "this server does not listen to microphones"
        rate, pcm = command.get("rate"), command.get("pcm")
        if not isinstance(rate, int) or isinstance(rate, bool) or not 8000 <= rate <= 48000:
            return "audio: 'rate' must be a whole number of Hz from 8000 to 48000"
        if not isinstance(pcm, str) or len(pcm) > 4 * (2 * rate * MAX_CHUNK_S + 2) // 3 + 4:
            return f"audio: 'pcm' must be base64 of at most {MAX_CHUNK_S:g} s of 16-bit mono samples"
        try:
            raw = base64.b64decode(pcm, validate=True)
        except (ValueError, binascii.Error):
            return "audio: 'pcm' is not valid base64"
        if len(raw) % 2:
            return "audio: 'pcm' must hold whole 16-bit samples"
        chunk = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
        if rate != self._rate:
            self._audio, self._rate = chunk[:0], rate
        keep = int(rate * VOICE_WINDOW_S)
        self._audio = np.concatenate([self._audio, chunk])[-keep:]
        self._heard_new += len(chunk)
        if self._heard_new >= rate * VOICE_EVERY_S:
            self._voice_due = True
            self._ready.set()
        return ""

    async def _process(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._ready.wait()
            self._ready.clear()
            if self._closed:
                return
            if self._voice_due:
                self._voice_due = False
                try:
                    voice = await loop.run_in_executor(self._executor, self._hear)
                except EmolensError as e:
                    voice = {"type": "voice", "error": str(e)}
                except Exception as e:  # a bug: say so, keep the connection
                    log.exception("live voice failed")
                    voice = {"type": "voice", "error": f"the server failed on the sound ({type(e).__name__})"}
                if voice is not None and not await self._send(voice):
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
            self._voice_profile = None
        image = decode_image(data, self.max_pixels)
        result = analyzer.process(image, frame, time.monotonic() - self._t0)
        events = self._get_rules(reset).frame(result)
        main = max(result.faces, key=lambda f: f.box[2] * f.box[3], default=None)
        self._last_face = None if main is None else dict(main.scores)
        return {
            "type": "result",
            "frame": frame,
            "width": int(image.shape[1]),
            "height": int(image.shape[0]),
            "faces": [face.as_dict() for face in result.faces],
            "events": [e.as_dict() for e in events],
            "body": self._body(),
            "processing_ms": round((time.perf_counter() - t) * 1000.0, 2),
        }

    def _hear(self) -> dict[str, Any] | None:
        """Judge the last seconds of the microphone, on the connection's thread: the voice's emotion
        (or silence, music, non-speech), fused with the largest face of the last frame, and voice events."""
        from emolens.fusion import fuse, voice_as_face

        assert self.voice is not None
        vr = self.voice()
        x, rate = self._audio, self._rate
        if self._heard_new < rate * VOICE_EVERY_S or len(x) < rate * MIN_VOICE_S:
            return None  # judged already (a late wake-up), or not enough sound yet
        new = x[-min(self._heard_new, len(x)) :]
        self._heard_new = 0
        seconds = len(x) / rate
        profile = None if self._voice_profile is None else self._voice_profile.profile()
        w = vr.windows(x, rate, window_s=seconds, hop_s=seconds, profile=profile)[-1]
        if vr.uses_profile and w.probs is not None:  # the speaker's usual voice, built up as they talk
            if self._voice_profile is None:
                self._voice_profile = ProfileAccumulator(vr.profile_features)
            self._voice_profile.add(new, rate)
        t = time.monotonic() - self._t0
        probs = None if w.probs is None else {k: float(p) for k, p in zip(vr.labels, w.probs, strict=True)}
        as_face = None if w.probs is None else voice_as_face(w.probs.tolist(), vr.labels, self.recognizer.labels)
        fused = fuse(self._last_face, as_face, w.speech, labels=self.recognizer.labels)
        events = self._get_rules(False).voice(t, w.label, probs or {})
        return {
            "type": "voice",
            "t": round(t, 3),
            "seconds": round(seconds, 3),
            "label": w.label,
            "speech": round(w.speech, 4),
            "profile_s": None if self._voice_profile is None else round(self._voice_profile.seconds, 2),
            "probs": None if probs is None else {k: round(v, 4) for k, v in probs.items()},
            "fused": None
            if fused is None
            else {"label": fused.label, "probs": {k: round(v, 4) for k, v in fused.probs.items()}},
            "events": [e.as_dict() for e in events],
        }

    def _body(self) -> dict[str, object] | None:
        """The wristband's latest reading (stress, arousal, age, quality, fresh), None without one."""
        latest = self.body.latest if self.body is not None else None
        if latest is None:
            return None
        out = latest.as_dict(time.monotonic())
        out["fresh"] = latest.seen_at >= time.monotonic() - BODY_FRESH_S
        return out

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

            self._analyzer = Analyzer(self.recognizer, create_detector(self.detector, self.detector_options))
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
