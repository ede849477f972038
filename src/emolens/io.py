"""Writing files safely, in one place: never a half-written file, and a clear error before any work.

:class:`AtomicFile` is the one atomic-write helper: it makes a fresh temporary file beside the
destination (same suffix, so writers that choose their format by suffix still work, and the
umask's permissions, as for any new file), lets the caller write it by path, then moves it onto
the destination with :meth:`~AtomicFile.commit`, or removes it with
:meth:`~AtomicFile.discard`. Used as a context manager it commits on success and discards on
any exception. Everything else here is built on it. Imports nothing heavy.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from emolens.errors import EmolensError

__all__ = [
    "AtomicFile",
    "Committable",
    "check_writable",
    "distinct_names",
    "write_bytes_atomic",
    "write_json",
    "write_text_atomic",
]


def check_writable(path: str | Path) -> None:
    """Raise an :class:`EmolensError` now if ``path`` could not be written later."""
    path = Path(path)
    _check_place(path)
    # the permission bits are not the whole story (a read-only mount, /proc, root): try for real
    _fresh_temp(path).unlink(missing_ok=True)


def _check_place(path: Path) -> None:
    """The checks of :func:`check_writable` that need no file created."""
    if not path.parent.is_dir():
        raise EmolensError(f"cannot write {path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise EmolensError(f"cannot write {path}: it is a folder")
    if not os.access(path.parent, os.W_OK):
        raise EmolensError(f"cannot write {path}: folder {path.parent} is not writable")


def _fresh_temp(dest: Path) -> Path:
    """Create an empty, fresh temporary file beside ``dest`` (same suffix) and return its path."""
    for _ in range(100):
        path = dest.parent / f".{dest.name}.{secrets.token_hex(4)}.tmp{dest.suffix}"
        try:
            # O_EXCL: a fresh name; mode 0o666: the umask decides (mkstemp would give 0600)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:  # pragma: no cover - 32 random bits
            continue
        except OSError as e:  # read-only whatever the permission bits say (a read-only mount, /sys), a full disk
            raise EmolensError(f"cannot write {dest}: {e.strerror or e}") from None
        return path
    raise EmolensError(f"cannot create a temporary file beside {dest}")  # pragma: no cover


_C = TypeVar("_C", bound="Committable")


class Committable:
    """Something written on the side that is moved into place by :meth:`commit` or dropped by :meth:`discard`.

    As a context manager it commits on success and discards on any exception. Subclasses:
    :class:`AtomicFile`, and the video output writers built on it.
    """

    def commit(self) -> None:
        raise NotImplementedError

    def discard(self) -> None:
        raise NotImplementedError

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


class AtomicFile(Committable):
    """A temporary file beside ``dest``, moved onto ``dest`` by :meth:`commit` (or removed by :meth:`discard`).

    ``path`` is the temporary file's path: write it by name (``torch.save``, ``cv2.imwrite``, an
    encoder) or open it. ``mkdir``: create ``dest``'s folder first instead of requiring it.
    """

    def __init__(self, dest: str | Path, *, mkdir: bool = False) -> None:
        self.dest = Path(dest)
        if mkdir:
            self.dest.parent.mkdir(parents=True, exist_ok=True)
        _check_place(self.dest)
        self.path = _fresh_temp(self.dest)  # itself the real write that check_writable tries

    def commit(self) -> None:
        """Move the temporary file onto the destination (atomic on one file system).

        If that fails (the destination became a folder, the disk went away), the temporary file is
        removed and an :class:`EmolensError` says why; the destination is left as it was.
        """
        try:
            os.replace(self.path, self.dest)
        except OSError as e:
            self.discard()
            raise EmolensError(f"cannot write {self.dest}: {e.strerror or e}") from None

    def discard(self) -> None:
        """Remove the temporary file; the destination is left as it was."""
        self.path.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Path, data: bytes, *, mkdir: bool = False) -> None:
    """Write ``data`` to ``path`` through an :class:`AtomicFile`."""
    with AtomicFile(path, mkdir=mkdir) as tmp:
        tmp.path.write_bytes(data)


def write_text_atomic(path: str | Path, text: str, *, mkdir: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` through an :class:`AtomicFile`."""
    write_bytes_atomic(path, text.encode("utf-8"), mkdir=mkdir)


def write_json(path: str | Path, obj: Any, *, mkdir: bool = False) -> None:
    """Write ``obj`` as indented JSON to ``path`` through an :class:`AtomicFile`."""
    write_text_atomic(path, json.dumps(obj, indent=2) + "\n", mkdir=mkdir)


def distinct_names(names: Sequence[tuple[str, str]]) -> list[str]:
    """File names for outputs that share one folder, from (stem, suffix) pairs: ``stem + suffix``,
    then ``stem-2 + suffix``, ``-3``... for a name met before (letter case ignored, as some file
    systems do), so that no output overwrites another."""
    taken: set[str] = set()
    out = []
    for stem, suffix in names:
        name, k = f"{stem}{suffix}", 1
        while name.lower() in taken:
            k += 1
            name = f"{stem}-{k}{suffix}"
        taken.add(name.lower())
        out.append(name)
    return out
