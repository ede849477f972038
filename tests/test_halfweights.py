"""Float32 models stored with float16 weights: half the file, the same answers, and every tool that
reads weights (quantize, export, --init) reads them back."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper

from conftest import FER, assert_one_line_error, need, run_main
from emolens.data.fer2013 import load_split
from emolens.errors import ModelError
from emolens.export.halfweights import MAX_DIFF, halve_proto, halve_weights, stored_weights, widen_proto
from emolens.export.quantize import quantize_model
from emolens.models.bundled import resolve_model
from emolens.runtime.recognizer import Recognizer
from emolens.train.init import load_members

FP32 = "emolens-vgg-fer2013-fp32"


@pytest.fixture(scope="module")
def public_test() -> np.ndarray:
    return load_split(need(FER), "val").images


@pytest.fixture(scope="module")
def halved(public_test: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out, diff = halve_weights(FP32, tmp_path_factory.mktemp("half") / "h.onnx", public_test[:256])
    assert 0 < diff <= MAX_DIFF  # the weights did change, and only a little
    return out


def test_halved_model_is_half_the_file_with_the_same_answers(halved: Path, public_test: np.ndarray) -> None:
    full = Recognizer(FP32)
    half = Recognizer(halved)
    assert halved.stat().st_size < 0.55 * resolve_model(FP32).stat().st_size
    assert stored_weights(onnx.load(str(halved))) == "float16"
    assert half.meta == full.meta  # labels, framing, temperature, tta and precision (fp32) carried over
    faces = public_test[:1000]
    same = (half.predict_faces(faces).argmax(1) == full.predict_faces(faces).argmax(1)).mean()
    assert same >= 0.998, same
    assert not [p for p in halved.parent.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_widening_gives_back_the_rounded_float32_weights() -> None:
    proto = onnx.load(str(resolve_model(FP32)))
    before = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    n_nodes = len(proto.graph.node)
    halved = halve_proto(proto)
    assert halved > 0 and len(proto.graph.node) == n_nodes + halved
    assert halve_proto(proto) == 0  # nothing float32 and large is left
    assert widen_proto(proto) == halved and widen_proto(proto) == 0
    after = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    assert after.keys() == before.keys() and len(proto.graph.node) == n_nodes
    for name, w in before.items():
        assert after[name].dtype == w.dtype
        expected = w.astype(np.float16).astype(np.float32) if w.size >= 1024 else w
        np.testing.assert_array_equal(after[name], expected)
    assert all(i.data_type != TensorProto.FLOAT16 for i in proto.graph.initializer)


def test_quantize_and_export_read_a_halved_model(halved: Path, public_test: np.ndarray, tmp_path: Path) -> None:
    (member,) = load_members(str(halved))  # parity-checked against ONNX Runtime on the halved file
    assert member.arch == "vgg"
    q = Recognizer(quantize_model(halved, tmp_path / "q.onnx", public_test[:64]), tta="none")
    assert q.meta.precision.startswith("int8-")
    assert stored_weights(onnx.load(str(q.path))) == "float32"
    assert all(i.data_type != TensorProto.FLOAT16 for i in onnx.load(str(q.path)).graph.initializer)
    faces = public_test[1000:1500]
    same = (q.predict_faces(faces).argmax(1) == Recognizer(halved, tta="none").predict_faces(faces).argmax(1)).mean()
    assert same >= 0.95, same


def test_halving_refuses_int8_and_halved_models(halved: Path, public_test: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="already stores its weights in float16"):
        halve_weights(halved, tmp_path / "again.onnx", public_test[:8])
    with pytest.raises(ModelError, match="only a float32 model"):
        halve_weights("emolens-vgg-fer2013-int8", tmp_path / "int8.onnx", public_test[:8])
    assert not list(tmp_path.iterdir())  # nothing written, not even a temporary file


def test_cli_halves_a_model_and_fails_in_one_line(
    capsys: pytest.CaptureFixture[str], fer_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "h.onnx"
    code, stdout, _ = run_main(capsys, "halve", FP32, "--out", str(out), "--data", str(fer_root), "--faces", "32")
    assert code == 0 and out.is_file() and "weights in float16" in stdout
    code, _, err = run_main(capsys, "halve", str(out), "--out", str(tmp_path / "h2.onnx"), "--data", str(fer_root))
    assert_one_line_error(code, err, "already stores its weights in float16")
    assert not (tmp_path / "h2.onnx").exists()


def test_widening_leaves_a_float16_tensor_that_something_else_reads() -> None:
    from onnx import helper

    w = numpy_helper.from_array(np.ones((32, 32), dtype=np.float16), "w.f16")
    nodes = [
        helper.make_node("Cast", ["w.f16"], ["w"], to=TensorProto.FLOAT, name="w.f16"),
        helper.make_node("Identity", ["w.f16"], ["w16"]),
    ]
    outputs = [
        helper.make_tensor_value_info("w", TensorProto.FLOAT, [32, 32]),
        helper.make_tensor_value_info("w16", TensorProto.FLOAT16, [32, 32]),
    ]
    proto = helper.make_model(helper.make_graph(nodes, "g", [], outputs, initializer=[w]))
    assert widen_proto(proto) == 0 and len(proto.graph.node) == 2
