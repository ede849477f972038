"""Training checkpoints: saved whole, and anything else refused with a readable error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from emolens.errors import ModelError
from emolens.train.checkpoint import load, save_atomic


def test_a_saved_state_comes_back(tmp_path: Path) -> None:
    state = {"arch": "vgg", "model": {"w": torch.arange(3.0)}, "epoch": 4}
    save_atomic(state, tmp_path / "best.pt")
    back = load(tmp_path / "best.pt")
    assert back["arch"] == "vgg" and back["epoch"] == 4 and torch.equal(back["model"]["w"], torch.arange(3.0))


@pytest.mark.parametrize("content", [b"", b"hello\n", b"PK\x03\x04 not really a zip"])
def test_a_file_that_is_not_a_checkpoint_is_a_model_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="not an emolens checkpoint"):
        load(path)


def test_a_pickle_that_is_not_a_dict_is_refused(tmp_path: Path) -> None:
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ModelError, match="holds a list"):
        load(tmp_path / "list.pt")
