"""Finding the videos of a batch run, naming them, and fingerprinting their contents.

An input is a video file, a folder (searched recursively for the names in
:data:`VIDEO_EXTENSIONS`, hidden files and folders skipped, symbolic links to folders not
followed), or a list file (a name ending in :data:`LIST_SUFFIXES`: one video path per line,
relative to the list's folder; blank lines and ``#`` comments skipped). URLs are not analysed: a
batch run needs files it can fingerprint and reopen, so a URL in a list is recorded as failed
(download the videos first), and one on the command line is an error, like a missing input.

Each video gets an id, :func:`video_id`: its name and a hash of its absolute path, the name of its
outputs. :func:`input_key` fingerprints a file (size, modification time and a hash of its first
and last MiB) to tell a rerun whether it changed.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from emolens.errors import EmolensError
from emolens.files import walk_files

__all__ = ["LIST_SUFFIXES", "VIDEO_EXTENSIONS", "VideoInput", "discover", "input_key", "video_id"]

VIDEO_EXTENSIONS = (
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mts", ".3gp", ".ogv",
)  # fmt: skip
"""File name endings a folder is searched for (any case)."""

LIST_SUFFIXES = (".txt", ".list", ".lst")
"""An input with one of these endings is a list of video paths, one a line."""

HASH_BYTES = 1 << 20
""":func:`input_key` hashes this many bytes at each end of a file."""


@dataclass(frozen=True)
class VideoInput:
    """A video of the run: its id, its absolute path, and why it cannot be analysed (None: it can be tried)."""

    id: str
    path: str
    problem: str | None = None


def video_id(path: str) -> str:
    """The id of the video at absolute ``path``: its file name (letters, digits, ``._-``; at most 60)
    and 10 hex digits of a hash of the path, so two ``clip.mp4`` in different folders differ."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).stem).strip("._") or "video"
    digest = hashlib.sha1(path.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return f"{stem[:60]}-{digest}"


def input_key(path: str | Path) -> str:
    """A fingerprint of the file at ``path``: its size, its modification time (ns) and the SHA-256
    of its first and last MiB (the whole file when smaller than 2 MiB). Raises OSError when the
    file cannot be read."""
    p = Path(path)
    with open(p, "rb") as fh:
        st = os.fstat(fh.fileno())
        h = hashlib.sha256()
        h.update(fh.read(HASH_BYTES))
        if st.st_size > HASH_BYTES:
            fh.seek(max(HASH_BYTES, st.st_size - HASH_BYTES))
            h.update(fh.read(HASH_BYTES))
    return f"{st.st_size}:{st.st_mtime_ns}:{h.hexdigest()}"


def _walk(folder: Path) -> Iterator[str]:
    """The video files under ``folder``, sorted, hidden entries skipped."""
    return walk_files(folder, VIDEO_EXTENSIONS)


def _is_url(text: str) -> bool:
    return "://" in text


def _read_list(path: Path) -> Iterator[tuple[str, str | None]]:
    """(absolute path or URL, problem) for each entry of the list file ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
        raise EmolensError(f"cannot read the list {path}: {reason}") from None
    base = path.parent
    for line in text.splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if _is_url(entry):
            yield entry, "URLs are not analysed by a batch run; download the video first"
            continue
        p = os.path.abspath(os.path.join(base, os.path.expanduser(entry)))
        if os.path.isdir(p):
            yield p, "is a folder, not a video file (list folders as inputs instead)"
        else:
            yield p, None


def discover(inputs: Iterable[str | Path]) -> list[VideoInput]:
    """The videos named by ``inputs`` (files, folders, list files), in order, each once.

    A missing input or a URL given here is an EmolensError (a typo should not start a long run);
    an entry of a list that cannot be analysed is returned with its ``problem`` (recorded as failed).
    """
    seen: dict[str, VideoInput] = {}

    def add(path: str, problem: str | None = None) -> None:
        if path not in seen:
            seen[path] = VideoInput(video_id(path) if not _is_url(path) else _url_id(path), path, problem)

    for item in inputs:
        text = os.fspath(item)
        if _is_url(text):
            raise EmolensError(f"{text}: URLs are not analysed by a batch run; download the videos first")
        p = Path(text).expanduser()
        if p.is_dir():
            for f in _walk(p):
                add(os.path.abspath(f))
        elif p.is_file() and p.suffix.lower() in LIST_SUFFIXES:
            for entry, problem in _read_list(p):
                add(entry, problem)
        elif p.exists():
            add(os.path.abspath(p))
        else:
            raise EmolensError(f"input not found: {text}")
    return list(seen.values())


def _url_id(url: str) -> str:
    return f"url-{hashlib.sha1(url.encode('utf-8')).hexdigest()[:10]}"
