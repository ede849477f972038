"""int8 copies: metadata carried over, and the same answers as the float32 twin on any CPU.

Every comparison is between an int8 model and its float32 twin run on the same machine, so the
thresholds hold on AVX2-only CPUs (where ONNX Runtime's u8s8 kernels can saturate) and on VNNI/AMX
CPUs alike."""

from pathlib import Path

import numpy as np
import pytest

from emolens.data.fer2013 import load_split
from emolens.errors import ModelError
from emolens.export.quantize import quantize_model
from emolens.export.schemes import DEFAULT_SCHEME, SCHEMES
from emolens.models.bundled import resolve_model
from emolens.runtime.recognizer import Recognizer

AGREEMENT = 0.98


def agreement(a: Recognizer, b: Recognizer, faces: np.ndarray) -> float:
    return float((a.predict_faces(faces).argmax(1) == b.predict_faces(faces).argmax(1)).mean())


def test_int8_copy_keeps_metadata_and_agrees_with_float(fer_root: Path, tmp_path: Path) -> None:
    train = load_split(fer_root, "train")
    test = load_split(fer_root, "test")
    fp32 = Recognizer("emolens-vgg-fer2013-fp32", tta="none")
    pick = np.sort(np.random.default_rng(0).permutation(len(train))[:512])  # as emolens quantize does
    out = quantize_model(fp32.path, tmp_path / "q.onnx", train.images[pick])
    q = Recognizer(out, tta="none")
    assert q.labels == fp32.labels and q.meta.version.endswith("-int8") and q.meta.name == "q"
    assert q.meta.precision == f"int8-{DEFAULT_SCHEME}" and fp32.meta.precision == "fp32"
    assert SCHEMES[DEFAULT_SCHEME].portable
    assert out.stat().st_size < 0.4 * fp32.path.stat().st_size
    agree = agreement(q, fp32, test.images[:1200])
    assert agree >= AGREEMENT, agree
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    with pytest.raises(ModelError, match="already quantized"):
        quantize_model(out, tmp_path / "qq.onnx", train.images[pick])
    with pytest.raises(ModelError, match="unknown int8 scheme 'u4'"):
        quantize_model(fp32.path, tmp_path / "q4.onnx", train.images[pick], int8="u4")


def test_shipped_int8_agrees_with_its_float_twin_on_private_test(fer_root: Path) -> None:
    test = load_split(fer_root, "test")
    int8 = Recognizer("emolens-vgg-fer2013-int8")
    fp32 = Recognizer("emolens-vgg-fer2013-fp32")
    assert int8.meta.precision == f"int8-{DEFAULT_SCHEME}" and int8.tta == fp32.tta == "selective"
    agree = agreement(int8, fp32, test.images)
    assert agree >= AGREEMENT, agree


def test_the_family_name_loads_a_variant_of_the_same_network() -> None:
    rec = Recognizer("emolens-vgg-fer2013")
    assert rec.path == resolve_model(None)
    assert rec.path.stem in ("emolens-vgg-fer2013-int8", "emolens-vgg-fer2013-fp32")
    assert rec.meta.name == rec.path.stem
