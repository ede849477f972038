"""Static int8 quantization of an emolens ONNX model, calibrated on real faces.

Int8 weights and activations (QDQ format, per-channel weights) make the model about four
times smaller and faster on CPUs with int8 dot-product instructions (x86 VNNI, Arm dot
product, as on a Raspberry Pi 5). The preprocessing metadata is carried over, and the file
records its int8 scheme (``emolens.precision``).

The scheme matters for portability (:mod:`emolens.export.schemes`). ONNX Runtime's u8s8 kernels
on x86 CPUs without VNNI (AVX2 only: AMD CPUs before Zen 4, older Intel) multiply with an
instruction whose 16-bit intermediate sums saturate, so a model quantized with full 8-bit weights
loses accuracy there and only there. The default, ``u8s8-rr``, keeps weights to 7 bits
("reduce_range"), which cannot saturate; ``u8u8`` avoids the instruction but is slow on AVX2.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from emolens.errors import ModelError
from emolens.export.halfweights import widen_proto
from emolens.export.schemes import DEFAULT_SCHEME, scheme
from emolens.io import AtomicFile
from emolens.runtime.metadata import set_props

log = logging.getLogger(__name__)


def quantize_model(
    model: str | Path,
    out: str | Path,
    calibration_faces: np.ndarray,
    *,
    name: str | None = None,
    version_suffix: str = "-int8",
    int8: str = DEFAULT_SCHEME,
) -> Path:
    """Write an int8 copy of ``model`` to ``out``, calibrated on uint8 faces (N, H, W).

    The copy is named ``name`` (default: the file name of ``out`` without its suffix) and uses the
    int8 scheme ``int8`` (one of :data:`~emolens.export.schemes.SCHEMES`).
    """
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from emolens.runtime.recognizer import Recognizer

    sch = scheme(int8)
    rec = Recognizer(model, tta="none")
    if rec.meta.precision != "fp32":
        raise ModelError(f"{rec.path} is already quantized ({rec.meta.precision}); quantize its float32 model")
    if len(calibration_faces) == 0:
        raise ModelError("quantization needs calibration faces")
    x = rec.prepare(calibration_faces)

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._batches = iter([{rec._input: x[i : i + 32]} for i in range(0, len(x), 32)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._batches, None)

    qtype = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with AtomicFile(out) as atomic, tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as work:
        tmp, pre = str(atomic.path), os.path.join(work, "pre.onnx")
        source = onnx.load(str(rec.path))
        if widen_proto(source):  # weights stored in float16 (emolens.export.halfweights): quantize their float32 values
            wide = os.path.join(work, "wide.onnx")
            onnx.save(source, wide)
            quant_pre_process(wide, pre)
        else:
            quant_pre_process(str(rec.path), pre)
        quantize_static(
            pre,
            tmp,
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=sch.reduce_range,
            activation_type=qtype[sch.activation],
            weight_type=qtype[sch.weight],
        )
        proto = onnx.load(tmp)
        meta = replace(
            rec.meta, name=name or out.stem, version=rec.meta.version + version_suffix, precision=f"int8-{sch.name}"
        )
        set_props(proto, meta.to_props())
        onnx.save(proto, tmp)
    log.info("quantized %s -> %s (int8 %s)", rec.path, out, sch.name)
    return out
