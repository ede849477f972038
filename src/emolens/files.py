"""The input files a command is pointed at: folders searched for files by their name endings.

``emolens image photos/`` and ``emolens audio calls/`` take folders as well as files (and
``emolens batch`` its videos, :mod:`emolens.batch.inputs`): a folder stands for the files under it
whose names end in one of the command's endings (any letter case), searched recursively in sorted
order; hidden files and folders (names starting with ".") are skipped and links to folders are
not followed, so a search always ends. Imports nothing heavy.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from emolens.errors import EmolensError

__all__ = ["IMAGE_EXTENSIONS", "SOUND_EXTENSIONS", "expand_folders", "walk_files"]

IMAGE_EXTENSIONS = (
    ".jpg",
    ".jpeg",
    ".jpe",
    ".png",
    ".webp",
    ".bmp",
    ".dib",
    ".tif",
    ".tiff",
    ".pbm",
    ".pgm",
    ".ppm",
    ".pnm",
)
"""What a folder given to ``emolens image`` is searched for: the formats OpenCV reads."""

SOUND_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aif", ".aiff", ".wma")
"""What a folder given to ``emolens audio`` is searched for: recordings (a video's sound is heard
when the video is named itself)."""


def walk_files(folder: str | Path, endings: tuple[str, ...], skip: str | Path | None = None) -> Iterator[str]:
    """The files under ``folder`` whose names end in one of ``endings`` (lower case; matched in any
    case), sorted folder by folder, hidden entries skipped, links to folders not followed; ``skip``:
    a folder not searched (a command's own output folder inside its input folder)."""
    skipped = None if skip is None else Path(skip).resolve()
    for root, dirs, files in os.walk(folder):
        if skipped is not None and Path(root).resolve() == skipped:
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(endings):
                yield os.path.join(root, name)


def expand_folders(
    paths: Iterable[str | Path], endings: tuple[str, ...], what: str, skip: str | Path | None = None
) -> list[Path]:
    """``paths`` with each folder replaced by its files (:func:`walk_files`, not searching ``skip``),
    each file once, in order; a folder without any is an :class:`~emolens.errors.EmolensError`
    naming ``what`` it lacks (``"image"``). Anything else is passed on for the command's own checks."""
    out: dict[Path, None] = {}
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found = [Path(f) for f in walk_files(path, endings, skip)]
            if not found:
                raise EmolensError(f"{path}: no {what} file in this folder (looked for {' '.join(endings)})")
            out.update(dict.fromkeys(found))
        else:
            out[path] = None
    return list(out)
