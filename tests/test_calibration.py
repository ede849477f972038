"""Temperature scaling and calibration error, on generated probabilities and on the shipped models."""

from pathlib import Path

import numpy as np
import pytest

from emolens.eval.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability,
)
from emolens.runtime.metadata import TTA_MODES


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def overconfident(n: int = 20000, factor: float = 2.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z) (the truth), reported as softmax(factor * z) (overconfident)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.2, (n, 7))
    truth = softmax(z)
    labels = np.array([rng.choice(7, p=p) for p in truth])
    return softmax(factor * z), labels


def test_fit_recovers_the_temperature_that_made_the_probabilities_overconfident() -> None:
    probs, labels = overconfident(factor=2.5)
    t = fit_temperature(probs, labels)
    assert t == pytest.approx(2.5, rel=0.08)
    after = apply_temperature(probs, t)
    assert expected_calibration_error(after, labels) < 0.5 * expected_calibration_error(probs, labels)
    assert negative_log_likelihood(after, labels) < negative_log_likelihood(probs, labels)
    assert (after.argmax(1) == probs.argmax(1)).all()  # labels never change
    np.testing.assert_allclose(after.sum(axis=1), 1.0, rtol=1e-6)


def test_underconfident_probabilities_get_a_temperature_below_one() -> None:
    probs, labels = overconfident(factor=0.5)
    assert fit_temperature(probs, labels) == pytest.approx(0.5, rel=0.1)


def test_temperature_one_changes_nothing_and_bad_values_are_refused() -> None:
    probs, _ = overconfident(n=10)
    assert apply_temperature(probs, 1.0) is probs
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="positive"):
            apply_temperature(probs, bad)


def test_temperature_keeps_the_top_class_of_rows_one_rounding_apart() -> None:
    # averaged views can leave the top two classes one float32 step apart (seen on PrivateTest);
    # rescaling must not round them into a tie that argmax breaks the other way
    rng = np.random.default_rng(7)
    second = rng.uniform(0.34, 0.45, 2000).astype(np.float32)
    top = np.nextafter(second, np.float32(1))
    rest = (1 - top - second)[:, None] * rng.dirichlet(np.ones(5), 2000).astype(np.float32)
    probs = np.concatenate([second[:, None], rest[:, :2], top[:, None], rest[:, 2:]], axis=1)
    assert (probs.argmax(axis=1) == 3).all()
    for t in (0.6, 0.912, 1.5, 3.0):
        assert (apply_temperature(probs, t).argmax(axis=1) == 3).all(), t


def test_reliability_bins_by_hand() -> None:
    probs = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.45, 0.55]])
    labels = np.array([0, 1, 0, 1])
    rel = reliability(probs, labels, bins=10)
    assert sum(rel.counts) == 4 and rel.counts[9] == 2 and rel.counts[5] == 2
    assert rel.accuracy[9] == 0.5 and rel.confidence[9] == pytest.approx(0.95)
    assert rel.accuracy[5] == 1.0 and rel.confidence[5] == pytest.approx(0.55)
    assert rel.ece == pytest.approx((2 * 0.45 + 2 * 0.45) / 4)


def test_calibrated_recognizer_keeps_every_label_of_private_test(fer_root: Path) -> None:
    from emolens.data.fer2013 import load_split
    from emolens.runtime.recognizer import Recognizer

    test = load_split(fer_root, "test")
    for name in ("emolens-vgg-fer2013-int8", "emolens-vgg-fer2013-fp32"):
        calibrated = Recognizer(name)
        raw = Recognizer(name, temperature=1.0)
        assert calibrated.temperature != 1.0, f"{name} ships without a fitted temperature"
        p_cal, p_raw = calibrated.predict_faces(test.images), raw.predict_faces(test.images)
        assert (p_cal.argmax(1) == p_raw.argmax(1)).all()
        # fitted on PublicTest, it must not make the held-out likelihood worse, and the probabilities
        # must mean what they say to within 3 points
        nll_cal = negative_log_likelihood(p_cal, test.labels)
        assert nll_cal < negative_log_likelihood(p_raw, test.labels), name
        assert expected_calibration_error(p_cal, test.labels) < 0.03, name


def test_cli_calibrate_writes_a_copy_with_its_temperature(tmp_path: Path, fer_folder: Path) -> None:
    pytest.importorskip("onnx", reason="calibration writes ONNX files: the train extra")
    import json

    from emolens.cli import main
    from emolens.runtime.recognizer import Recognizer

    out, js, png = tmp_path / "cal.onnx", tmp_path / "cal.json", tmp_path / "rel.png"
    args = ["calibrate", "emolens-vgg-fer2013-fp32", "--data", str(fer_folder), "--out", str(out)]
    assert main([*args, "--json", str(js), "--plot", str(png), "--threads", "1"]) == 0
    report = json.loads(js.read_text())
    rec = Recognizer(out)
    assert rec.temperature == pytest.approx(report["modes"][rec.tta]["temperature"], rel=1e-5)
    assert all(m["labels_kept"] for m in report["modes"].values())
    assert png.stat().st_size > 10_000 and not list(tmp_path.glob(".*"))
    assert main([*args[:-1], str(tmp_path / "missing" / "x.onnx")]) == 2
    assert set(report["modes"]) == set(TTA_MODES)


def test_cli_calibrate_stores_the_tta_it_is_given(tmp_path: Path, fer_folder: Path) -> None:
    pytest.importorskip("onnx", reason="calibration writes ONNX files: the train extra")
    from emolens.cli import main
    from emolens.runtime.recognizer import Recognizer

    out = tmp_path / "cal.onnx"
    args = ["calibrate", "emolens-vgg-fer2013-fp32", "--data", str(fer_folder), "--out", str(out), "--threads", "1"]
    for tta in ("none", "selective"):
        assert main([*args, "--tta", tta]) == 0
        rec = Recognizer(out)
        assert rec.tta == tta
        assert rec.temperature == rec.meta.temperature_for(tta) != 1.0
    with pytest.raises(SystemExit):
        main([*args, "--tta", "tencrop"])


def test_cli_calibrate_with_report_split_val_reads_no_private_test(tmp_path: Path, fer_folder: Path) -> None:
    pytest.importorskip("onnx", reason="calibration writes ONNX files: the train extra")
    import json

    from emolens.cli import main

    for face in fer_folder.glob("test/*/PrivateTest_*"):
        face.unlink()  # a selection run must get by without PrivateTest
    out, js = tmp_path / "cal.onnx", tmp_path / "cal.json"
    args = ["calibrate", "emolens-vgg-fer2013-fp32", "--data", str(fer_folder), "--out", str(out), "--threads", "1"]
    assert main(args) != 0 and not out.exists()
    assert main([*args, "--report-split", "val", "--json", str(js)]) == 0
    report = json.loads(js.read_text())
    assert out.exists() and all(m["labels_kept"] for m in report["modes"].values())


def test_calibration_matches_classes_by_name_in_a_folder_of_some_classes(tmp_path: Path, fer_root: Path) -> None:
    """Real happy and sad faces alone: the folder numbers them 0 and 1, FER-2013 3 and 4. The
    accuracy calibration reports must be what ``evaluate`` measures on the same faces."""
    pytest.importorskip("onnx", reason="calibration writes ONNX files: the train extra")
    import shutil

    from emolens.eval.report import evaluate
    from emolens.export.calibrate import calibrate_model

    root = tmp_path / "two"
    for name in ("happy", "sad"):
        (root / "test" / name).mkdir(parents=True)
        for usage in ("PublicTest", "PrivateTest"):
            for f in sorted((fer_root / "test" / name).glob(f"{usage}_*.jpg"))[:20]:
                shutil.copy(f, root / "test" / name / f.name)
    cal = calibrate_model("emolens-vgg-fer2013-fp32", root, tmp_path / "c.onnx", threads=1)
    ev = evaluate("emolens-vgg-fer2013-fp32", root, "test", tta="none", threads=1)
    assert ev.faces == 40 and ev.metrics.accuracy > 0.5
    assert cal.modes["none"].accuracy == pytest.approx(ev.metrics.accuracy)
    assert 0.05 < cal.modes["none"].temperature < 19
