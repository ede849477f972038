from pathlib import Path

import pytest

from emolens.errors import EmolensError
from emolens.files import IMAGE_EXTENSIONS, SOUND_EXTENSIONS, expand_folders, walk_files


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_a_folder_stands_for_its_files_of_the_right_kind_sorted_recursively(tmp_path: Path) -> None:
    top = tmp_path / "photos"
    for name in ("b.JPG", "a.png", "notes.txt", ".hidden.jpg", "sub/c.webp", ".cache/d.jpg", "sub/deeper/e.Tiff"):
        touch(top / name)
    (top / "loop").symlink_to(top, target_is_directory=True)  # a link back up is not followed
    found = [Path(f).relative_to(top).as_posix() for f in walk_files(top, IMAGE_EXTENSIONS)]
    assert found == ["a.png", "b.JPG", "sub/c.webp", "sub/deeper/e.Tiff"]


def test_expand_folders_keeps_files_and_order_and_names_each_once(tmp_path: Path) -> None:
    one = touch(tmp_path / "calls" / "one.wav")
    two = touch(tmp_path / "calls" / "two.flac")
    lone = tmp_path / "elsewhere.mp4"  # a file named itself is passed on, whatever its ending
    assert expand_folders([lone, tmp_path / "calls", one], SOUND_EXTENSIONS, "recording") == [lone, one, two]
    missing = tmp_path / "missing.wav"  # left to the command's own checks ("not found")
    assert expand_folders([missing], SOUND_EXTENSIONS, "recording") == [missing]


def test_a_folder_without_any_is_a_clear_error(tmp_path: Path) -> None:
    touch(tmp_path / "docs" / "readme.txt")
    with pytest.raises(EmolensError, match=r"docs: no image file in this folder \(looked for \.jpg"):
        expand_folders([tmp_path / "docs"], IMAGE_EXTENSIONS, "image")


def test_the_output_folder_inside_an_input_folder_is_not_searched(tmp_path: Path) -> None:
    photo = touch(tmp_path / "photos" / "a.jpg")
    touch(tmp_path / "photos" / "annotated" / "a_emolens.jpg")  # written by an earlier run
    assert expand_folders([tmp_path / "photos"], IMAGE_EXTENSIONS, "image", skip=tmp_path / "photos" / "annotated") == [
        photo
    ]
