"""Float32 models with their weights stored in float16: half the file, the same computation.

An ensemble of four networks is 28 MB in float32, more than a file of the package may weigh
(25 MB). :func:`halve_weights` stores each large float32 weight tensor as float16, followed by a
``Cast`` back to float32. ONNX Runtime folds those casts into constants when it opens the model
(its constant folding is on at every optimization level but "disabled"), so the model then
computes in float32 exactly as before, with weights rounded to float16's 11 significant bits: its
probabilities move by about 1e-5. :func:`widen_weights` undoes the storage (the weights stay
rounded), for the tools that read a model's weights: ``emolens quantize`` and ``emolens export``
(ensemble members) and ``emolens train --init``.

The file says so in its metadata (``emolens.weights = float16``); its precision stays ``fp32``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import ModelError
from emolens.io import AtomicFile
from emolens.runtime.metadata import PREFIX, set_props

log = logging.getLogger(__name__)

MIN_ELEMENTS = 1024
"""Tensors smaller than this (biases, scales) stay float32: they weigh nothing and halving them saves nothing."""
MAX_DIFF = 1e-3
"""The largest change of any probability :func:`halve_weights` accepts (measured: about 3e-5)."""
_SUFFIX = ".f16"


def halve_proto(proto: Any) -> int:
    """Store the float32 initializers of ``proto`` (an ONNX ModelProto) with at least
    :data:`MIN_ELEMENTS` elements as float16, each widened back by a ``Cast`` at the start of the
    graph. Returns how many tensors were halved; a model already halved is left as it is (0)."""
    from onnx import TensorProto, helper, numpy_helper

    kept, halved, casts = [], 0, []
    for init in proto.graph.initializer:
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) < MIN_ELEMENTS:
            kept.append(init)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + _SUFFIX)
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT, name=half.name))
        halved += 1
    if halved:
        nodes = list(proto.graph.node)
        del proto.graph.initializer[:], proto.graph.node[:]
        proto.graph.initializer.extend(kept)
        proto.graph.node.extend([*casts, *nodes])
    return halved


def widen_proto(proto: Any) -> int:
    """Undo :func:`halve_proto` in place: every ``Cast`` of a float16 initializer to float32 becomes
    a float32 initializer again. Returns how many; 0 for a model stored in float32."""
    from onnx import TensorProto, numpy_helper

    inits = {i.name: i for i in proto.graph.initializer}
    uses: dict[str, int] = {}
    for node in proto.graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    widened: dict[str, Any] = {}
    for node in proto.graph.node:
        if node.op_type != "Cast" or node.input[0] not in inits or uses[node.input[0]] != 1:
            continue  # a float16 tensor that something else reads too stays as it is
        to = next((a.i for a in node.attribute if a.name == "to"), None)
        source = inits[node.input[0]]
        if to == TensorProto.FLOAT and source.data_type == TensorProto.FLOAT16:
            widened[node.name or node.output[0]] = (node, source)
    if not widened:
        return 0
    dropped_inits = {source.name for _, source in widened.values()}
    dropped_nodes = {id(node) for node, _ in widened.values()}
    wide = [
        numpy_helper.from_array(numpy_helper.to_array(source).astype(np.float32), node.output[0])
        for node, source in widened.values()
    ]
    inits_left = [i for i in proto.graph.initializer if i.name not in dropped_inits]
    nodes_left = [n for n in proto.graph.node if id(n) not in dropped_nodes]
    del proto.graph.initializer[:], proto.graph.node[:]
    proto.graph.initializer.extend([*wide, *inits_left])
    proto.graph.node.extend(nodes_left)
    return len(wide)


def stored_weights(proto: Any) -> str:
    """``float16`` for a model whose weights :func:`halve_proto` stored in float16, else ``float32``."""
    props = {p.key: p.value for p in proto.metadata_props}
    return props.get(PREFIX + "weights", "float32")


def halve_weights(model: str | Path | None, out: str | Path, faces: np.ndarray) -> tuple[Path, float]:
    """Write ``model`` (a bundled name or .onnx path of a float32 emolens model) to ``out`` (may be
    the same file) with its weights stored in float16, and check it on ``faces`` (uint8, (N, H, W)):
    returns the file and the largest difference of any probability from the float32 model's
    (without test-time augmentation). Refuses int8 models, models already halved and a change
    over :data:`MAX_DIFF`, leaving ``out`` as it was."""
    import onnx

    from emolens.runtime.recognizer import Recognizer

    rec = Recognizer(model, tta="none", temperature=1.0)
    if rec.meta.precision != "fp32":
        raise ModelError(f"{rec.path} is {rec.meta.precision}; only a float32 model's weights can be stored in float16")
    if len(faces) == 0:
        raise ModelError("checking a model stored in float16 needs faces")
    proto = onnx.load(str(rec.path))
    if stored_weights(proto) == "float16":
        raise ModelError(f"{rec.path} already stores its weights in float16")
    before = rec.predict_faces(faces)
    if halve_proto(proto) == 0:
        raise ModelError(f"{rec.path} has no float32 weights to store in float16")
    props = {p.key: p.value for p in proto.metadata_props}
    props[PREFIX + "weights"] = "float16"
    set_props(proto, props)
    onnx.checker.check_model(proto)
    out = Path(out)
    with AtomicFile(out) as atomic:  # checked before it replaces anything
        atomic.path.write_bytes(proto.SerializeToString())
        after = Recognizer(atomic.path, tta="none", temperature=1.0).predict_faces(faces)
        diff = float(np.abs(after - before).max())
        if diff > MAX_DIFF:
            raise ModelError(
                f"{rec.path} changes by {diff:.1e} with float16 weights (more than {MAX_DIFF}); kept in float32"
            )
    log.info("%s -> %s: weights in float16, largest probability change %.1e", rec.path, out, diff)
    return out, diff
