"""One uploaded file, read from a ``multipart/form-data`` body as it streams in.

The body is parsed chunk by chunk: the upload is refused (413) as soon as it passes the size
limit and (415) as soon as its first bytes show the wrong kind of file, without reading the rest.
An image goes to memory, a video straight to a file: nothing is held beyond the limit. A body
that stalls or trickles is cut (408, connection closed; see :class:`Pace`), so that a client
cannot hold a job's place, or memory, by declaring a long body and going quiet.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from fastapi import HTTPException, Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from emolens.web.context import get_context
from emolens.web.sniff import HEAD_BYTES, SUFFIXES, sniff_upload

FIELD = "file"
FORM_OVERHEAD = 64 * 1024
"""Bytes of multipart framing and small fields allowed beyond the file size limit."""

OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FIELD],
                    "properties": {FIELD: {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}
"""The request body of an upload route, for the OpenAPI schema (the route reads the stream itself)."""

KindCheck = Callable[[str | None], str]
"""Called with the sniffed kind of the file (None: unknown); returns it, or raises (the route's error)."""


@dataclass(frozen=True)
class Upload:
    """The file of a form: its name as sent (for display only), sniffed kind, size, and bytes or path."""

    filename: str
    kind: str
    size: int
    data: bytes | bytearray = b""
    path: Path | None = None


@dataclass(frozen=True)
class Pace:
    """How slowly a request body may arrive: no pause longer than ``idle_s`` seconds, and once
    ``idle_s`` seconds have passed, on average at least ``min_bytes_s`` bytes a second (0: no minimum).
    """

    idle_s: float
    min_bytes_s: float = 0.0

    def deadline(self, start: float, received: int) -> float:
        """The time (as ``start``) by which more than ``received`` bytes must have arrived."""
        if self.min_bytes_s <= 0:
            return math.inf
        return start + self.idle_s + received / self.min_bytes_s


async def paced_chunks(request: Request, pace: Pace) -> AsyncGenerator[bytes, None]:
    """The chunks of ``request``'s body as they arrive; HTTP 408 (with ``Connection: close``) when
    the client pauses longer than ``pace.idle_s`` or falls below ``pace.min_bytes_s``."""
    stream = request.stream()
    start = time.monotonic()
    received = 0
    try:
        while True:
            now = time.monotonic()
            by_rate = pace.deadline(start, received) - now
            wait = min(pace.idle_s, by_rate)
            try:
                chunk = await asyncio.wait_for(anext(stream), timeout=max(wait, 0.0))
            except StopAsyncIteration:
                return
            except TimeoutError:
                if by_rate < pace.idle_s:
                    detail = (
                        f"the upload is too slow: {_kib(received)} in {time.monotonic() - start:.0f} s, "
                        f"under the minimum of {pace.min_bytes_s / 1024:g} kB/s"
                    )
                else:
                    detail = f"the upload stalled: no data for {pace.idle_s:g} s after {_kib(received)}"
                raise HTTPException(408, detail, headers={"Connection": "close"}) from None
            received += len(chunk)
            yield chunk
    finally:
        await stream.aclose()


def clean_filename(name: str) -> str:
    """The last part of a client-side file name, printable, at most 120 characters ("upload" if none)."""
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(c for c in base if c.isprintable()).strip()
    return base[-120:] or "upload"


class _FormReader:
    """The state of one multipart body: the current part's headers, and the file part's bytes."""

    def __init__(self, limit: int, check: KindCheck, folder: Path | None) -> None:
        self.limit = limit
        self.check = check
        self.folder = folder
        self.header_field = b""
        self.header_value = b""
        self.headers: dict[bytes, bytes] = {}
        self.in_file = False
        self.file_done = False
        self.ended = False
        self.filename = ""
        self.kind: str | None = None
        self.checked = False
        self.head = b""
        self.size = 0
        self.buffer = bytearray()
        self.fh: IO[bytes] | None = None
        self.path: Path | None = None

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self.headers = {}
        self.header_field = self.header_value = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field = self.header_value = b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self.headers.get(b"content-disposition", b""))
        if params.get(b"name", b"").decode("latin-1") != FIELD:
            return
        if self.file_done or self.in_file:
            raise HTTPException(422, f"send one file per request (the form has more than one '{FIELD}' field)")
        self.in_file = True
        self.filename = clean_filename(params.get(b"filename", b"").decode("utf-8", "replace"))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self.in_file:
            return
        chunk = data[start:end]
        self.size += len(chunk)
        if self.size > self.limit:
            raise HTTPException(413, f"the file is larger than the limit of {_mib(self.limit)}")
        if not self.checked:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
            if len(self.head) >= HEAD_BYTES:
                self._check()
        if self.folder is None:
            self.buffer += chunk
        else:
            if self.fh is None:
                self._open()
            assert self.fh is not None
            self.fh.write(chunk)

    def on_part_end(self) -> None:
        if not self.in_file:
            return
        self.in_file = False
        self.file_done = True
        if self.size == 0:
            raise HTTPException(422, "the file is empty")
        if not self.checked:
            self._check()

    def on_end(self) -> None:
        self.ended = True

    def _check(self) -> None:
        self.checked = True
        self.kind = self.check(sniff_upload(self.head))

    def _open(self) -> None:
        assert self.folder is not None
        kind = self.kind or "bin"
        self.path = self.folder / f"upload{SUFFIXES.get(kind, '.' + kind)}"
        self.fh = open(self.path, "xb")  # noqa: SIM115 - closed in close()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.3g} MB"


def _kib(n: int) -> str:
    return f"{n / 1024:.0f} kB"


async def receive_file(request: Request, *, limit: int, check: KindCheck, folder: Path | None = None) -> Upload:
    """The form field ``file`` of ``request``: in memory (``folder`` None) or written to
    ``folder/upload.<kind>``. ``check`` vets the kind :func:`emolens.web.sniff.sniff_upload` names
    from its first bytes (an image, a video or a recording; None: unknown).

    The body must keep the pace of the server's options (``upload_idle_s``, ``upload_min_kb_s``),
    and is counted in the app's :attr:`~emolens.web.context.WebContext.uploads` while it arrives.

    Raises HTTPException: 413 past ``limit`` bytes, 408 for a body that stalls or trickles, 422
    for a body that is not a form with one non-empty ``file``, and whatever ``check`` raises (415).
    """
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise HTTPException(422, f"send the file as multipart/form-data, in a field named '{FIELD}'")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
        raise HTTPException(413, f"the upload is larger than the limit of {_mib(limit)}")
    context = get_context(request)
    pace = Pace(context.options.upload_idle_s, context.options.upload_min_kb_s * 1024)
    reader = _FormReader(limit, check, folder)
    try:
        parser = MultipartParser(boundary, reader.callbacks())  # type: ignore[arg-type]
        total = 0
        with context.uploading():
            async with aclosing(paced_chunks(request, pace)) as chunks:
                async for chunk in chunks:
                    total += len(chunk)
                    if total > limit + FORM_OVERHEAD:
                        raise HTTPException(413, f"the upload is larger than the limit of {_mib(limit)}")
                    parser.write(chunk)
        parser.finalize()
    except ClientDisconnect:
        raise HTTPException(400, "the upload was interrupted") from None
    except FormParserError as e:
        raise HTTPException(
            422, f"the form is malformed: {str(e).splitlines()[0] if str(e) else 'bad framing'}"
        ) from None
    finally:
        reader.close()
    if reader.in_file or not reader.ended and not reader.file_done:
        raise HTTPException(422, "the upload is incomplete (the form ends early)")
    if not reader.file_done:
        raise HTTPException(422, f"the form has no '{FIELD}' field: send the file in a field named '{FIELD}'")
    assert reader.kind is not None
    return Upload(reader.filename, reader.kind, reader.size, reader.buffer, reader.path)
