"""Static int8 quantization of an emolens ONNX model, calibrated on real faces.

Int8 weights and activations (QDQ format, per-channel weights) make the model about four
times smaller and faster on CPUs with int8 dot-product instructions (x86 VNNI, Arm dot
product, as on a Raspberry Pi 5). The preprocessing metadata is carried over.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from emolens.errors import ModelError

log = logging.getLogger(__name__)


def quantize_model(
    model: str | Path,
    out: str | Path,
    calibration_faces: np.ndarray,
    *,
    name: str | None = None,
    version_suffix: str = "-int8",
) -> Path:
    """Write an int8 copy of ``model`` to ``out``, calibrated on uint8 faces (N, H, W).

    The copy is named ``name`` (default: the file name of ``out`` without its suffix).
    """
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from emolens.runtime.recognizer import Recognizer

    rec = Recognizer(model, tta="none")
    if len(calibration_faces) == 0:
        raise ModelError("quantization needs calibration faces")
    x = rec.prepare(calibration_faces)

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._batches = iter([{rec._input: x[i : i + 32]} for i in range(0, len(x), 32)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._batches, None)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    pre = tmp + ".pre.onnx"
    try:
        quant_pre_process(str(rec.path), pre)
        quantize_static(
            pre,
            tmp,
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        proto = onnx.load(tmp)
        del proto.metadata_props[:]
        for k, v in rec.meta.to_props().items():
            entry = proto.metadata_props.add()
            if k == "emolens.version":
                v += version_suffix
            elif k == "emolens.name":
                v = name or out.stem
            entry.key, entry.value = k, v
        onnx.save(proto, tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600 files
        os.replace(tmp, out)
    finally:
        for f in (tmp, pre):
            if os.path.exists(f):
                os.unlink(f)
    log.info("quantized %s -> %s", rec.path, out)
    return out
