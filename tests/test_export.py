from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from emolens.errors import ModelError
from emolens.export.onnx import PARITY_TOLERANCE, export_checkpoint
from emolens.labels import EMOTIONS
from emolens.models import create_model
from emolens.runtime.recognizer import Recognizer
from emolens.train import checkpoint


def _checkpoint(path: Path, arch: str = "vgg") -> Path:
    torch.manual_seed(0)
    model = create_model(arch)
    # move BatchNorm statistics away from their defaults so the export must carry them
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    checkpoint.save_atomic({"arch": arch, "model": model.state_dict()}, path)
    return path


def test_export_matches_torch_and_stores_preprocessing(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path / "best.pt")
    res = export_checkpoint(ckpt, tmp_path / "m.onnx", name="test-model", version="7", tta="hflip")
    assert res.max_abs_diff < PARITY_TOLERANCE
    props = {p.key: p.value for p in onnx.load(str(res.path)).metadata_props}
    assert props["emolens.name"] == "test-model" and props["emolens.input_size"] == "48"
    rec = Recognizer(res.path)
    assert rec.labels == EMOTIONS and rec.tta == "hflip" and rec.meta.version == "7"
    faces = np.random.default_rng(1).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    net = create_model("vgg")
    net.load_state_dict(checkpoint.load(ckpt)["model"])
    net.eval()
    with torch.no_grad():
        ref = torch.softmax(net(torch.from_numpy(rec.prepare(faces))), 1).numpy()
    np.testing.assert_allclose(Recognizer(res.path, tta="none").predict_faces(faces), ref, atol=1e-4)
    assert res.path.with_suffix(".json").is_file()


def test_export_refuses_a_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="checkpoint not found"):
        export_checkpoint(tmp_path / "none.pt", tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("arch", ["seed_classic", "compact", "resnet"])
def test_other_architectures_export(tmp_path: Path, arch: str) -> None:
    res = export_checkpoint(_checkpoint(tmp_path / "c.pt", arch), tmp_path / f"{arch}.onnx")
    assert res.max_abs_diff < PARITY_TOLERANCE
