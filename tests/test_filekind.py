"""Telling what a file is from its first bytes."""

from __future__ import annotations

from pathlib import Path

from emolens.filekind import csv_delimiter, is_text_file, sound_format


def test_sound_formats_are_told_by_their_first_bytes() -> None:
    assert sound_format(b"RIFF\x24\x00\x00\x00WAVEfmt ") == "wav"
    assert sound_format(b"RIFF\x24\x00\x00\x00WEBPVP8 ") is None  # a WebP image is RIFF too
    assert sound_format(b"fLaC\x00\x00\x00\x22") == "flac"
    assert sound_format(b"OggS\x00\x02") == "ogg"
    assert sound_format(b"ID3\x04\x00\x00") == "mp3"
    assert sound_format(b"\xff\xfb\x90\x64") == "mp3"  # an MPEG-1 layer III frame without a tag
    assert sound_format(b"\xff\xd8\xff\xe0") is None  # a JPEG
    assert sound_format(b"FORM\x00\x00\x10\x00AIFF") == "aiff"
    assert sound_format(b"\x00\x00\x00\x20ftypM4A \x00") == "m4a"
    assert sound_format(b"\x00\x00\x00\x20ftypisom\x00") is None  # a video: sniffed elsewhere
    assert sound_format(b"") is None


def test_text_and_separators(tmp_path: Path) -> None:
    text, binary = tmp_path / "a.txt", tmp_path / "b.bin"
    text.write_text("t;hr;eda\n0;60;0.1\n")
    binary.write_bytes(b"\x00\x01text")
    assert is_text_file(text) and not is_text_file(binary)
    assert csv_delimiter(text.read_text()) == ";" and csv_delimiter("t,hr\n") == "," and csv_delimiter("t\n") == ","
