"""Load FER-2013 from its image-folder layout or from the original Kaggle CSV.

Protocol splits: ``train`` = Training, ``val`` = PublicTest, ``test`` = PrivateTest.
Images come back as uint8 arrays of shape (N, size, size), labels as indices into
:data:`emolens.labels.EMOTIONS`.
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emolens.errors import DataError
from emolens.labels import EMOTIONS

log = logging.getLogger(__name__)

SPLITS: dict[str, str] = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
"""Protocol split name -> the FER-2013 ``Usage`` value (and file-name prefix)."""

FOLDER_CLASS_ALIASES: dict[str, str] = {"anger": "angry", "happiness": "happy", "sadness": "sad"}
CLASS_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass(frozen=True)
class FaceSet:
    """Faces with their labels: ``images`` (N, H, W) uint8, ``labels`` (N,) int64 indices into
    ``classes`` (FER-2013's seven emotions, or the class folders of your own data)."""

    images: np.ndarray
    labels: np.ndarray
    paths: tuple[str, ...]
    classes: tuple[str, ...] = EMOTIONS

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(self.classes))


def usage_of(split: str) -> str:
    try:
        return SPLITS[split]
    except KeyError:
        raise DataError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}") from None


def load_split(data: str | Path, split: str, size: int = 48, classes: tuple[str, ...] | None = None) -> FaceSet:
    """Load one protocol split from a FER-2013 folder or a ``fer2013.csv`` file.

    ``classes`` fixes the label order (a model's labels, or the training split's classes); every
    class folder must be one of them. None: the class folders found (see :func:`class_order`).
    """
    path = Path(data)
    if not path.exists():
        raise DataError(f"data not found: {path} (expected a FER-2013 folder or fer2013.csv)")
    if path.is_file():
        fs = load_csv(path, split, size=size)
        if classes is not None and tuple(classes) != EMOTIONS:
            if not set(EMOTIONS) <= set(classes):
                raise DataError(f"{path} has FER-2013's seven emotions; the labels asked for are {', '.join(classes)}")
            remap = np.array([classes.index(c) for c in EMOTIONS])
            return FaceSet(fs.images, remap[fs.labels], fs.paths, tuple(classes))
        return fs
    return load_folder(path, split, size=size, classes=classes)


def class_order(names: set[str] | list[str]) -> tuple[str, ...]:
    """The label order of a set of class folders: FER-2013's seven emotions when all are there;
    otherwise the emotions present in FER-2013's order, then any other classes alphabetically."""
    found = set(names)
    if found == set(EMOTIONS):
        return EMOTIONS
    return tuple(e for e in EMOTIONS if e in found) + tuple(sorted(found - set(EMOTIONS)))


def _read_gray(path: Path, size: int) -> np.ndarray:
    buf = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if buf.size else None
    if img is None:
        raise DataError(f"cannot read image {path}: the file is empty, corrupt or not an image")
    if img.shape != (size, size):
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    return img


def _class_dirs(root: Path, classes: tuple[str, ...] | None) -> dict[str, Path]:
    dirs: dict[str, Path] = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        name = FOLDER_CLASS_ALIASES.get(d.name.lower(), d.name.lower())
        if not CLASS_NAME.fullmatch(name):
            raise DataError(
                f"unknown class folder {d}: class folders are named after their emotion "
                f"({', '.join(EMOTIONS)}, or a class of your own in lower-case letters, digits, - and _)"
            )
        if classes is not None and name not in classes:
            raise DataError(f"unknown class folder {d}; the labels here are: {', '.join(classes)}")
        if name in dirs:
            raise DataError(f"class {name!r} has two folders: {dirs[name]} and {d}")
        dirs[name] = d
    return dirs


def _uses_fer_names(class_dirs: dict[str, Path]) -> bool:
    usages = tuple(SPLITS.values())
    return any(f.name.startswith(usages) for d in class_dirs.values() for f in d.iterdir())


def load_folder(root: str | Path, split: str, size: int = 48, classes: tuple[str, ...] | None = None) -> FaceSet:
    """Load a split from ``root/{train,test}/<class>/<Usage>_*.jpg`` (the FER-2013 layout).

    ``train`` reads ``root/train``; ``val`` and ``test`` read ``root/val`` or ``root/test``. In
    a folder whose files carry FER-2013 names, only those of the split's usage are kept
    (PublicTest for ``val``, PrivateTest for ``test``); your own data is read whole.
    """
    root = Path(root)
    usage = usage_of(split)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    sub = root / split if split == "train" or (root / split).is_dir() else root / "test"
    if not sub.is_dir():
        raise DataError(f"no '{sub.name}' folder in {root}; expected {root}/train/<class>/ and {root}/test/<class>/")
    dirs = _class_dirs(sub, classes)
    if not dirs:
        raise DataError(f"no class folders in {sub}; expected one folder per emotion: {', '.join(EMOTIONS)}")
    order = tuple(classes) if classes is not None else class_order(list(dirs))
    if classes is None and order != EMOTIONS:
        log.info("classes of %s: %s", sub, ", ".join(order))
    prefix = usage if _uses_fer_names(dirs) else ""
    if not prefix and sub.name != split:
        raise DataError(f"no '{split}' folder in {root}, and {sub} has no FER-2013 file names to split it by")
    images: list[np.ndarray] = []
    labels: list[int] = []
    paths: list[str] = []
    for name, d in dirs.items():
        files = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.name.startswith(prefix))
        if not files:
            raise DataError(f"class folder {d} has no {prefix or 'image'} files")
        for f in files:
            images.append(_read_gray(f, size))
            labels.append(order.index(name))
            paths.append(f.relative_to(root).as_posix())
    log.info("loaded %d %s faces from %s", len(labels), split, sub)
    return FaceSet(np.stack(images), np.asarray(labels, dtype=np.int64), tuple(paths), order)


def load_csv(path: str | Path, split: str, size: int = 48) -> FaceSet:
    """Load a split from the Kaggle ``fer2013.csv`` (columns ``emotion,pixels,Usage``)."""
    path = Path(path)
    usage = usage_of(split)
    images: list[np.ndarray] = []
    labels: list[int] = []
    paths: list[str] = []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"emotion", "pixels", "Usage"} - set(reader.fieldnames or ())
        if missing:
            raise DataError(f"{path}: not a fer2013.csv file, missing column(s) {', '.join(sorted(missing))}")
        for row in reader:
            if row["Usage"] != usage:
                continue
            line = reader.line_num
            try:
                label = int(row["emotion"])
                pixels = np.array(row["pixels"].split(), dtype=np.int64)
            except (ValueError, AttributeError):
                raise DataError(f"{path}, line {line}: emotion and pixels must be integers") from None
            if not 0 <= label < len(EMOTIONS):
                raise DataError(f"{path}, line {line}: emotion {label} is outside 0..{len(EMOTIONS) - 1}")
            side = int(round(np.sqrt(pixels.size)))
            if side * side != pixels.size or side == 0 or pixels.min() < 0 or pixels.max() > 255:
                raise DataError(
                    f"{path}, line {line}: pixels must be a square image of 0..255 values, got {pixels.size} values"
                )
            img: np.ndarray = pixels.astype(np.uint8).reshape(side, side)
            if side != size:
                img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
            images.append(img)
            labels.append(label)
            paths.append(f"{path.name}:{line}")
    if not images:
        raise DataError(f"{path}: no rows with Usage={usage}")
    return FaceSet(np.stack(images), np.asarray(labels, dtype=np.int64), tuple(paths))
