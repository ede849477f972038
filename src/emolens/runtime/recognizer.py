"""The Recognizer: cropped faces in, emotion probabilities out, with ONNX Runtime on the CPU.

It classifies faces and nothing else; finding them in an image is :mod:`emolens.analysis`'s job.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emolens.errors import ImageError, ModelError
from emolens.eval.calibration import apply_temperature
from emolens.models.bundled import alias_tta, resolve_model
from emolens.preprocess import faces_to_batch, normalize
from emolens.runtime.metadata import (
    CASCADE_SHIFT_BELOW,
    SELECTIVE_FLIP_BELOW,
    SHIFT_FRACTION,
    ModelMeta,
    check_tta,
)
from emolens.runtime.session import check_prepared, check_threads, open_session

log = logging.getLogger(__name__)

MAX_BATCH = 512
PASSES = {"hflip": 2, "shift": 10}
"""Passes a face costs under the modes that judge every face more than once."""


def unsure_rows(probs: np.ndarray, below: float = SELECTIVE_FLIP_BELOW) -> np.ndarray:
    """The rows that selective flip mirrors: those whose top probability is under ``below`` of the row's sum."""
    mask: np.ndarray = probs.max(axis=1) < below * probs.sum(axis=1)
    return mask


def shifted(x: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Images (..., H, W) moved right by ``dx`` and down by ``dy`` pixels (negative: left, up), the
    edge pixels repeated into the gap."""
    if dx == 0 and dy == 0:
        return x
    h, w = x.shape[-2:]
    if max(abs(dx), abs(dy)) >= min(h, w):
        raise ValueError(f"a shift of ({dx}, {dy}) pixels leaves nothing of a {w}x{h} image")
    p = max(abs(dx), abs(dy))
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(p, p), (p, p)], mode="edge")
    return padded[..., p - dy : p - dy + h, p - dx : p - dx + w]


def shift_views(x: np.ndarray, fraction: float = SHIFT_FRACTION) -> list[np.ndarray]:
    """The ten views that ``tta="shift"`` averages, for prepared input (N, C, S, S): the faces and
    their shifts by ``round(fraction * S)`` pixels (at least one) right, left, down and up, then
    the mirror image of each."""
    d = max(1, round(fraction * x.shape[-1]))
    views = [shifted(x, dx, dy) for dx, dy in ((0, 0), (d, 0), (-d, 0), (0, d), (0, -d))]
    return views + [v[..., ::-1] for v in views]


class Recognizer:
    """Classify the emotion of cropped faces with an emolens ONNX model.

    ``model`` is a bundled model name (see :func:`emolens.available_models`; a family name such
    as ``emolens-vgg-fer2013`` loads its int8 or float32 variant, whichever is faster on this CPU),
    a path to an ``.onnx`` file, or None for the default model; the short name ``"fast"`` runs the
    default model with a cascade of views, and ``"accurate"`` four networks averaged (the default's, a
    second seed's and two by way of FER+: ``emolens-vgg4-fer2013``) with ten views a face. ``tta``
    overrides the model's stored (or its short name's) test-time augmentation (``"none"``, ``"hflip"``, ``"selective"``, ``"shift"`` or ``"cascade"``: see :data:`~emolens.runtime.metadata.TTA_MODES`). ``threads`` caps ONNX Runtime's
    intra-op threads (None or 0: one per core; a negative number is a ModelError). ``temperature`` overrides the calibration stored in the
    model (None: the model's, fitted by ``emolens calibrate``; 1: the network's raw probabilities).
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        threads: int | None = None,
        tta: str | None = None,
        temperature: float | None = None,
    ) -> None:
        threads = check_threads(threads)
        self.path = resolve_model(model)
        self.threads = threads
        self._session = open_session(self.path, threads)
        props = dict(self._session.get_modelmeta().custom_metadata_map)
        self.meta = ModelMeta.from_props(props, str(self.path))
        check_tta(tta)
        self.tta = tta if tta is not None else alias_tta(model) or self.meta.tta
        if temperature is not None and not (
            isinstance(temperature, numbers.Real) and not isinstance(temperature, bool) and 0 < temperature < np.inf
        ):
            raise ModelError(f"temperature must be a positive number, not {temperature!r}")
        self.temperature = temperature if temperature is not None else self.meta.temperature_for(self.tta)
        self._input = self._session.get_inputs()[0].name

    @property
    def labels(self) -> tuple[str, ...]:
        """The label order of the columns returned by :meth:`predict_faces`."""
        return self.meta.labels

    def prepare(self, faces: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Faces (any size, gray or BGR, uint8) -> the model's normalised input (N, 1, S, S).

        Faces are resized with the model's interpolation; crop them with its framing first
        (``meta.crop_margin``, ``meta.crop_square``: :func:`emolens.analysis.crop_faces` does).
        """
        batch = faces_to_batch(faces, self.meta.input_size, self.meta.interpolation)
        return normalize(batch, self.meta.mean, self.meta.std)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Run the network on prepared input, without test-time augmentation."""
        size = self.meta.input_size
        whole = "predict_faces() takes faces as they are"
        x = check_prepared(x, (1, size, size), ImageError, source="face", whole=whole)
        out: np.ndarray = self._session.run(None, {self._input: x})[0]
        return out.astype(np.float32, copy=False)

    def predict_faces(self, faces: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Probabilities float32 (N, len(labels)) for cropped faces; rows sum to 1.

        ``faces``: a list of faces (each gray (H, W) or BGR (H, W, 3)), or an array (N, H, W, 3)
        BGR or (N, H, W) gray. One face alone is ``[face]`` or ``face[None]``: a 3-D array whose
        last axis is 1, 3 or 4 long is refused with an ImageError, as it could be one BGR face or
        N gray faces (see :func:`~emolens.preprocess.faces_to_batch`)."""
        return self.classify(self.prepare(faces))

    def classify(self, x: np.ndarray) -> np.ndarray:
        """Probabilities float32 (N, len(labels)) for input made by :meth:`prepare`, with the model's
        test-time augmentation and calibration, in batches of at most ``MAX_BATCH``; rows sum to 1."""
        if len(x) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        out = np.empty((len(x), len(self.labels)), dtype=np.float32)
        step = MAX_BATCH // PASSES.get(self.tta, 1)
        for s in range(0, len(x), step):
            xb = x[s : s + step]
            if self.tta == "shift":
                p = self.run(np.concatenate(shift_views(xb)))
                out[s : s + len(xb)] = p.reshape(-1, len(xb), p.shape[1]).mean(axis=0)
            elif self.tta == "hflip":
                p = self.run(np.concatenate([xb, xb[..., ::-1]]))
                out[s : s + len(xb)] = (p[: len(xb)] + p[len(xb) :]) * 0.5
            elif self.tta in ("selective", "cascade"):
                p = self.run(xb)
                unsure = np.flatnonzero(unsure_rows(p))
                if len(unsure):
                    p[unsure] = (p[unsure] + self.run(np.ascontiguousarray(xb[unsure][..., ::-1]))) * 0.5
                if self.tta == "cascade" and len(unsure):
                    still = unsure[unsure_rows(p[unsure], CASCADE_SHIFT_BELOW)]
                    self._add_shifts(xb, p, still)
                out[s : s + len(xb)] = p
            else:
                out[s : s + len(xb)] = self.run(xb)
        out /= out.sum(axis=1, keepdims=True)
        return apply_temperature(out, self.temperature)

    def _add_shifts(self, x: np.ndarray, p: np.ndarray, rows: np.ndarray) -> None:
        """``cascade``'s second stage, in place: ``p[rows]`` (the mean of a face and its mirror)
        becomes the mean of all ten ``shift`` views of ``x[rows]``."""
        step = MAX_BATCH // (PASSES["shift"] - 2)
        for s in range(0, len(rows), step):
            r = rows[s : s + step]
            views = shift_views(x[r])
            rest = self.run(np.concatenate([v for i, v in enumerate(views) if i not in (0, 5)]))
            p[r] = (2 * p[r] + rest.reshape(-1, len(r), rest.shape[1]).sum(axis=0)) / len(views)
