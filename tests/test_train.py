import csv
import json
from pathlib import Path

import pytest

from emolens.errors import EmolensError
from emolens.train.fit import TrainConfig, _class_weights, fit


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
    res = fit(_cfg(data, tmp_path / "run"))
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
    votes = tmp_path / "ferplus.csv"
    votes.write_text("path,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n")
    assert fit(_cfg(data, tmp_path / "fp", epochs=1, ferplus=str(votes))).epochs_run == 1


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
