"""Live wristband samples over MQTT: the topic, the JSON payload, and a replay of recorded E4 data.

**Topic**: ``emolens/physio/<child>/<channel>``, with ``<child>`` a pseudonymous id (letters,
digits, ``-``, ``_``, ``.``; never a name) and ``<channel>`` one of ``hr``, ``bvp``, ``eda``,
``temp``, ``acc``, ``ibi``. Subscribe to ``emolens/physio/<child>/+`` for one child's channels.

**Payload** (UTF-8 JSON object), one message per chunk of samples of one channel:

- regular channels: ``{"t": <unix s of the first sample>, "fs": <rate in Hz>, "v": [samples]}``;
  ``acc`` samples are ``[x, y, z]`` lists (1/64 g, as the E4); a ``null`` sample is a missed one;
- ``ibi``: ``{"t": [unix s of each beat], "v": [interval s ending at that beat]}``.

At most :data:`MAX_SAMPLES` samples a message. :func:`decode_samples` checks all of it and raises
a :class:`~emolens.errors.DataError` saying what is wrong (never anything else), so a subscriber can
log and drop a bad message::

    live = PhysioRecognizer().stream()
    def on_message(client, userdata, msg):
        try:
            s = decode_samples(msg.topic, msg.payload)
        except DataError as e:
            log.warning("dropped: %s", e)
            return
        for reading in live.push(s.channel, s.t, s.values, s.fs):
            ...

:func:`replay_e4` publishes a recorded E4 folder as such messages, at real or accelerated speed,
through any ``publish(topic, payload)`` callable (paho-mqtt's ``client.publish`` fits; paho is an
optional dependency: the ``relax`` extra).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import DataError, EmolensError
from emolens.physio.readers import CHANNELS, Events, Signal, read_e4

__all__ = [
    "MAX_SAMPLES",
    "TOPIC_ROOT",
    "Samples",
    "decode_samples",
    "encode_samples",
    "mqtt_publisher",
    "parse_topic",
    "replay_e4",
    "topic_filter",
    "topic_for",
]

log = logging.getLogger(__name__)

TOPIC_ROOT = "emolens/physio"
MAX_SAMPLES = 100_000
"""The most samples one message may carry."""
MAX_RATE = 10_000.0  # the same bound as a live stream
_CHILD = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class Samples:
    """One decoded message: ``channel``; ``t`` the unix time of the first sample (regular
    channels) or of each beat (``ibi``, an array); ``values`` (NaN = missed sample; ``acc``: n x 3);
    ``fs`` the rate in Hz (None for ``ibi``); ``child`` from the topic (empty without one)."""

    channel: str
    t: float | np.ndarray
    values: np.ndarray
    fs: float | None = None
    child: str = ""


def topic_for(child: str, channel: str) -> str:
    """The topic of ``child``'s ``channel``."""
    if not _CHILD.match(child):
        raise DataError(f"a child id is 1 to 64 letters, digits, '-', '_' or '.', got {child!r}")
    if channel not in CHANNELS:
        raise DataError(f"unknown channel {channel!r}: one of {', '.join(CHANNELS)}")
    return f"{TOPIC_ROOT}/{child}/{channel}"


def topic_filter(child: str) -> str:
    """The MQTT filter for every channel of ``child``: ``emolens/physio/<child>/+``."""
    return topic_for(child, CHANNELS[0]).rsplit("/", 1)[0] + "/+"


def parse_topic(topic: str) -> tuple[str, str]:
    """``(child, channel)`` of a topic of this layout; DataError otherwise."""
    parts = topic.split("/")
    if len(parts) != 4 or "/".join(parts[:2]) != TOPIC_ROOT:
        raise DataError(f"not a physio topic ({TOPIC_ROOT}/<child>/<channel>): {topic!r}")
    child, channel = parts[2], parts[3]
    topic_for(child, channel)
    return child, channel


def _number(x: Any, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise DataError(f"{what} must be a number, got {type(x).__name__}")
    v = float(x)
    if not math.isfinite(v):
        raise DataError(f"{what} must be finite, got {x!r}")
    return v


def _samples(v: Any, channel: str) -> np.ndarray:
    if not isinstance(v, list):
        raise DataError(f"'v' must be a list of samples, got {type(v).__name__}")
    if len(v) > MAX_SAMPLES:
        raise DataError(f"too many samples in one message ({len(v)} > {MAX_SAMPLES})")
    if channel == "acc":
        out = np.full((len(v), 3), np.nan)
        for i, row in enumerate(v):
            if row is None:
                continue
            if not isinstance(row, list) or len(row) != 3:
                raise DataError(f"acc sample {i} must be a list [x, y, z], got {row!r}"[:120])
            out[i] = [_number(c, f"acc sample {i}") for c in row]
        return out
    out1 = np.full(len(v), np.nan)
    for i, x in enumerate(v):
        if x is not None:
            out1[i] = _number(x, f"sample {i}")
    return out1


def decode_samples(topic: str | None, payload: bytes | str, channel: str | None = None) -> Samples:
    """The samples of one message (see the module). ``topic`` gives the child and channel; without
    a topic, give ``channel``. Raises DataError for anything malformed."""
    child = ""
    if topic is not None:
        child, channel = parse_topic(topic)
    if channel is None:
        raise DataError("give the topic or the channel of a payload")
    if channel not in CHANNELS:
        raise DataError(f"unknown channel {channel!r}: one of {', '.join(CHANNELS)}")
    try:
        text = payload.decode("utf-8") if isinstance(payload, (bytes, bytearray)) else payload
        obj = json.loads(text, parse_constant=lambda c: float(c))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise DataError(f"{channel}: the payload is not UTF-8 JSON: {e}") from None
    if not isinstance(obj, dict):
        raise DataError(f"{channel}: the payload must be a JSON object with 't' and 'v'")
    if "t" not in obj or "v" not in obj:
        raise DataError(f"{channel}: the payload needs 't' and 'v'")
    if channel == "ibi":
        t, v = obj["t"], obj["v"]
        if not isinstance(t, list) or not isinstance(v, list) or len(t) != len(v):
            raise DataError("ibi: 't' and 'v' must be lists of the same length (beat times, intervals)")
        if len(t) > MAX_SAMPLES:
            raise DataError(f"too many samples in one message ({len(t)} > {MAX_SAMPLES})")
        tt = np.array([_number(x, "a beat time") for x in t])
        vv = np.array([_number(x, "an interval") for x in v])
        if np.any(np.diff(tt) <= 0):
            raise DataError("ibi: the beat times must increase")
        if np.any(vv <= 0) or np.any(vv > 5):
            raise DataError("ibi: intervals are seconds between 0 and 5")
        return Samples("ibi", tt, vv, None, child)
    t0 = _number(obj["t"], f"{channel}: 't'")
    if "fs" not in obj:
        raise DataError(f"{channel}: the payload needs 'fs', the rate in Hz")
    fs = _number(obj["fs"], f"{channel}: 'fs'")
    if not 0 < fs <= MAX_RATE:
        raise DataError(f"{channel}: 'fs' must be between 0 and {MAX_RATE:g} Hz, got {fs:g}")
    return Samples(channel, t0, _samples(obj["v"], channel), fs, child)


def encode_samples(channel: str, t: float | Any, values: Any, fs: float | None = None) -> bytes:
    """The payload of one chunk (see the module); checked as :func:`decode_samples` would."""
    if channel not in CHANNELS:
        raise DataError(f"unknown channel {channel!r}: one of {', '.join(CHANNELS)}")

    def num(x: Any) -> float | None:
        v = float(x)
        return None if math.isnan(v) else v

    if channel == "ibi":
        obj: dict[str, Any] = {
            "t": [float(x) for x in np.asarray(t, dtype=np.float64).reshape(-1)],
            "v": [float(x) for x in np.asarray(values, dtype=np.float64).reshape(-1)],
        }
    else:
        arr = np.asarray(values, dtype=np.float64)
        v: list[Any] = [[num(c) for c in row] for row in arr] if channel == "acc" else [num(x) for x in arr.reshape(-1)]
        obj = {"t": float(np.asarray(t, dtype=np.float64).reshape(-1)[0]), "fs": fs, "v": v}
    try:
        raw = json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()
    except (ValueError, TypeError) as e:
        raise DataError(f"{channel}: cannot encode the samples: {e}") from None
    decode_samples(None, raw, channel)
    return raw


def replay_e4(
    folder: str | Path,
    publish: Callable[[str, bytes], Any],
    *,
    child: str = "child1",
    speed: float = 1.0,
    chunk_s: float = 1.0,
    start_s: float = 0.0,
    duration_s: float | None = None,
    stop: threading.Event | None = None,
    sleep: Callable[[float], Any] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Publish a recorded E4 folder as MQTT messages (see the module) and return how many.

    Every ``chunk_s`` of recording becomes one message per channel, sent once that chunk would
    have been complete: at real time (``speed`` 1), ``speed`` times faster, or as fast as possible
    (``speed`` 0). ``start_s`` and ``duration_s`` select part of the recording; ``stop`` ends the
    replay early; ``sleep`` and ``clock`` are for tests. The samples keep their recorded times.
    """
    if chunk_s <= 0:
        raise EmolensError(f"chunk_s must be positive, got {chunk_s}")
    if speed < 0 or not math.isfinite(speed):
        raise EmolensError(f"speed must be 0 (as fast as possible) or positive, got {speed}")
    rec = read_e4(folder)
    topics = {c: topic_for(child, c) for c in rec.channels}
    t0 = rec.t0 + start_s
    t_end = rec.t_end if duration_s is None else min(rec.t_end, t0 + duration_s)
    n_chunks = max(0, math.ceil((t_end - t0) / chunk_s - 1e-9))
    began = clock()
    sent = 0
    for k in range(n_chunks):
        a = t0 + k * chunk_s
        b = min(a + chunk_s, t_end)
        if speed > 0:
            due = began + (b - t0) / speed
            wait = due - clock()
            if wait > 0:
                sleep(wait)
        if stop is not None and stop.is_set():
            break
        for name, ch in rec.channels.items():
            payload = _chunk(name, ch, a, b)
            if payload is not None:
                publish(topics[name], payload)
                sent += 1
    log.info("replayed %s: %d messages", folder, sent)
    return sent


def _chunk(name: str, ch: Signal | Events, a: float, b: float) -> bytes | None:
    if isinstance(ch, Events):
        tt, vv = ch.between(a, b)
        return encode_samples("ibi", tt, vv) if len(tt) else None
    i0 = max(0, math.ceil((a - ch.t0) * ch.fs - 1e-9))
    i1 = min(len(ch), math.ceil((b - ch.t0) * ch.fs - 1e-9))
    if i1 <= i0:
        return None
    return encode_samples(name, ch.t0 + i0 / ch.fs, ch.values[i0:i1], ch.fs)


def mqtt_publisher(
    url: str, client_id: str = "emolens-physio-replay", timeout_s: float = 5.0
) -> tuple[Callable[[str, bytes], Any], Callable[[], None]]:
    """A ``publish(topic, payload)`` callable on the broker at ``mqtt://HOST:PORT`` and a
    ``close()``; needs paho-mqtt (``pip install 'emolens[relax]'``). EmolensError when the broker
    cannot be reached."""
    from emolens.mqtt import connect, make_client

    client = make_client(client_id)
    connected = threading.Event()
    client.on_connect = lambda *_args: connected.set()
    connect(client, url, keepalive_s=10, timeout_s=timeout_s, connected=connected)

    last: list[Any] = []

    def publish(topic: str, payload: bytes) -> Any:
        info = client.publish(topic, payload, qos=1)
        last[:] = [info]
        return info

    def close() -> None:
        if last:  # let the last message leave before disconnecting
            with contextlib.suppress(RuntimeError, ValueError):
                last[0].wait_for_publish(timeout_s)
        client.disconnect()
        client.loop_stop()

    return publish, close
