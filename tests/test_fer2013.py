from pathlib import Path

import numpy as np
import pytest

from emolens.data.fer2013 import load_csv, load_folder, load_split
from emolens.errors import DataError
from emolens.labels import EMOTIONS


def test_folder_splits_follow_the_protocol(fer_folder: Path) -> None:
    train = load_split(fer_folder, "train")
    val = load_split(fer_folder, "val")
    test = load_split(fer_folder, "test")
    assert train.images.shape == (42, 48, 48) and train.images.dtype == np.uint8
    assert all("Training_" in p for p in train.paths)
    assert all("PublicTest_" in p for p in val.paths)
    assert all("PrivateTest_" in p for p in test.paths)
    assert test.class_counts().tolist() == [6] * 7
    # the label comes from the folder: class k has its bright bar at row 3 + 6k
    for img, label in zip(test.images, test.labels, strict=True):
        assert int(np.argmax(img[:, 6:42].mean(axis=1))) in range(3 + 6 * label, 7 + 6 * label)


def test_csv_loader(fer_csv: Path) -> None:
    train = load_split(fer_csv, "train")
    val = load_csv(fer_csv, "val")
    assert train.images.shape == (28, 48, 48)
    assert val.labels.tolist() == sorted(val.labels.tolist())
    assert set(val.labels.tolist()) == set(range(7))


def test_folder_and_csv_agree(tmp_path: Path) -> None:
    from conftest import write_fer_csv, write_fer_folder

    csv = load_split(write_fer_csv(tmp_path / "a.csv", per_class=6), "test")
    folder = load_split(write_fer_folder(tmp_path / "f", per_class=6), "test")
    assert csv.class_counts().tolist() == folder.class_counts().tolist()


def test_own_data_without_fer_names(tmp_path: Path) -> None:
    import cv2

    for split in ("train", "val"):
        for name in ("happy", "sad"):
            d = tmp_path / split / name
            d.mkdir(parents=True)
            cv2.imwrite(str(d / "a.png"), np.zeros((60, 60), np.uint8))
    fs = load_folder(tmp_path, "val")
    assert fs.images.shape == (2, 48, 48)
    assert fs.classes == ("happy", "sad")  # the classes found: a two-class problem
    assert [fs.classes[i] for i in fs.labels] == ["happy", "sad"]
    with pytest.raises(DataError, match="no 'test' folder"):
        load_folder(tmp_path, "test")


def test_missing_data_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data not found"):
        load_split(tmp_path / "nope", "train")


def test_empty_class_folder(fer_folder: Path) -> None:
    for f in (fer_folder / "train" / "disgust").iterdir():
        f.unlink()
    with pytest.raises(DataError, match="disgust has no Training files|disgust has no image files"):
        load_split(fer_folder, "train")


def test_corrupt_image(fer_folder: Path) -> None:
    (fer_folder / "train" / "fear" / "Training_bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match="Training_bad.jpg.*corrupt"):
        load_split(fer_folder, "train")


def test_unknown_class_folder(fer_folder: Path) -> None:
    (fer_folder / "train" / "Not a class!").mkdir()
    with pytest.raises(DataError, match="unknown class folder"):
        load_split(fer_folder, "train")


def test_a_class_of_your_own_comes_after_the_emotions(fer_folder: Path) -> None:
    import cv2

    (fer_folder / "train" / "contempt").mkdir()
    cv2.imwrite(str(fer_folder / "train" / "contempt" / "Training_c1.png"), np.zeros((48, 48), np.uint8))
    fs = load_split(fer_folder, "train")
    assert fs.classes == (*EMOTIONS, "contempt")
    assert int(fs.labels[fs.paths.index("train/contempt/Training_c1.png")]) == 7
    with pytest.raises(DataError, match="the labels here are"):
        load_split(fer_folder, "train", classes=EMOTIONS)  # a 7-emotion model cannot read contempt
    test = load_split(fer_folder, "test", classes=fs.classes)
    assert test.classes == fs.classes and set(test.labels.tolist()) == set(range(7))


def test_wrong_shaped_csv_row(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("emotion,pixels,Usage\n3," + " ".join(["7"] * 47) + ",Training\n")
    with pytest.raises(DataError, match="line 2: pixels must be a square image"):
        load_csv(p, "train")


def test_csv_bad_label_and_columns(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("emotion,pixels,Usage\n9," + " ".join(["7"] * 2304) + ",Training\n")
    with pytest.raises(DataError, match="emotion 9 is outside"):
        load_csv(p, "train")
    p.write_text("label,image\n1,2\n")
    with pytest.raises(DataError, match="missing column"):
        load_csv(p, "train")


def test_unknown_split(fer_folder: Path) -> None:
    with pytest.raises(DataError, match="choose one of: train, val, test"):
        load_split(fer_folder, "dev")


def test_shared_fer2013_split_sizes(fer_root: Path) -> None:
    test = load_split(fer_root, "test")
    val = load_split(fer_root, "val")
    assert len(test) == 3589 and len(val) == 3589
    assert test.class_counts()[EMOTIONS.index("disgust")] + val.class_counts()[EMOTIONS.index("disgust")] == 111
