"""Where the relaxation loop gets its readings of the child: a camera (or a video file played as
one) through the analysis core, or a scripted demo for the panel and tests.

A source's :meth:`~ReadingSource.poll` waits up to a timeout for the next observation and returns
a :class:`~emolens.relax.types.Reading` (None when nothing new came); a fault (the camera is gone,
the recogniser failed) is raised as :class:`SourceFault`, which the runner hands to the controller.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from emolens.errors import EmolensError
from emolens.labels import EMOTIONS
from emolens.relax.controller import valence_from_probs
from emolens.relax.types import Reading
from emolens.types import Face

if TYPE_CHECKING:
    from emolens.analysis import Analyzer
    from emolens.video.source import FrameSource, Source

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class SourceFault(Exception):
    """The source cannot give readings now: ``kind`` is a controller fault kind
    (``camera_lost``, ``recognizer_error``); ``detail`` says what happened."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class ReadingSource(Protocol):
    name: str

    def poll(self, now: float, timeout_s: float) -> Reading | None:
        """The next reading, waiting up to ``timeout_s``; None when none came. Raises SourceFault."""

    def close(self) -> None: ...


def reading_from_faces(faces: Sequence[Face], t: float, age_s: float = 0.0) -> Reading:
    """The reading of the child: the largest face of the frame (the one nearest the camera);
    a reading without probabilities when no face was seen."""
    if not faces:
        return Reading(t, age_s=age_s)
    face = max(faces, key=lambda f: f.box[2] * f.box[3])
    return Reading(t, dict(face.scores), valence_from_probs(face.scores), age_s=age_s)


class CameraReadings:
    """Frames of a camera (or a video file played at its own speed, as a camera) through ``analyzer``.

    A grabbing thread keeps only the newest frame, so the loop always works on the present; each
    :meth:`poll` analyses the newest frame not yet seen. No frame for ``lost_after_s``, or the end
    of the source, is a ``camera_lost`` fault; an exception of the analyser a ``recognizer_error``.
    The frames are never stored.
    """

    def __init__(
        self,
        source: Source | FrameSource,
        analyzer: Analyzer,
        *,
        clock: Clock = time.monotonic,
        lost_after_s: float = 2.0,
        realtime: bool = True,
    ) -> None:
        from emolens.video.source import FrameSource, open_source

        self.analyzer = analyzer
        self.clock = clock
        self.lost_after_s = lost_after_s
        self._src = source if isinstance(source, FrameSource) else open_source(source)
        self.name = self._src.name
        self._pace = realtime and not self._src.live and self._src.fps is not None
        self._cond = threading.Condition()
        self._frame: tuple[int, float, float, np.ndarray] | None = None  # index, time_s, seen at, image
        self._used = -1
        self._ended: str | None = None
        self._last_frame_at = clock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._grab, name="relax-camera", daemon=True)
        self._thread.start()

    def _grab(self) -> None:
        t0 = time.monotonic()
        why = f"{self.name} ended"
        try:
            for frame in self._src:
                if self._stop.is_set():
                    return
                if self._pace and self._src.fps:
                    delay = t0 + frame.index / self._src.fps - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        return
                with self._cond:
                    self._frame = (frame.index, frame.time_s, self.clock(), frame.image)
                    self._last_frame_at = self.clock()
                    self._cond.notify_all()
        except Exception as e:  # a camera unplugged mid-read: the loop hears of it as a fault
            why = f"{self.name} failed: {e}"
        with self._cond:
            self._ended = why
            self._cond.notify_all()

    def poll(self, now: float, timeout_s: float) -> Reading | None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._frame is None or self._frame[0] == self._used:
                if self._ended is not None:
                    raise SourceFault("camera_lost", self._ended)
                if self.clock() - self._last_frame_at > self.lost_after_s:
                    raise SourceFault("camera_lost", f"no frame from {self.name} for {self.lost_after_s:g} s")
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            index, time_s, seen_at, image = self._frame
            self._used = index
        return self.analyze(image, index, time_s, seen_at)

    def analyze(self, image: np.ndarray, index: int, time_s: float, seen_at: float) -> Reading:
        """The reading of one frame seen at ``seen_at`` (the clock's time); a SourceFault when the
        analyser fails."""
        try:
            result = self.analyzer.process(image, index, time_s)
        except Exception as e:
            raise SourceFault("recognizer_error", f"{type(e).__name__}: {e}") from e
        return reading_from_faces(result.faces, seen_at, max(0.0, self.clock() - seen_at))

    def close(self) -> None:
        self._stop.set()
        # the reader stops between frames; the source is released after it, never under a read in
        # progress (OpenCV's capture is not safe to release from another thread: it can hang)
        self._thread.join(timeout=2.0)
        self._src.close()


# ------------------------------------------------------------------------------------- demos


def _probs(happy: float, negative: float, rng: np.random.Generator, noise: float = 0.03) -> dict[str, float]:
    """Seven probabilities with about ``happy`` on happy and ``negative`` spread over sad, fear and angry."""
    p = dict.fromkeys(EMOTIONS, 0.01)
    p["happy"] = max(0.0, happy + rng.normal(0, noise))
    p["sad"] = max(0.0, negative * 0.6 + rng.normal(0, noise / 2))
    p["fear"] = max(0.0, negative * 0.25)
    p["angry"] = max(0.0, negative * 0.15)
    p["neutral"] = max(0.02, 1.0 - sum(v for k, v in p.items() if k != "neutral"))
    total = sum(p.values())
    return {k: v / total for k, v in p.items()}


def _calm(t: float, rng: np.random.Generator) -> dict[str, float] | None:
    return _probs(0.15 + 0.5 * (1.0 - math.exp(-t / 40.0)), 0.06, rng)


def _upset(t: float, rng: np.random.Generator) -> dict[str, float] | None:
    if t < 12.0:
        return _probs(0.25, 0.08, rng)
    return _probs(0.02, min(0.97, 0.08 + (t - 12.0) * 0.12), rng, noise=0.01)


def _gaps(t: float, rng: np.random.Generator) -> dict[str, float] | None:
    return None if t % 30.0 >= 20.0 else _calm(t, rng)


DEMOS: dict[str, tuple[str, Callable[[float, np.random.Generator], dict[str, float] | None]]] = {
    "calm": ("relaxes and smiles more and more", _calm),
    "upset": ("calm at first, then more and more distressed (the stimulus halts)", _upset),
    "gaps": ("like calm, but the face leaves the camera for 10 s every 30 s", _gaps),
}
"""The scripted children of the demo source: name -> (what happens, probabilities at time t or None without a face)."""


class DemoReadings:
    """A scripted child (one of :data:`DEMOS`) at ``fps`` readings a second, from the first poll;
    no camera needed. Deterministic for a seed."""

    def __init__(
        self, script: str = "calm", *, fps: float = 10.0, seed: int = 0, clock: Clock = time.monotonic
    ) -> None:
        if script not in DEMOS:
            raise EmolensError(f"unknown demo {script!r}; there are: {', '.join(DEMOS)}")
        self.name = f"demo:{script}"
        self.script = DEMOS[script][1]
        self.period = 1.0 / fps
        self.clock = clock
        self._rng = np.random.default_rng(seed)
        self._t0: float | None = None
        self._next = 0.0

    def poll(self, now: float, timeout_s: float) -> Reading | None:
        if self._t0 is None:
            self._t0 = self._next = now
        wait = self._next - now
        if wait > timeout_s:
            time.sleep(max(0.0, timeout_s))
            return None
        if wait > 0:
            time.sleep(wait)
        now = self.clock()
        self._next = max(self._next + self.period, now - self.period)
        probs = self.script(now - self._t0, self._rng)
        if probs is None:
            return Reading(now)
        return Reading(now, probs, valence_from_probs(probs))

    def close(self) -> None:
        pass


class CsvReadings:
    """A recorded emotion timeline (the CSV of ``emolens relax simulate``) replayed in real time,
    ``speed`` times as fast; its events are left out (the operator is the operator). After the last
    row nothing more comes (the controller then holds and fades, as with a lost face)."""

    def __init__(self, path: str, *, speed: float = 1.0, clock: Clock = time.monotonic) -> None:
        from emolens.relax.simulate import read_emotions

        rows = [r for r in read_emotions(path) if r.reading is not None]
        if not rows:
            raise EmolensError(f"{path} has no readings to replay")
        self.name = f"csv:{path}"
        self._rows = rows
        self._speed = speed
        self._i = 0
        self.clock = clock
        self._t0: float | None = None

    def poll(self, now: float, timeout_s: float) -> Reading | None:
        if self._t0 is None:
            self._t0 = now
        if self._i >= len(self._rows):
            time.sleep(max(0.0, timeout_s))
            return None
        row = self._rows[self._i]
        due = self._t0 + (row.time - self._rows[0].time) / self._speed
        if due - now > timeout_s:
            time.sleep(max(0.0, timeout_s))
            return None
        time.sleep(max(0.0, due - now))
        self._i += 1
        assert row.reading is not None
        r = row.reading
        return Reading(self.clock(), dict(r.probs), r.valence, r.arousal)

    def close(self) -> None:
        pass
