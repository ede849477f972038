"""One ONNX graph made of several: each runs on the same input and their probabilities are averaged.

For members that exist only as ONNX files (a shipped model whose training checkpoints are not
kept): each graph is copied whole, every name in it prefixed so the copies cannot collide, and
their outputs are weighted and summed. Pure functions on ``onnx.ModelProto``; the callers check the
result against ONNX Runtime runs of the members and write it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from emolens.errors import ModelError

INPUT = "input"
OUTPUT = "probs"


def _graph_inputs(graph: Any) -> list[Any]:
    """The graph's real inputs (older files also list their initializers as inputs)."""
    weights = {t.name for t in graph.initializer}
    return [i for i in graph.input if i.name not in weights]


def _check_member(i: int, proto: Any) -> None:
    graph = proto.graph
    inputs = _graph_inputs(graph)
    if [x.name for x in inputs] != [INPUT] or [y.name for y in graph.output] != [OUTPUT]:
        raise ModelError(
            f"member {i + 1} is not a one-input model with input {INPUT!r} and output {OUTPUT!r} "
            f"(inputs {[x.name for x in inputs]}, outputs {[y.name for y in graph.output]})"
        )
    for node in graph.node:
        if any(a.type in (a.GRAPH, a.GRAPHS) for a in node.attribute):
            raise ModelError(f"member {i + 1} has a node with a subgraph ({node.op_type}); such graphs are not merged")


def _opsets(protos: Sequence[Any]) -> dict[str, int]:
    """The operator sets the members import, which must agree where they overlap."""
    opsets: dict[str, int] = {}
    for i, proto in enumerate(protos):
        for op in proto.opset_import:
            domain = op.domain or ""
            if opsets.setdefault(domain, op.version) != op.version:
                raise ModelError(
                    f"member {i + 1} imports opset {op.version} of {domain or 'ai.onnx'!r}, "
                    f"another member {opsets[domain]}"
                )
    return opsets


def _renamed(proto: Any, prefix: str) -> tuple[list[Any], list[Any], list[Any]]:
    """The nodes, initializers and value infos of ``proto`` with every name but the input's prefixed."""
    import onnx

    graph = proto.graph

    def name(x: str) -> str:
        return x if x in ("", INPUT) else prefix + x

    nodes = []
    for node in graph.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.name = name(node.name) if node.name else ""
        copy.ClearField("input")
        copy.ClearField("output")
        copy.input.extend(name(x) for x in node.input)
        copy.output.extend(name(y) for y in node.output)
        nodes.append(copy)
    return nodes, _copies_renamed(graph.initializer, name), _copies_renamed(graph.value_info, name)


def _copies_renamed(items: Any, name: Callable[[str], str]) -> list[Any]:
    """Copies of named protobuf messages (tensors, value infos), each renamed by ``name``."""
    out = []
    for item in items:
        copy = type(item)()
        copy.CopyFrom(item)
        copy.name = name(item.name)
        out.append(copy)
    return out


def average_graphs(protos: Sequence[Any], weights: Sequence[float]) -> Any:
    """One model computing ``sum(w * member(input))`` over ``protos`` (each with input ``input`` and
    output ``probs`` of one element type and rank), the ``weights`` normalised to sum to 1. The
    result carries no metadata; the caller sets it."""
    import onnx
    from onnx import helper, numpy_helper

    if len(protos) < 2:
        raise ModelError(f"an ensemble needs two members or more, got {len(protos)}")
    if len(weights) != len(protos) or not all(w > 0 for w in weights):
        raise ModelError(f"one positive weight a member is needed, got {list(weights)} for {len(protos)} members")
    for i, proto in enumerate(protos):
        _check_member(i, proto)
    first_in = _graph_inputs(protos[0].graph)[0].type.tensor_type
    first_out = protos[0].graph.output[0].type.tensor_type
    for i, proto in enumerate(protos[1:], start=2):
        t_in = _graph_inputs(proto.graph)[0].type.tensor_type
        t_out = proto.graph.output[0].type.tensor_type
        if (t_in.elem_type, len(t_in.shape.dim)) != (first_in.elem_type, len(first_in.shape.dim)) or (
            t_out.elem_type,
            len(t_out.shape.dim),
        ) != (first_out.elem_type, len(first_out.shape.dim)):
            raise ModelError(f"member {i} takes or gives tensors of another type or rank than the first")
    opsets = _opsets(protos)
    share = np.asarray(weights, dtype=np.float64) / float(np.sum(weights))
    nodes: list[Any] = []
    initializers: list[Any] = []
    infos: list[Any] = []
    weighted: list[str] = []
    for i, proto in enumerate(protos):
        prefix = f"member{i}/"
        n, t, v = _renamed(proto, prefix)
        nodes += n
        initializers += t
        infos += v
        w_name = f"ensemble/weight{i}"
        initializers.append(numpy_helper.from_array(np.asarray(share[i], dtype=np.float32), w_name))
        nodes.append(
            helper.make_node("Mul", [prefix + OUTPUT, w_name], [f"ensemble/weighted{i}"], name=f"ensemble/Mul{i}")
        )
        weighted.append(f"ensemble/weighted{i}")
    nodes.append(helper.make_node("Sum", weighted, [OUTPUT], name="ensemble/Sum"))
    graph = helper.make_graph(
        nodes,
        "ensemble",
        [_graph_inputs(protos[0].graph)[0]],
        [protos[0].graph.output[0]],
        initializer=initializers,
        value_info=infos,
    )
    merged = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(domain, version) for domain, version in opsets.items()],
        producer_name="emolens",
    )
    merged.ir_version = max(p.ir_version for p in protos)
    onnx.checker.check_model(merged)
    return merged
