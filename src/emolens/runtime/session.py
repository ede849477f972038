"""ONNX Runtime sessions on the CPU, set up the same way for every emolens model (faces and speech)."""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import TYPE_CHECKING

from emolens.errors import EmolensError, ModelError

if TYPE_CHECKING:
    import numpy as np
    import onnxruntime as ort


MAX_THREADS = 1024
"""More intra-op threads than this is a mistake (ONNX Runtime would try to start them all)."""


def check_threads(threads: int | None) -> int | None:
    """``threads`` (a cap on ONNX Runtime's intra-op threads) as an ``int``, None kept; a
    ModelError unless it is a whole number, 0 or more."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or not 0 <= threads <= MAX_THREADS:
        raise ModelError(
            f"threads must be a whole number from 1 to {MAX_THREADS} (0 or None: one per core), not {threads!r}"
        )
    return int(threads)


def check_prepared(
    x: object, axes: tuple[int | str, ...], error: type[EmolensError], *, source: str, whole: str
) -> np.ndarray:
    """``x`` if it is what a model's ``run()`` takes: a finite float32 array (N, *axes), where a
    named axis (``"frames"``) may have any size; else ``error`` with one line naming ``prepare()``,
    which makes such input from any ``source`` ("face", "waveform"), and ``whole``, the method that
    takes them as they are."""
    import numpy as np

    if (
        not isinstance(x, np.ndarray)
        or x.dtype != np.float32
        or x.ndim != 1 + len(axes)
        or any(isinstance(want, int) and got != want for want, got in zip(axes, x.shape[1:], strict=True))
    ):
        what = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        shape = ", ".join(map(str, ("N", *axes)))
        raise error(f"run() takes the float32 ({shape}) input of prepare(), got {what}; {whole}")
    if not np.isfinite(x).all():
        raise error(f"run() input holds NaN or infinity; prepare() makes finite input from any {source}")
    return x


def open_session(path: Path, threads: int | None) -> ort.InferenceSession:
    """An ONNX Runtime session on the CPU for the model file at ``path``: all graph optimisations,
    one inter-op thread, ``threads`` intra-op threads (None or 0: one per core), worker threads that
    sleep between runs, only errors logged. A ModelError when the file cannot be loaded."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.inter_op_num_threads = 1
    # ORT's worker threads otherwise spin-wait after each run; on a 2-core machine that takes
    # the CPU from OpenCV's decoding and face detection between calls (about 150 -> 215 frames/s
    # on the video pipeline, `emolens bench video`).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT raises its own exception types for unreadable files
        reason = str(e).splitlines()[0]
        if "INVALID_PROTOBUF" in reason:  # ORT's words for a file that is no ONNX model at all
            reason = "not an ONNX model (a corrupt or truncated one, or another kind of file)"
        raise ModelError(f"cannot load model {path}: {reason}") from None
