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


def test_an_ensemble_of_face_checkpoints_is_one_model_averaging_them(tmp_path: Path) -> None:
    a = _checkpoint(tmp_path / "a.pt")
    torch.manual_seed(1)
    other = create_model("vgg")
    checkpoint.save_atomic({"arch": "vgg", "model": other.state_dict()}, tmp_path / "b.pt")
    res = export_checkpoint([a, tmp_path / "b.pt"], tmp_path / "e.onnx", name="pair", tta="hflip")
    assert res.max_abs_diff < PARITY_TOLERANCE
    assert res.meta.arch == "vgg+vgg" and res.meta.params == 2 * sum(p.numel() for p in other.parameters())
    faces = np.random.default_rng(2).integers(0, 256, (6, 48, 48), dtype=np.uint8)
    singles = []
    for i, ckpt in enumerate((a, tmp_path / "b.pt")):
        single = export_checkpoint(ckpt, tmp_path / f"m{i}.onnx")
        singles.append(Recognizer(single.path, tta="none").predict_faces(faces))
    pair = Recognizer(res.path, tta="none")
    assert pair.tta == "none" and Recognizer(res.path).tta == "hflip"
    np.testing.assert_allclose(pair.predict_faces(faces), (singles[0] + singles[1]) / 2, atol=1e-5)
    assert '"members": 2' in res.path.with_suffix(".json").read_text()


def test_an_ensemble_needs_members_of_one_kind(tmp_path: Path) -> None:
    a = _checkpoint(tmp_path / "a.pt")
    eight = create_model("vgg", num_classes=8)
    labels = (*EMOTIONS, "contempt")
    checkpoint.save_atomic({"arch": "vgg", "model": eight.state_dict(), "labels": labels}, tmp_path / "b.pt")
    with pytest.raises(ModelError, match="member 2 .* other labels or input settings"):
        export_checkpoint([a, tmp_path / "b.pt"], tmp_path / "e.onnx")
    with pytest.raises(ModelError, match="no checkpoint"):
        export_checkpoint([], tmp_path / "e.onnx")
    assert not (tmp_path / "e.onnx").exists()


def test_training_cannot_start_from_an_ensemble(tmp_path: Path) -> None:
    from emolens.train.init import load_source

    a = _checkpoint(tmp_path / "a.pt")
    res = export_checkpoint([a, a], tmp_path / "e.onnx")
    with pytest.raises(ModelError, match="is an ensemble"):
        load_source(str(res.path))


def test_an_ensemble_file_gives_each_of_its_networks_as_members(tmp_path: Path) -> None:
    from emolens.train.init import load_members

    a = _checkpoint(tmp_path / "a.pt")
    torch.manual_seed(1)
    checkpoint.save_atomic({"arch": "vgg", "model": create_model("vgg").state_dict()}, tmp_path / "b.pt")
    torch.manual_seed(2)
    checkpoint.save_atomic({"arch": "vgg", "model": create_model("vgg").state_dict()}, tmp_path / "c.pt")
    pair = export_checkpoint([a, tmp_path / "b.pt"], tmp_path / "pair.onnx")
    assert [m.name.endswith(f"(member {i})") for i, m in enumerate(load_members(str(pair.path)), 1)] == [True, True]
    triple = export_checkpoint([pair.path, tmp_path / "c.pt"], tmp_path / "triple.onnx")
    assert triple.meta.arch == "vgg+vgg+vgg" and triple.max_abs_diff < PARITY_TOLERANCE
    faces = np.random.default_rng(4).integers(0, 256, (6, 48, 48), dtype=np.uint8)
    singles = [
        Recognizer(export_checkpoint(c, tmp_path / f"s{i}.onnx").path, tta="none").predict_faces(faces)
        for i, c in enumerate((a, tmp_path / "b.pt", tmp_path / "c.pt"))
    ]
    got = Recognizer(triple.path, tta="none").predict_faces(faces)
    np.testing.assert_allclose(got, np.mean(singles, axis=0), atol=1e-5)  # three equal members, not a pair and one


def test_cli_exports_a_face_ensemble(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from emolens.cli import main

    a = _checkpoint(tmp_path / "a.pt")
    assert main(["export", str(a), str(a), "--out", str(tmp_path / "e.onnx"), "--name", "pair"]) == 0
    assert "face ensemble of 2" in capsys.readouterr().out
    assert Recognizer(tmp_path / "e.onnx").meta.arch == "vgg+vgg"
    assert main(["export", str(a), str(a), "--out", str(tmp_path / "unnamed.onnx")]) == 0
    assert Recognizer(tmp_path / "unnamed.onnx").meta.name == "vgg+vgg"  # named by its members unless --name says
    assert main(["export", str(tmp_path / "e.onnx"), str(a), "--out", str(tmp_path / "three.onnx")]) == 0
    assert "face ensemble of 3" in capsys.readouterr().out.splitlines()[-1]


def test_an_ensemble_member_may_be_an_exported_model(tmp_path: Path) -> None:
    a = _checkpoint(tmp_path / "a.pt")
    single = export_checkpoint(a, tmp_path / "a.onnx")
    pair = export_checkpoint([a, single.path], tmp_path / "e.onnx")
    faces = np.random.default_rng(3).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    alone = Recognizer(single.path, tta="none").predict_faces(faces)
    np.testing.assert_allclose(Recognizer(pair.path, tta="none").predict_faces(faces), alone, atol=1e-5)
    with pytest.raises(ModelError, match="checkpoint not found"):
        export_checkpoint([a, tmp_path / "missing.pt"], tmp_path / "f.onnx")
