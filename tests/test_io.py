"""The one atomic-write helper: all or nothing, with the umask's permissions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from emolens.errors import EmolensError
from emolens.io import AtomicFile, check_writable, write_bytes_atomic, write_json


def test_commit_moves_the_file_into_place_and_leaves_nothing_else(tmp_path: Path) -> None:
    dest = tmp_path / "out.mp4"
    dest.write_bytes(b"old")
    with AtomicFile(dest) as tmp:
        assert tmp.path.parent == tmp_path and tmp.path.suffix == ".mp4" and tmp.path != dest
        tmp.path.write_bytes(b"new")
        assert dest.read_bytes() == b"old"  # untouched until the end
    assert dest.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_a_failure_keeps_the_old_file_and_removes_the_temporary_one(tmp_path: Path) -> None:
    dest = tmp_path / "summary.json"
    write_json(dest, {"a": 1})
    with pytest.raises(RuntimeError), AtomicFile(dest) as tmp:
        tmp.path.write_text("half")
        raise RuntimeError("encoder crashed")
    assert dest.read_text() == '{\n  "a": 1\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_new_files_get_the_umasks_permissions(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_bytes_atomic(tmp_path / "a.bin", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o640


def test_missing_folders_are_a_clear_error_unless_asked_to_make_them(tmp_path: Path) -> None:
    with pytest.raises(EmolensError, match="does not exist"):
        check_writable(tmp_path / "no" / "file.txt")
    with pytest.raises(EmolensError, match="does not exist"):
        write_bytes_atomic(tmp_path / "no" / "file.txt", b"x")
    write_bytes_atomic(tmp_path / "made" / "file.txt", b"x", mkdir=True)
    assert (tmp_path / "made" / "file.txt").read_bytes() == b"x"


def test_a_folder_as_the_destination_is_refused_before_any_work_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(EmolensError, match="is a folder"):
        check_writable(tmp_path / "out")
    with pytest.raises(EmolensError, match="is a folder"):
        write_json(tmp_path / "out", {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert list((tmp_path / "out").iterdir()) == []


def test_a_commit_that_fails_removes_the_temporary_file(tmp_path: Path) -> None:
    dest = tmp_path / "report.json"
    tmp = AtomicFile(dest)
    tmp.path.write_text("{}")
    dest.mkdir()  # the destination became a folder while the work ran
    (dest / "inside").write_text("x")  # a non-empty folder: os.replace cannot take its place
    with pytest.raises(EmolensError, match="cannot write"):
        tmp.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    assert (dest / "inside").read_text() == "x"


def test_check_writable_leaves_no_trace(tmp_path: Path) -> None:
    check_writable(tmp_path / "a.json")
    assert list(tmp_path.iterdir()) == []


def test_distinct_names_never_repeat_whatever_the_letter_case() -> None:
    from emolens.io import distinct_names

    assert distinct_names(
        [("talk", ".png"), ("Talk", ".png"), ("talk", ".jpg"), ("talk-2", ".png"), ("talk", ".png")]
    ) == [
        "talk.png",
        "Talk-2.png",
        "talk.jpg",
        "talk-2-2.png",
        "talk-3.png",
    ]
