"""Store in a model file how faces are framed for it: crop margin, squaring and interpolation.

Every consumer crops faces the way the model file says (:func:`emolens.analysis.crop_faces`), so
changing the framing of a model is a change of its file, made here and nowhere else.
"""

from __future__ import annotations

import logging
from pathlib import Path

from emolens.io import write_bytes_atomic
from emolens.runtime.metadata import PREFIX, Framing, set_props

log = logging.getLogger(__name__)


def write_framing(model: str | Path | None, out: str | Path, framing: Framing) -> Path:
    """Copy ``model`` (a bundled name or .onnx path) to ``out`` (may be the same file) with ``framing``."""
    import onnx

    from emolens.runtime.recognizer import Recognizer

    source = Recognizer(model).path  # resolves bundled names and checks it is an emolens model
    proto = onnx.load(str(source))
    props = {p.key: p.value for p in proto.metadata_props}
    props[PREFIX + "crop_margin"] = str(framing.crop_margin)
    props[PREFIX + "crop_square"] = str(framing.crop_square)
    props[PREFIX + "interpolation"] = framing.interpolation
    set_props(proto, props)
    out = Path(out)
    write_bytes_atomic(out, proto.SerializeToString())
    log.info("%s -> %s: %s", source, out, framing)
    return out
