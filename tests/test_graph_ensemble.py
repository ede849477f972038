"""emolens.export.graph_ensemble: ONNX graphs joined into one that averages their probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from emolens.errors import ModelError
from emolens.export.graph_ensemble import average_graphs


def softmax_model(seed: int, *, opset: int = 17, input_name: str = "input", rank: int = 2) -> Any:
    """input (N, 3) -> MatMul by a random (3, 4) -> Softmax -> probs; every member uses the same
    internal names ("W", "logits"), so a join that did not rename them would collide."""
    w = np.random.default_rng(seed).normal(0, 2, (3, 4)).astype(np.float32)
    dims: list[str | int] = ["N", 3] if rank == 2 else ["N", 1, 3]
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", [input_name, "W"], ["logits"], name="matmul"),
            helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=-1),
        ],
        f"m{seed}",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [*dims[:-1], 4])],
        initializer=[numpy_helper.from_array(w, "W")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def run(proto: Any, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    out: np.ndarray = session.run(None, {"input": x})[0]
    return out


def test_the_join_is_the_weighted_mean_of_its_members() -> None:
    members = [softmax_model(s) for s in (0, 1, 2)]
    x = np.random.default_rng(9).normal(0, 1, (5, 3)).astype(np.float32)
    merged = average_graphs(members, [1, 2, 1])
    want = 0.25 * run(members[0], x) + 0.5 * run(members[1], x) + 0.25 * run(members[2], x)
    np.testing.assert_allclose(run(merged, x), want, atol=1e-6)
    assert not np.allclose(run(members[0], x), run(members[1], x), atol=0.05)  # the weights matter
    assert [i.name for i in merged.graph.input] == ["input"] and [o.name for o in merged.graph.output] == ["probs"]
    assert len(merged.graph.initializer) == 3 + 3  # each member's W, renamed, and one weight each
    # a joined model joins again: its copy is renamed once more
    again = average_graphs([merged, softmax_model(3)], [4, 1])
    want4 = 0.8 * want + 0.2 * run(softmax_model(3), x)
    np.testing.assert_allclose(run(again, x), want4, atol=1e-6)


def test_the_members_are_left_untouched() -> None:
    a, b = softmax_model(0), softmax_model(1)
    before = a.SerializeToString()
    average_graphs([a, b], [1, 1])
    assert a.SerializeToString() == before


@pytest.mark.parametrize(
    ("members", "weights", "message"),
    [
        ([softmax_model(0)], [1], "two members or more"),
        ([softmax_model(0), softmax_model(1)], [1], "one positive weight a member"),
        ([softmax_model(0), softmax_model(1)], [1, 0], "one positive weight a member"),
        ([softmax_model(0), softmax_model(1, input_name="x")], [1, 1], "member 2 is not a one-input model"),
        ([softmax_model(0), softmax_model(1, opset=18)], [1, 1], "opset 18"),
        ([softmax_model(0), softmax_model(1, rank=3)], [1, 1], "another type or rank"),
    ],
)
def test_members_that_cannot_join_are_refused(members: list[Any], weights: list[float], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        average_graphs(members, weights)


def test_a_member_with_a_subgraph_is_refused() -> None:
    m = softmax_model(1)
    branch = helper.make_graph(
        [helper.make_node("Identity", ["probs0"], ["out"])], "b", [], [helper.make_tensor_value_info("out", 1, None)]
    )
    m.graph.node.append(helper.make_node("If", ["cond"], ["y"], then_branch=branch, else_branch=branch))
    with pytest.raises(ModelError, match="subgraph"):
        average_graphs([softmax_model(0), m], [1, 1])
