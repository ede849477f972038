"""Shared fixtures: the ../shared data when present, and small generated data sets."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from emolens.labels import EMOTIONS

SHARED = Path(os.environ.get("EMOLENS_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
FER = SHARED / "data" / "fer2013"
MEDIA = SHARED / "media"


def need(path: Path) -> Path:
    """Skip the test, saying why, when a piece of ../shared is absent."""
    if not path.exists():
        pytest.skip(f"shared data not found: {path} (set EMOLENS_SHARED or place the shared folder beside the repo)")
    return path


@pytest.fixture
def fer_root() -> Path:
    return need(FER)


@pytest.fixture
def media() -> Path:
    return need(MEDIA)


def synthetic_face(label: int, rng: np.random.Generator, size: int = 48) -> np.ndarray:
    """A 48x48 image whose class is visible: a bright bar at a class-specific row, plus noise."""
    img = rng.normal(100, 20, (size, size)).clip(0, 255)
    row = 3 + label * 6
    img[row : row + 4, 6:42] = 230
    return img.astype(np.uint8)


def write_fer_folder(root: Path, per_class: int = 6, seed: int = 0) -> Path:
    """A FER-2013-style folder: train/<class>/Training_*.jpg and test/<class>/{Public,Private}Test_*.jpg."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(EMOTIONS):
        for sub, usage in (("train", "Training"), ("test", "PublicTest"), ("test", "PrivateTest")):
            d = root / sub / name
            d.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                cv2.imwrite(str(d / f"{usage}_{label}{i:04d}.png"), synthetic_face(label, rng))
    return root


def write_fer_csv(path: Path, per_class: int = 4, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    lines = ["emotion,pixels,Usage"]
    for usage in ("Training", "PublicTest", "PrivateTest"):
        for label in range(len(EMOTIONS)):
            for _ in range(per_class):
                lines.append(f"{label},{' '.join(map(str, synthetic_face(label, rng).ravel()))},{usage}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def fer_folder(tmp_path: Path) -> Path:
    return write_fer_folder(tmp_path / "fer")


@pytest.fixture
def fer_csv(tmp_path: Path) -> Path:
    return write_fer_csv(tmp_path / "fer2013.csv")


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``emolens`` in-process with ``args``: its exit code, its stdout and its stderr."""
    from emolens.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, pattern: str) -> None:
    """``emolens`` failed as a usage error should: code 2, one ``emolens: error:`` line holding ``pattern``."""
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emolens: error:"), err
    assert pattern in lines[0], lines[0]
