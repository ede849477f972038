import csv
import json
from pathlib import Path

import pytest

from emolens.errors import EmolensError
from emolens.train.config import TrainConfig
from emolens.train.fit import _class_weights, fit


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def _cfg(data: Path, out: Path, **kw: object) -> TrainConfig:
    base: dict[str, object] = dict(
        data=str(data),
        arch="seed_classic",
        out=str(out),
        epochs=4,
        batch_size=16,
        lr=0.01,
        warmup_epochs=0.5,
        augment=False,
        progress=False,
        threads=1,
    )
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    from conftest import write_fer_folder

    return write_fer_folder(tmp_path / "fer", per_class=12)


def test_short_training_lowers_the_loss_and_writes_its_records(data: Path, tmp_path: Path) -> None:
    tiny = 2.2250738585072014e-308  # the smallest normal double: half of it is subnormal
    assert tiny / 2 != 0.0
    res = fit(_cfg(data, tmp_path / "run"))
    assert tiny / 2 != 0.0  # flushing denormals to zero while training does not outlive the run
    rows = read_rows(res.out / "metrics.csv")
    assert len(rows) == 4
    assert float(rows[-1]["train_loss"]) < 0.8 * float(rows[0]["train_loss"])
    assert res.best_val_accuracy > 1 / 7 + 0.2  # the synthetic classes are easy to tell apart
    for name in ("best.pt", "last.pt", "curves.png", "config.json"):
        assert (res.out / name).is_file()
    assert json.loads((res.out / "config.json").read_text())["arch"] == "seed_classic"


def test_resume_continues_where_it_stopped(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    fit(_cfg(data, out, epochs=3, augment=True))
    first = read_rows(out / "metrics.csv")
    from emolens.train import checkpoint

    res = fit(_cfg(data, out, epochs=5, augment=True, resume=True))
    rows = read_rows(out / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5]
    assert rows[:3] == first
    assert res.epochs_run == 5
    assert checkpoint.load(out / "last.pt")["epoch"] == 5


def test_balanced_modes_and_soft_labels_run(data: Path, tmp_path: Path) -> None:
    for mode in ("weighted", "sampler"):
        res = fit(_cfg(data, tmp_path / mode, epochs=1, balance=mode))
        assert res.epochs_run == 1


def test_ferplus_training_uses_the_real_vote_distributions(fer_root: Path, tmp_path: Path) -> None:
    import csv as csvmod

    import numpy as np

    from emolens.data.fer2013 import load_split
    from emolens.labels import EMOTIONS
    from emolens.train.fit import _subset, _targets

    votes_csv = fer_root / "ferplus.csv"
    cfg = _cfg(fer_root, tmp_path / "fp", epochs=2, limit=1536, ferplus=str(votes_csv), batch_size=64, lr=0.02)
    train = _subset(load_split(fer_root, "train"), cfg.limit, cfg.seed)
    targets = _targets(train, cfg)
    # the targets are the crowd's votes, read here independently of emolens' reader
    columns = {"anger": "angry", "disgust": "disgust", "fear": "fear", "happiness": "happy", "sadness": "sad"}
    columns |= {"surprise": "surprise", "neutral": "neutral"}
    with votes_csv.open(newline="") as fh:
        rows = {r["path"]: r for r in csvmod.DictReader(fh)}
    checked = 0
    for i, path in enumerate(train.paths):
        row = rows.get(path)
        if row is None:
            continue
        v = np.zeros(7)
        for col, lab in columns.items():
            v[EMOTIONS.index(lab)] = float(row[col])
        if v.sum() == 0:
            continue
        np.testing.assert_allclose(targets[i], v / v.sum(), atol=1e-6)
        checked += 1
    assert checked > 0.95 * len(train)
    soft = (targets.max(axis=1) < 1).mean()
    assert soft > 0.3, soft  # most faces split the crowd: these are not one-hot labels
    res = fit(cfg)
    rows_out = read_rows(res.out / "metrics.csv")
    assert float(rows_out[1]["train_loss"]) < float(rows_out[0]["train_loss"])
    entropy = float(-(targets * np.log(np.clip(targets, 1e-12, 1))).sum(axis=1).mean())
    assert float(rows_out[1]["train_loss"]) > entropy  # cross-entropy against soft targets cannot beat their entropy
    assert json.loads((res.out / "config.json").read_text())["ferplus"] == str(votes_csv)


def test_precision_auto_follows_the_cpu(data: Path, tmp_path: Path) -> None:
    from emolens.hardware import train_precision

    res = fit(_cfg(data, tmp_path / "auto", epochs=1))
    config = json.loads((res.out / "config.json").read_text())
    assert config["precision"] == "auto" and config["precision_used"] == train_precision()
    res = fit(_cfg(data, tmp_path / "fp32", epochs=1, precision="fp32"))
    assert json.loads((res.out / "config.json").read_text())["precision_used"] == "fp32"
    with pytest.raises(EmolensError, match="unknown --precision"):
        _cfg(data, tmp_path, precision="fp16")


def test_device_choice_and_a_missing_gpu_is_a_clear_error(data: Path, tmp_path: Path) -> None:
    import torch

    res = fit(_cfg(data, tmp_path / "cpu", epochs=1, device="cpu"))
    assert json.loads((res.out / "config.json").read_text())["device_used"] == "cpu"
    res = fit(_cfg(data, tmp_path / "auto", epochs=1))
    config = json.loads((res.out / "config.json").read_text())
    assert config["device"] == "auto"
    assert config["device_used"].split(":")[0] == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(EmolensError, match="unknown --device"):
        _cfg(data, tmp_path, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(EmolensError, match="sees no CUDA GPU; use --device cpu"):
            fit(_cfg(data, tmp_path / "cuda", epochs=1, device="cuda"))
        assert not (tmp_path / "cuda").exists()


def test_precision_auto_on_a_gpu_follows_its_bf16_support(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from emolens.train.device import resolve_precision

    gpu = torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: not including_emulation)
    assert resolve_precision("auto", gpu) == "bf16" and resolve_precision("fp32", gpu) == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert resolve_precision("auto", gpu) == "fp32" and resolve_precision("bf16", gpu) == "bf16"


def test_class_weights_favour_rare_classes() -> None:
    import numpy as np

    counts = np.array([100, 10, 100, 400, 100, 100, 100])
    w = _class_weights(counts)
    assert w[1] > w[0] > w[3]
    assert float((w * counts).sum() / counts.sum()) == pytest.approx(1.0)


def test_bad_settings_are_clear_errors(data: Path, tmp_path: Path) -> None:
    with pytest.raises(EmolensError, match="unknown --balance"):
        _cfg(data, tmp_path, balance="oversample")
    with pytest.raises(EmolensError, match="fewer than one batch"):
        fit(_cfg(data, tmp_path / "x", batch_size=10_000))
    assert not (tmp_path / "x").exists()  # refused before a run folder was made
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmolensError, match="no 'train' folder in"):
        fit(_cfg(tmp_path / "empty", tmp_path / "y", epochs=1))
    assert not (tmp_path / "y").exists()


def write_own_folders(root: Path, classes: tuple[str, ...], per_class: int = 12, seed: int = 1) -> Path:
    """train/, val/, test/ with one folder per class of your own (no FER-2013 file names)."""
    import cv2
    import numpy as np

    from conftest import synthetic_face

    rng = np.random.default_rng(seed)
    for split in ("train", "val", "test"):
        for label, name in enumerate(classes):
            d = root / split / name
            d.mkdir(parents=True, exist_ok=True)
            for i in range(per_class if split == "train" else 4):
                cv2.imwrite(str(d / f"{i:03d}.png"), synthetic_face(label, rng))
    return root


def test_fine_tuning_a_shipped_model_on_new_classes(tmp_path: Path) -> None:
    pytest.importorskip("onnx", reason="reading a shipped ONNX model needs onnx (the train extra)")
    import torch

    from emolens.eval.report import evaluate
    from emolens.export.onnx import export_checkpoint
    from emolens.train import checkpoint
    from emolens.train.init import load_source

    classes = ("happy", "sad", "surprise", "contempt")  # a new class, and no neutral, angry, ...
    data = write_own_folders(tmp_path / "own", classes)
    cfg = _cfg(data, tmp_path / "ft", arch="vgg", epochs=3, batch_size=8, init="emolens-vgg-fer2013", freeze=2)
    res = fit(cfg)
    rows = read_rows(res.out / "metrics.csv")
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    state = checkpoint.load(res.out / "last.pt")
    assert tuple(state["labels"]) == classes
    source = load_source("emolens-vgg-fer2013")
    first_conv = "features.0.0.weight"
    assert torch.equal(state["model"][first_conv], source.state[first_conv])  # frozen: still the shipped weights
    assert not torch.equal(state["model"]["features.6.0.weight"], source.state["features.6.0.weight"])  # trained
    assert state["model"]["classifier.5.weight"].shape[0] == len(classes)
    onnx_path = export_checkpoint(res.out / "best.pt", tmp_path / "own.onnx").path
    ev = evaluate(onnx_path, data, "test")
    assert ev.metrics.labels == classes and ev.faces == 16


def test_init_refuses_what_it_cannot_use(data: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnx", reason="reading a shipped ONNX model needs onnx (the train extra)")
    with pytest.raises(EmolensError, match="is a vgg model; train it with --arch vgg"):
        fit(_cfg(data, tmp_path / "a", arch="compact", epochs=1, init="emolens-vgg-fer2013"))
    with pytest.raises(EmolensError, match="checkpoint not found"):
        fit(_cfg(data, tmp_path / "b", epochs=1, init=str(tmp_path / "none.pt")))
    with pytest.raises(EmolensError, match="only .* convolutions"):
        fit(_cfg(data, tmp_path / "c", epochs=1, freeze=99))


def test_ferplus_label_set_trains_eight_classes_on_votes(fer_root: Path, tmp_path: Path) -> None:
    from emolens.data.ferplus import FERPLUS_LABELS
    from emolens.train import checkpoint

    votes = str(fer_root / "ferplus.csv")
    res = fit(_cfg(fer_root, tmp_path / "fp8", epochs=1, limit=512, batch_size=64, label_set="ferplus", ferplus=votes))
    assert tuple(checkpoint.load(res.out / "best.pt")["labels"]) == FERPLUS_LABELS
    with pytest.raises(EmolensError, match="needs --ferplus"):
        _cfg(fer_root, tmp_path, label_set="ferplus")


def test_mix_batch_mixes_targets_in_the_same_proportion() -> None:
    import torch

    from emolens.train.loop import mix_batch

    gen = torch.Generator().manual_seed(0)
    x = torch.stack([torch.full((1, 8, 8), float(i)) for i in range(6)])
    y = torch.eye(6)
    same = mix_batch(x, y, 0.0, 0.0, gen)
    assert same[0] is x and same[1] is y
    for mixup, cutmix in ((0.4, 0.0), (0.0, 1.0)):
        mx, my = mix_batch(x, y, mixup, cutmix, gen)
        torch.testing.assert_close(my.sum(dim=1), torch.ones(6))
        # each image is its own value and its partner's, in the share its target says
        own = my[torch.arange(6), torch.arange(6)]
        partner = my.argsort(dim=1)[:, -2] if float(own.min()) < 1 else torch.arange(6)
        expected = own * torch.arange(6.0) + (1 - own) * partner.float()
        torch.testing.assert_close(mx.mean(dim=(1, 2, 3)), expected, atol=1e-5, rtol=0)


def test_augmentation_mixing_and_weight_averaging_train_and_resume(data: Path, tmp_path: Path) -> None:
    import torch

    from emolens.train import checkpoint

    kw = dict(augment=True, photometric=0.5, mixup=0.2, cutmix=1.0, ema=0.9)
    out = tmp_path / "mix"
    fit(_cfg(data, out, epochs=2, **kw))
    res = fit(_cfg(data, out, epochs=3, resume=True, **kw))
    assert res.epochs_run == 3
    last = checkpoint.load(out / "last.pt")
    assert "ema" in last and last["epoch"] == 3
    averaged = {k.removeprefix("module."): v for k, v in last["ema"].items() if k.startswith("module.")}
    weight = "features.0.weight"
    assert not torch.equal(averaged[weight], last["model"][weight])  # the average lags the weights
    with pytest.raises(EmolensError, match="--ema"):
        _cfg(data, tmp_path, ema=1.0)


def test_imported_batch_norms_get_real_statistics_without_changing_the_model() -> None:
    pytest.importorskip("onnx", reason="reading a shipped ONNX model needs onnx (the train extra)")
    import copy

    import numpy as np
    import torch

    from emolens.labels import EMOTIONS
    from emolens.models.registry import create_model
    from emolens.train.init import initialize, is_identity_bn, load_source, restore_batch_norm_statistics
    from emolens.train.loop import to_input

    model = create_model("vgg", num_classes=7)
    initialize(model, "vgg", EMOTIONS, load_source("emolens-vgg-fer2013"))
    rng = np.random.default_rng(0)
    faces = torch.from_numpy(rng.integers(0, 256, (96, 48, 48), dtype=np.uint8))
    x = to_input(faces, 0.5, 0.25)
    before = copy.deepcopy(model).eval()(x)
    assert sum(is_identity_bn(m) for m in model.modules()) == 8
    assert restore_batch_norm_statistics(model, x) == 8
    assert not any(is_identity_bn(m) for m in model.modules())
    torch.testing.assert_close(model.eval()(x), before, atol=1e-4, rtol=1e-4)  # the same function in eval
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert float(bn.running_var.mean()) != pytest.approx(1.0, abs=1e-3)  # statistics of real inputs
    assert restore_batch_norm_statistics(model, x) == 0  # nothing left to do


def test_teacher_probabilities_map_by_name_soften_and_blend() -> None:
    import numpy as np

    from emolens.train.teacher import blend, parse_teachers, soften, to_classes

    labels = ("angry", "happy", "contempt", "neutral")
    probs = np.array([[0.1, 0.6, 0.2, 0.1], [0.0, 0.0, 1.0, 0.0]], dtype=np.float32)
    mapped = to_classes(probs, labels, ("neutral", "happy", "angry"), "t")
    np.testing.assert_allclose(mapped[0], np.array([0.1, 0.6, 0.1]) / 0.8)
    np.testing.assert_allclose(mapped[1], np.full(3, 1 / 3))  # all its mass on a dropped class: no opinion
    with pytest.raises(EmolensError, match="teacher t has no class sad"):
        to_classes(probs, labels, ("happy", "sad"), "t")

    soft = soften(mapped, 2.0)
    entropy = lambda p: -(p * np.log(p)).sum(axis=1)  # noqa: E731
    assert entropy(soft)[0] > entropy(mapped)[0]
    assert soft[0].argmax() == mapped[0].argmax()
    np.testing.assert_allclose(soft.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(soften(mapped, 0.5)[0], mapped[0] ** 2 / (mapped[0] ** 2).sum(), rtol=1e-6)

    onehot = np.eye(3, dtype=np.float32)[[1, 0]]
    mixed = blend(onehot, mapped.astype(np.float32), 0.25)
    np.testing.assert_allclose(mixed[0], 0.75 * onehot[0] + 0.25 * mapped[0], rtol=1e-6)
    np.testing.assert_allclose(mixed.sum(axis=1), 1, rtol=1e-6)

    assert parse_teachers(" a.onnx, emolens-vgg-fer2013 ") == ["a.onnx", "emolens-vgg-fer2013"]
    with pytest.raises(EmolensError, match="twice"):
        parse_teachers("a.onnx,a.onnx")
    with pytest.raises(EmolensError, match="names no model"):
        parse_teachers(" , ")


def test_distilling_from_a_shipped_teacher_changes_the_targets_and_weight_zero_does_not(
    data: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    import torch

    from emolens.train import checkpoint

    def weights(out: Path) -> dict[str, torch.Tensor]:
        return checkpoint.load(out / "last.pt")["model"]  # type: ignore[no-any-return]

    plain = fit(_cfg(data, tmp_path / "plain", epochs=1)).out
    with caplog.at_level(logging.INFO, logger="emolens.train.teacher"):
        zero = fit(_cfg(data, tmp_path / "zero", epochs=1, teacher="emolens-vgg-fer2013", teacher_weight=0.0)).out
    assert "teacher emolens-vgg-fer2013 (tta selective): 84 faces" in caplog.text
    taught = fit(_cfg(data, tmp_path / "taught", epochs=1, teacher="emolens-vgg-fer2013", teacher_weight=1.0)).out
    for name, w in weights(plain).items():
        assert torch.equal(w, weights(zero)[name]), name
    assert any(not torch.equal(w, weights(taught)[name]) for name, w in weights(plain).items())
    assert json.loads((taught / "config.json").read_text())["teacher"] == "emolens-vgg-fer2013"


def test_teacher_settings_that_cannot_work_are_clear_errors(data: Path, tmp_path: Path) -> None:
    with pytest.raises(EmolensError, match="--teacher-weight must lie in"):
        _cfg(data, tmp_path, teacher="emolens-vgg-fer2013", teacher_weight=1.5)
    with pytest.raises(EmolensError, match="--teacher-temperature be positive"):
        _cfg(data, tmp_path, teacher="emolens-vgg-fer2013", teacher_temperature=0.0)
    own = write_own_folders(tmp_path / "own", ("happy", "contempt"))
    with pytest.raises(EmolensError, match="teacher emolens-vgg-fer2013 has no class contempt"):
        fit(_cfg(own, tmp_path / "c", epochs=1, teacher="emolens-vgg-fer2013"))
    with pytest.raises(EmolensError, match="model file not found"):
        fit(_cfg(data, tmp_path / "m", epochs=1, teacher=str(tmp_path / "missing.onnx")))
    assert not (tmp_path / "m").exists()  # nothing written for a run that cannot start
