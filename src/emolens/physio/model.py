"""The stress model in plain NumPy, and its JSON file.

A blend of two small models on the normalised inputs of :mod:`emolens.physio.normalise`: a
logistic regression and an ensemble of shallow gradient-boosted regression trees; their logits
are averaged (weights ``blend``), smoothed over successive windows (an exponential average with a
time constant of ``smooth_s`` seconds, causal) and passed through the logistic function to give
``p_stress``.
``threshold`` is the probability above which a window counts as stress (chosen on the training
subjects for the best balanced accuracy).

The JSON file (``format`` ``emolens-physio-stress/1``) holds everything needed to run it: the
input description (:class:`~emolens.physio.normalise.InputSpec`), the standardisation of the inputs
(``mean``, ``std``), the logistic weights and bias, the trees (arrays ``feature`` (-1 for a leaf),
``threshold``, ``left``, ``right``, ``value``: a sample goes left when its input is below the
threshold), the blend, the threshold, the :class:`~emolens.physio.features.PhysioOptions` it was
trained with, and a free ``meta`` object (data, protocol, figures).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import ModelError
from emolens.physio.features import PhysioOptions
from emolens.physio.normalise import InputSpec

__all__ = ["DEFAULT_MODEL", "FORMAT", "StressModel", "Tree", "load_model", "resolve_model"]

FORMAT = "emolens-physio-stress/1"
DEFAULT_MODEL = Path(__file__).resolve().parent / "weights" / "emolens-physio-stress.json"
"""The shipped model."""


@dataclass(frozen=True)
class Tree:
    """One regression tree as parallel arrays (see the module)."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The leaf value reached by each row of ``x``."""
        node = np.zeros(len(x), dtype=np.int64)
        rows = np.arange(len(x))
        for _ in range(len(self.feature)):
            f = self.feature[node]
            inner = f >= 0
            if not inner.any():
                break
            fi = np.where(inner, f, 0)
            go_left = x[rows, fi] < self.threshold[node]
            node = np.where(inner, np.where(go_left, self.left[node], self.right[node]), node)
        out: np.ndarray = self.value[node]
        return out

    def as_dict(self) -> dict[str, list[Any]]:
        return {
            "feature": self.feature.tolist(),
            "threshold": [round(float(v), 6) for v in self.threshold],
            "left": self.left.tolist(),
            "right": self.right.tolist(),
            "value": [round(float(v), 6) for v in self.value],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Sequence[float]], n_inputs: int) -> Tree:
        t = cls(
            np.asarray(d["feature"], dtype=np.int64),
            np.asarray(d["threshold"], dtype=np.float64),
            np.asarray(d["left"], dtype=np.int64),
            np.asarray(d["right"], dtype=np.int64),
            np.asarray(d["value"], dtype=np.float64),
        )
        n = len(t.feature)
        if not (n and len(t.threshold) == len(t.left) == len(t.right) == len(t.value) == n):
            raise ModelError("a tree's arrays must be non-empty and of equal length")
        inner = t.feature >= 0
        if np.any(t.feature[inner] >= n_inputs) or np.any(t.left[inner] >= n) or np.any(t.right[inner] >= n):
            raise ModelError("a tree refers to an input or a node that does not exist")
        if np.any(t.left[inner] <= np.flatnonzero(inner)) or np.any(t.right[inner] <= np.flatnonzero(inner)):
            raise ModelError("a tree's children must come after their parent")
        return t


@dataclass(frozen=True)
class StressModel:
    """The stress model (see the module)."""

    spec: InputSpec
    mean: np.ndarray
    std: np.ndarray
    weights: np.ndarray
    bias: float
    trees: tuple[Tree, ...] = ()
    tree_base: float = 0.0
    tree_rate: float = 0.1
    blend: tuple[float, float] = (0.5, 0.5)
    threshold: float = 0.5
    clip: float = 6.0
    smooth_s: float = 0.0
    options: PhysioOptions = field(default_factory=PhysioOptions)
    meta: dict[str, Any] = field(default_factory=dict)
    name: str = "emolens-physio-stress"

    def standardise(self, inputs: np.ndarray) -> np.ndarray:
        x = (np.asarray(inputs, dtype=np.float64) - self.mean) / self.std
        out: np.ndarray = np.clip(x, -self.clip, self.clip)
        return out

    def logit(self, inputs: np.ndarray) -> np.ndarray:
        """The blended logit of each row of raw ``inputs`` (in ``spec.input_names`` order)."""
        x = self.standardise(np.atleast_2d(inputs))
        lr = x @ self.weights + self.bias
        if not self.trees:
            out: np.ndarray = lr
            return out
        gb = np.full(len(x), self.tree_base)
        for t in self.trees:
            gb += self.tree_rate * t.predict(x)
        w_lr, w_gb = self.blend
        blended: np.ndarray = w_lr * lr + w_gb * gb
        return blended

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """``p_stress`` of each row of ``inputs``, each on its own (no smoothing over time)."""
        return sigmoid(self.logit(inputs))

    def smooth(self, logits: np.ndarray, hop_s: float, state: float | None = None) -> np.ndarray:
        """Causal exponential smoothing of successive windows' logits, time constant ``smooth_s``
        seconds (none when 0); ``state``: the last smoothed logit of the windows before."""
        lg = np.asarray(logits, dtype=np.float64)
        if self.smooth_s <= 0 or len(lg) == 0:
            return lg.copy()
        a = 1.0 - math.exp(-hop_s / self.smooth_s)
        out = np.empty_like(lg)
        v = lg[0] if state is None else state
        for i, x in enumerate(lg.tolist()):
            v += a * (x - v)
            out[i] = v
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "name": self.name,
            "inputs": self.spec.input_names,
            "spec": self.spec.as_dict(),
            "mean": [round(float(v), 6) for v in self.mean],
            "std": [round(float(v), 6) for v in self.std],
            "logistic": {"weights": [round(float(v), 6) for v in self.weights], "bias": round(self.bias, 6)},
            "trees": {"base": self.tree_base, "rate": self.tree_rate, "trees": [t.as_dict() for t in self.trees]},
            "blend": list(self.blend),
            "threshold": self.threshold,
            "clip": self.clip,
            "smooth_s": self.smooth_s,
            "options": self.options.as_dict(),
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "<model>") -> StressModel:
        if not isinstance(d, Mapping) or d.get("format") != FORMAT:
            raise ModelError(f"{source}: not an emolens physio model (format {FORMAT!r} expected)")
        try:
            spec = InputSpec.from_dict(d["spec"])
            n = len(spec.input_names)
            mean = np.asarray(d["mean"], dtype=np.float64)
            std = np.asarray(d["std"], dtype=np.float64)
            weights = np.asarray(d["logistic"]["weights"], dtype=np.float64)
            if not (len(mean) == len(std) == len(weights) == n):
                raise ModelError(f"{source}: {n} inputs, but mean/std/weights of {len(mean)}/{len(std)}/{len(weights)}")
            if np.any(std <= 0) or not np.all(np.isfinite(np.concatenate((mean, std, weights)))):
                raise ModelError(f"{source}: the standardisation and weights must be finite, std positive")
            tr = d.get("trees") or {}
            trees = tuple(Tree.from_dict(t, n) for t in tr.get("trees", []))
            blend = tuple(float(v) for v in d.get("blend", (1.0, 0.0)))
            if len(blend) != 2:
                raise ModelError(f"{source}: blend must hold two weights")
            threshold = float(d.get("threshold", 0.5))
            if not 0 < threshold < 1:
                raise ModelError(f"{source}: threshold must be in (0, 1)")
            return cls(
                spec=spec,
                mean=mean,
                std=std,
                weights=weights,
                bias=float(d["logistic"]["bias"]),
                trees=trees,
                tree_base=float(tr.get("base", 0.0)),
                tree_rate=float(tr.get("rate", 0.1)),
                blend=(blend[0], blend[1]),
                threshold=threshold,
                clip=float(d.get("clip", 6.0)),
                smooth_s=float(d.get("smooth_s", 0.0)),
                options=PhysioOptions.from_dict(d.get("options", {})),
                meta=dict(d.get("meta", {})),
                name=str(d.get("name", "emolens-physio-stress")),
            )
        except ModelError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ModelError(f"{source}: malformed model file: {e!r}") from None

    def save(self, path: str | Path) -> None:
        """Write the model as JSON through an atomic file."""
        from emolens.io import write_json

        write_json(path, self.as_dict())


def resolve_model(model: str | Path | None) -> Path:
    """The model file for ``model``: None or the shipped name give the shipped file."""
    if model is None or str(model) in ("", "emolens-physio-stress"):
        return DEFAULT_MODEL
    return Path(model)


def load_model(model: str | Path | None = None) -> StressModel:
    """Read a model file (default: the shipped one)."""
    path = resolve_model(model)
    if not path.is_file():
        raise ModelError(f"{path}: no such physio model file")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: not a JSON model file: {e}") from None
    return StressModel.from_dict(d, str(path))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, safe for large magnitudes."""
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))
    return out
