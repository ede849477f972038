"""Events as webhooks: one HTTP POST of JSON per event, from a thread of its own.

Each event is POSTed to the URL as ``application/json`` (the body of
:func:`~emolens.event.sinks.event_json`) with the headers ``X-Emolens-Event`` (its kind) and,
when a secret is given, ``X-Emolens-Signature: sha256=<hex>``: the HMAC-SHA256 of the exact body
with the secret, which the receiver recomputes to know the event is ours and unchanged
(:func:`signature`). A POST that fails (no answer within ``timeout_s``, a refused connection, a
5xx or 429 answer) is tried again up to ``retries`` times, waiting ``backoff_s``, then twice that,
and so on; a 4xx answer is not retried. Events wait in a bounded queue of ``queue_size``: when a
dead endpoint lets it fill, new events are dropped and counted, and the analysis never waits.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import math
import queue
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from emolens.errors import EmolensError
from emolens.event.sinks import event_json
from emolens.event.types import Event

log = logging.getLogger(__name__)

__all__ = ["SIGNATURE_HEADER", "WebhookSink", "signature"]

SIGNATURE_HEADER = "X-Emolens-Signature"


def signature(body: bytes, secret: str) -> str:
    """The value of the signature header for ``body``: ``sha256=`` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSink:
    """POST each event to ``url`` (see the module)."""

    def __init__(
        self,
        url: str,
        *,
        secret: str | None = None,
        timeout_s: float = 2.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        queue_size: int = 1000,
        close_timeout_s: float = 5.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EmolensError(f"a webhook is an http:// or https:// URL, got {url!r}")
        if not (0 < timeout_s < math.inf and retries >= 0 and 0 <= backoff_s < math.inf and queue_size >= 1):
            raise EmolensError(
                "webhook: timeout_s must be above 0, retries and backoff_s 0 or more, queue_size 1 or more"
            )
        self.name = f"webhook:{parts.scheme}://{parts.netloc}{parts.path}"
        self.url = url
        self.secret = secret
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.close_timeout_s = close_timeout_s
        self._queue: queue.Queue[Event | None] = queue.Queue(queue_size)
        self._stop = threading.Event()
        self._deadline = float("inf")  # set by close(): retries stop there
        self._counts = {"sent": 0, "dropped": 0, "failed": 0}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._deliver, name="emolens-webhook", daemon=True)
        self._thread.start()

    def send(self, event: Event) -> None:
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._count("dropped")

    def _count(self, what: str) -> None:
        with self._lock:
            self._counts[what] += 1

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {**self._counts, "queued": self._queue.qsize()}

    def _post(self, body: bytes, kind: str) -> bool:
        """One attempt; True when delivered, False when worth another (both counted); _Refused on a 4xx."""
        headers = {"Content-Type": "application/json", "X-Emolens-Event": kind, "User-Agent": "emolens-webhook"}
        if self.secret:
            headers[SIGNATURE_HEADER] = signature(body, self.secret)
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 - http(s) only, checked
                response.read()
            return True
        except urllib.error.HTTPError as e:
            self._count("failed")
            if e.code < 500 and e.code != 429:
                log.warning("webhook %s refused a %s event: HTTP %d (not retried)", self.name, kind, e.code)
                raise _Refused from None
            log.info("webhook %s: HTTP %d", self.name, e.code)
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            self._count("failed")
            log.info("webhook %s: %s", self.name, getattr(e, "reason", e))
        return False

    def _deliver(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            body = event_json(event).encode()
            delivered = False
            try:
                for attempt in range(self.retries + 1):
                    if attempt:
                        delay = self.backoff_s * 2 ** (attempt - 1)
                        if self._stop.is_set():  # closing: retry only while the deadline allows
                            if self._deadline - time.monotonic() <= delay:
                                break
                            time.sleep(delay)
                        else:
                            self._stop.wait(delay)
                    if self._post(body, event.kind):
                        delivered = True
                        break
            except _Refused:
                pass
            self._count("sent" if delivered else "dropped")

    def close(self) -> None:
        """Deliver what is queued for up to ``close_timeout_s`` seconds; what is left is dropped."""
        self._deadline = time.monotonic() + self.close_timeout_s
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=self.close_timeout_s)
        self._thread.join(self.close_timeout_s)
        while True:  # anything not delivered by now is lost: count it
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self._count("dropped")
        if self._thread.is_alive():
            log.warning("webhook %s: still delivering after %.0f s; giving up", self.name, self.close_timeout_s)


class _Refused(Exception):
    """The endpoint answered 4xx: retrying would not help."""
