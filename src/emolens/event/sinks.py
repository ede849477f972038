"""Where events go: sinks by name, each with ``send(event)``, ``close()`` and ``stats()``.

- :class:`JsonlSink`: one JSON line per event to a file (appended line by line and flushed, so
  ``tail -f`` follows it; a line is never left half-written) or to standard output.
- :class:`CallbackSink`: calls a Python function (``on_event=``).
- :class:`~emolens.event.mqtt.MqttSink` (``mqtt://HOST:PORT/PREFIX``) and
  :class:`~emolens.event.webhook.WebhookSink` (``http(s)://...``), in their own modules.

:func:`open_sink` makes one from a URL or path. A sink never slows the analysis: the network
sinks queue events (bounded; what does not fit is dropped and counted) and deliver from a thread
of their own.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol

from emolens.errors import EmolensError
from emolens.event.types import Event
from emolens.io import check_writable

log = logging.getLogger(__name__)

__all__ = ["CallbackSink", "JsonlSink", "Sink", "open_sink"]


class Sink(Protocol):
    """What every sink does."""

    name: str

    def send(self, event: Event) -> None:
        """Take one event (at once: never blocks on a network)."""

    def close(self) -> None:
        """Deliver what is queued (within the sink's timeout), then let go."""

    def stats(self) -> dict[str, int]:
        """Counts: ``sent`` (delivered), ``dropped`` (never delivered), ``failed`` attempts."""


def event_json(event: Event) -> str:
    """The one JSON form of an event, on one line (the same for every sink)."""
    return json.dumps(event.as_dict(), separators=(",", ":"), allow_nan=False)


class JsonlSink:
    """One JSON line per event to ``path`` (appended; ``-``: standard output)."""

    def __init__(self, path: str | Path = "-") -> None:
        self.name = f"jsonl:{path}"
        self._own = str(path) != "-"
        if self._own:
            check_writable(path)
            self._file: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        else:
            self._file = sys.stdout
        self._lock = threading.Lock()
        self._sent = 0

    def send(self, event: Event) -> None:
        line = event_json(event) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
            self._sent += 1

    def close(self) -> None:
        with self._lock:
            if self._own and not self._file.closed:
                self._file.close()

    def stats(self) -> dict[str, int]:
        return {"sent": self._sent, "dropped": 0, "failed": 0}


class CallbackSink:
    """Calls ``fn(event)`` for each event; an exception in it is logged and counted, never raised."""

    def __init__(self, fn: Callable[[Event], Any]) -> None:
        self.name = f"callback:{getattr(fn, '__name__', 'fn')}"
        self.fn = fn
        self._sent = 0
        self._failed = 0

    def send(self, event: Event) -> None:
        try:
            self.fn(event)
            self._sent += 1
        except Exception:
            self._failed += 1
            log.exception("the on_event callback failed on %s", event.kind)

    def close(self) -> None:
        pass

    def stats(self) -> dict[str, int]:
        return {"sent": self._sent, "dropped": 0, "failed": self._failed}


def open_sink(spec: str, *, secret: str | None = None, **options: Any) -> Sink:
    """The sink named by ``spec``: ``mqtt://HOST:PORT[/PREFIX]``, ``http(s)://...`` (a webhook,
    signed with ``secret`` when given), ``-`` (standard output) or a file path (JSON lines).
    ``options`` go to the network sinks (e.g. ``timeout_s``, ``retries``, ``queue_size``)."""
    if spec.startswith("mqtt://"):
        from emolens.event.mqtt import MqttSink

        return MqttSink(spec, **options)
    if spec.startswith(("http://", "https://")):
        from emolens.event.webhook import WebhookSink

        return WebhookSink(spec, secret=secret, **options)
    if "://" in spec:
        raise EmolensError(f"unknown event sink {spec!r}: use mqtt://HOST:PORT/PREFIX, http(s)://URL, - or a file")
    return JsonlSink(spec)
