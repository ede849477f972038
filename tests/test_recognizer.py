from pathlib import Path

import numpy as np
import pytest

import emolens
from emolens.errors import ImageError, ModelError
from emolens.models.bundled import DEFAULT_MODEL


@pytest.fixture(scope="module")
def rec() -> emolens.Recognizer:
    return emolens.Recognizer()


def test_default_model_is_bundled() -> None:
    assert DEFAULT_MODEL in emolens.available_models()


def test_labels_and_probabilities(rec: emolens.Recognizer) -> None:
    assert rec.labels == emolens.EMOTIONS
    faces = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    p = rec.predict_faces(faces)
    assert p.shape == (5, 7) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    assert (p >= 0).all()


def test_any_size_gray_or_bgr(rec: emolens.Recognizer) -> None:
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (3, 96, 96), dtype=np.uint8)
    bgr = np.repeat(gray[..., None], 3, axis=3)
    np.testing.assert_allclose(rec.predict_faces(gray), rec.predict_faces(bgr), atol=1e-6)
    assert rec.predict_faces(np.zeros((0, 48, 48), np.uint8)).shape == (0, 7)
    assert rec.predict_faces([gray[0], bgr[1][:50, :70]]).shape == (2, 7)


def test_batches_give_the_same_answers_as_single_faces(rec: emolens.Recognizer) -> None:
    faces = np.random.default_rng(2).integers(0, 256, (600, 48, 48), dtype=np.uint8)
    whole = rec.predict_faces(faces)
    np.testing.assert_allclose(whole[599:], rec.predict_faces(faces[599:]), atol=1e-5)


def test_hflip_tta_averages_the_mirror(rec: emolens.Recognizer) -> None:
    # float32, raw probabilities: int8 kernels may round a batch of 2 differently from two of 1, and a
    # temperature is applied after the average
    name = "emolens-vgg-fer2013-fp32"
    plain = emolens.Recognizer(name, tta="none", temperature=1.0)
    face = np.random.default_rng(3).integers(0, 256, (1, 48, 48), dtype=np.uint8)
    expected = (plain.predict_faces(face) + plain.predict_faces(face[:, :, ::-1].copy())) / 2
    flipped = emolens.Recognizer(name, tta="hflip", temperature=1.0)
    np.testing.assert_allclose(flipped.predict_faces(face), expected, atol=1e-5)


def test_selective_tta_mirrors_only_the_unsure_faces() -> None:
    from emolens.runtime.metadata import SELECTIVE_FLIP_BELOW

    name = "emolens-vgg-fer2013-fp32"  # float32 and raw probabilities, as above
    plain = emolens.Recognizer(name, tta="none", temperature=1.0)
    flipped = emolens.Recognizer(name, tta="hflip", temperature=1.0)
    selective = emolens.Recognizer(name, tta="selective", temperature=1.0)
    rng = np.random.default_rng(4)
    # random pixels and smooth ramps of random brightness: the network is sure of some, unsure of others
    noise = rng.integers(0, 256, (40, 48, 48), dtype=np.uint8)
    ramps = np.linspace(0, 255, 48)[None, None, :] * np.ones((40, 48, 1)) + rng.integers(-60, 60, (40, 1, 1))
    faces = np.concatenate([noise, np.clip(ramps, 0, 255).astype(np.uint8)])
    p0, p2, ps = plain.predict_faces(faces), flipped.predict_faces(faces), selective.predict_faces(faces)
    unsure = p0.max(axis=1) < SELECTIVE_FLIP_BELOW
    assert unsure.any() and (~unsure).any(), "the test faces must include sure and unsure ones"
    np.testing.assert_allclose(ps[~unsure], p0[~unsure], atol=1e-5)
    np.testing.assert_allclose(ps[unsure], p2[unsure], atol=1e-5)


def test_shifted_moves_the_image_and_repeats_its_edges() -> None:
    import cv2

    from emolens.runtime.recognizer import shifted

    img = np.random.default_rng(5).integers(0, 256, (1, 1, 9, 7), dtype=np.uint8)
    for dx, dy in ((2, 0), (-2, 0), (0, 3), (0, -1), (1, -2)):
        m = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
        expected = cv2.warpAffine(img[0, 0], m, (7, 9), borderMode=cv2.BORDER_REPLICATE)
        np.testing.assert_array_equal(shifted(img, dx, dy)[0, 0], expected)
    assert shifted(img, 0, 0) is img
    with pytest.raises(ValueError, match="leaves nothing"):
        shifted(img, 7, 0)


def test_shift_views_scale_with_the_input_size() -> None:
    from emolens.runtime.recognizer import shift_views

    for size, d in ((48, 2), (64, 3), (12, 1)):
        x = np.arange(size * size, dtype=np.float32).reshape(1, 1, size, size)
        views = shift_views(x)
        assert len(views) == 10 and all(v.shape == x.shape for v in views)
        np.testing.assert_array_equal(views[1][..., d:], x[..., :-d])  # moved right by d pixels
        np.testing.assert_array_equal(views[5], x[..., ::-1])


def test_shift_tta_averages_ten_views_of_each_face() -> None:
    import cv2

    name = "emolens-vgg-fer2013-fp32"  # float32 and raw probabilities, as above
    plain = emolens.Recognizer(name, tta="none", temperature=1.0)
    shift = emolens.Recognizer(name, tta="shift", temperature=1.0)
    # more faces than one batch of ten views holds, so the batching is exercised too
    faces = np.random.default_rng(6).integers(0, 256, (60, 48, 48), dtype=np.uint8)
    expected = np.zeros((60, 7))
    for dx, dy in ((0, 0), (2, 0), (-2, 0), (0, 2), (0, -2)):
        m = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
        moved = np.stack([cv2.warpAffine(f, m, (48, 48), borderMode=cv2.BORDER_REPLICATE) for f in faces])
        expected += plain.predict_faces(moved) + plain.predict_faces(moved[:, :, ::-1].copy())
    np.testing.assert_allclose(shift.predict_faces(faces), expected / 10, atol=1e-5)
    assert not np.allclose(expected / 10, plain.predict_faces(faces), atol=1e-3)


def faces_of_every_certainty() -> np.ndarray:
    """Random pixels, brightness ramps and smooth blobs (300 of 48x48): the default network is sure of
    some, settles others with the mirror image, and stays unsure of many."""
    import cv2

    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (100, 48, 48), dtype=np.uint8)
    ramps = np.linspace(0, 255, 48)[None, None, :] * np.ones((100, 48, 1)) + rng.integers(-60, 60, (100, 1, 1))
    blobs = np.clip(rng.normal(128, 40, (100, 6, 6)), 0, 255).astype(np.uint8)
    smooth = np.stack([cv2.resize(b, (48, 48)) for b in blobs])
    return np.concatenate([noise, np.clip(ramps, 0, 255).astype(np.uint8), smooth])


def test_cascade_tta_shifts_only_the_faces_still_unsure_after_the_mirror() -> None:
    from emolens.runtime.metadata import CASCADE_SHIFT_BELOW, SELECTIVE_FLIP_BELOW

    name, faces = "emolens-vgg-fer2013-fp32", faces_of_every_certainty()  # float32, raw probabilities
    p0, p2, p10, pc = (
        emolens.Recognizer(name, tta=mode, temperature=1.0).predict_faces(faces)
        for mode in ("none", "hflip", "shift", "cascade")
    )
    mirrored = p0.max(axis=1) < SELECTIVE_FLIP_BELOW
    shifted = mirrored & (p2.max(axis=1) < CASCADE_SHIFT_BELOW)
    # sure faces, faces the mirror settles, and more faces left unsure than one batch of eight views holds
    assert (~mirrored).sum() > 20 and (mirrored & ~shifted).sum() > 20 and shifted.sum() > 64
    np.testing.assert_allclose(pc[~mirrored], p0[~mirrored], atol=1e-5)
    np.testing.assert_allclose(pc[mirrored & ~shifted], p2[mirrored & ~shifted], atol=1e-5)
    np.testing.assert_allclose(pc[shifted], p10[shifted], atol=1e-5)


def test_shipped_files_ask_for_selective_flip() -> None:
    # chosen on PublicTest (benchmarks/selective_tta.py): as accurate as hflip at 1.7x its speed
    for name in ("emolens-vgg-fer2013-int8", "emolens-vgg-fer2013-fp32"):
        rec = emolens.Recognizer(name)
        assert rec.tta == "selective" and rec.temperature == rec.meta.temperature_for("selective") != 1.0


def test_bad_input_is_a_clear_error(rec: emolens.Recognizer) -> None:
    with pytest.raises(ImageError, match="uint8"):
        rec.predict_faces(np.zeros((1, 48, 48), np.float64))
    with pytest.raises(ImageError):
        rec.predict_faces(np.zeros((48,), np.uint8))


def test_unknown_model_lists_the_bundled_ones(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=f"bundled models: .*{DEFAULT_MODEL}"):
        emolens.Recognizer("no-such-model")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match=r"cannot load model .*bad.onnx: not an ONNX model \(a corrupt or truncated"):
        emolens.Recognizer(bad)
    with pytest.raises(ModelError, match="unknown tta 'tencrop' for a face model; choose one of: none, hflip"):
        emolens.Recognizer(tta="tencrop")
    with pytest.raises(ModelError, match=r"'crops' for a face model \(crops is for speech models\)"):
        emolens.Recognizer(tta="crops")


def test_no_torch_is_needed_for_inference() -> None:
    import subprocess
    import sys

    code = (
        "import sys, numpy as np; sys.modules['torch'] = None\n"
        "import emolens\n"
        "p = emolens.Recognizer().predict_faces(np.zeros((2, 48, 48), np.uint8))\n"
        "assert p.shape == (2, 7)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_one_bgr_face_is_not_read_as_48_gray_faces(rec: emolens.Recognizer) -> None:
    face = np.random.default_rng(4).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    with pytest.raises(ImageError, match=r"ambiguous.*\[face\]"):
        rec.predict_faces(face)  # it once answered 48 rows
    one = rec.predict_faces([face])
    assert one.shape == (1, 7)
    np.testing.assert_allclose(rec.predict_faces(face[None]), one, atol=1e-6)


def test_threads_are_checked() -> None:
    for bad in (-1, -8, True, 1.5, "2", 10**6, 2**31):
        with pytest.raises(ModelError, match="threads must be a whole number"):
            emolens.Recognizer(threads=bad)  # type: ignore[arg-type]
    assert emolens.Recognizer(threads=0).threads == 0  # 0, as None: one per core
    assert emolens.Recognizer(threads=np.int64(2)).threads == 2  # type: ignore[arg-type]


def test_run_model_and_temperature_of_the_wrong_kind_are_clear_errors() -> None:
    from emolens.errors import EmolensError, ImageError

    rec = emolens.Recognizer(threads=1)
    x = rec.prepare(np.zeros((2, 48, 48), np.uint8))
    assert rec.run(x).shape == (2, len(rec.labels))
    for bad in (x.astype(np.float64), x[:, 0], [1.0]):
        with pytest.raises(ImageError, match="takes the float32"):
            rec.run(bad)  # type: ignore[arg-type]
    for value in (np.nan, np.inf):
        spoiled = x.copy()
        spoiled[1, 0, 3, 4] = value
        with pytest.raises(ImageError, match="NaN or infinity"):
            rec.run(spoiled)
    with pytest.raises(ModelError, match="a model is a name"):
        emolens.Recognizer(123)  # type: ignore[arg-type]
    for t in ("1", True, float("nan"), -1.0):
        with pytest.raises(EmolensError, match="temperature must be a positive number"):
            emolens.Recognizer(temperature=t)  # type: ignore[arg-type]
