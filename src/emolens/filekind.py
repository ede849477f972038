"""What a file is, told from its first bytes before a decoder is asked: FFmpeg opens almost anything
(a ``.txt`` plays as scrolling text through its "tty" demuxer), so a text file given as a video or a
sound is refused here, by name, instead of failing later with FFmpeg's words; and which separator a
CSV written by a spreadsheet uses. Imports nothing heavy."""

from __future__ import annotations

from pathlib import Path

from emolens.errors import EmolensError


def is_text_file(path: Path, probe: int = 4096) -> bool:
    """True when the first ``probe`` bytes of ``path`` are UTF-8 text without NUL bytes (no video or
    sound file is)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(probe)
    except OSError as e:
        raise EmolensError(f"cannot read {path}: {e.strerror}") from None
    if not head or b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start >= len(head) - 3  # a multi-byte character cut by the probe is still text
    return True


def sound_format(head: bytes) -> str | None:
    """The sound format a file starting with ``head`` is in (``wav``, ``flac``, ``ogg``, ``mp3``,
    ``aiff``, ``m4a``), or None: enough to tell a user who gave one where an image was wanted."""
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE6 == 0xE2):
        return "mp3"  # an ID3 tag, or an MPEG audio frame (sync bits, layer III)
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[4:8] == b"ftyp" and head[8:12] in (b"M4A ", b"M4B "):
        return "m4a"
    return None


def sound_file_format(path: str | Path) -> str | None:
    """:func:`sound_format` of the file at ``path``; None when it is no sound file, or no file."""
    try:
        with open(path, "rb") as fh:
            return sound_format(fh.read(16))
    except OSError:
        return None


CSV_DELIMITERS = (",", ";", "\t")
"""The cell separators a CSV may use: commas, or semicolons or tabs (spreadsheets in locales whose
decimal mark is a comma write those)."""


def csv_delimiter(text: str) -> str:
    """The separator of a CSV's ``text``: whichever of :data:`CSV_DELIMITERS` its header line holds most
    of (a comma when it holds none, as a one-column file would)."""
    header = text.split("\n", 1)[0]
    counts = [header.count(d) for d in CSV_DELIMITERS]
    return CSV_DELIMITERS[counts.index(max(counts))] if max(counts) else ","
