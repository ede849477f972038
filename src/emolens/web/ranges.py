"""HTTP range requests (RFC 9110 section 14) on an open file, so that a ``<video>`` player can seek.

:func:`parse_range` reads a ``Range`` header; :func:`file_response` answers 200 with the whole
file, 206 with one range of it, or 416. The file is opened by the caller before the answer
starts, so that a deletion that comes later cannot cut the download.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import BinaryIO

from fastapi.responses import JSONResponse, Response, StreamingResponse

BLOCK = 1 << 16
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class Unsatisfiable(Exception):
    """The range lies wholly past the end of the file."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The byte range ``(first, last)`` (inclusive) a ``Range`` header asks of a file of ``size`` bytes.

    None: answer the whole file (no header, a malformed one, several ranges, or another unit: all
    allowed to be ignored). Raises :class:`Unsatisfiable` for a range that starts past the end.
    """
    if not header:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text:  # bytes=-N: the last N bytes
        if not last_text:
            return None
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - suffix), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None
    if first >= size:
        raise Unsatisfiable
    return first, min(int(last_text), size - 1) if last_text else size - 1


def _blocks(fh: BinaryIO, first: int, length: int) -> Iterator[bytes]:
    with fh:
        fh.seek(first)
        left = length
        while left > 0:
            block = fh.read(min(BLOCK, left))
            if not block:
                return
            left -= len(block)
            yield block


def file_response(
    fh: BinaryIO, size: int, range_header: str | None, media_type: str, headers: Mapping[str, str]
) -> Response:
    """The answer for an open file ``fh`` of ``size`` bytes (closed once sent): 200, 206 or 416."""
    base = {**headers, "Accept-Ranges": "bytes"}
    try:
        wanted = parse_range(range_header, size)
    except Unsatisfiable:
        fh.close()
        return JSONResponse(
            {"detail": f"the range {range_header} lies outside the file ({size} bytes)"},
            status_code=416,
            headers={"Content-Range": f"bytes */{size}"},
        )
    if wanted is None:
        return StreamingResponse(
            _blocks(fh, 0, size), media_type=media_type, headers={**base, "Content-Length": str(size)}
        )
    first, last = wanted
    length = last - first + 1
    return StreamingResponse(
        _blocks(fh, first, length),
        status_code=206,
        media_type=media_type,
        headers={**base, "Content-Length": str(length), "Content-Range": f"bytes {first}-{last}/{size}"},
    )
