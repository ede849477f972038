"""The per-person normalisation that makes window features comparable between people.

People differ far more from each other than one person does between rest and stress (skin
conductance levels alone span two orders of magnitude), so the model never sees a raw level.
:class:`PersonNormaliser` turns each window's features into, per feature:

``<name>:z``     the window's value against everything this person's windows showed so far in the
                 session, starting with the baseline (a running mean and variance, weighted by
                 seconds; the variance starts from a typical within-person variance worth
                 ``prior_s`` seconds, so the first minutes do not give extreme values);
``<name>:d<H>``  the change against a running mean with a half-life of ``H`` seconds (how much
                 the feature moved in the last minute or minutes), in units of the typical
                 within-person spread.

It is causal (a window depends only on earlier windows) and updated one window at a time, so it
works the same on a recorded file and live. The first ``baseline_s`` of a session (the baseline)
fill it before any output; a stored :class:`~emolens.physio.features.Baseline` profile of an
earlier session can fill it instead. Features a window cannot trust (missing channel, motion, see
:mod:`emolens.physio.quality`) enter as unknown: inputs 0 (the usual level), state unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emolens.errors import ModelError
from emolens.physio.features import Baseline

__all__ = ["InputSpec", "PersonNormaliser"]


@dataclass(frozen=True)
class InputSpec:
    """How window features become model inputs (stored in the model file).

    ``features``: the window features used, in order; ``log_offset``: features taken as
    ``log(max(x, 0) + offset)`` first (skewed ones); ``prior_var``: each (transformed) feature's
    typical within-person variance; ``prior_s``: its weight in seconds; ``half_lives``: the
    half-lives (s) of the change inputs.
    """

    features: tuple[str, ...]
    log_offset: dict[str, float] = field(default_factory=dict)
    prior_var: dict[str, float] = field(default_factory=dict)
    prior_s: float = 60.0
    half_lives: tuple[float, ...] = (60.0, 180.0)

    @property
    def input_names(self) -> list[str]:
        return [f"{f}:{k}" for f in self.features for k in ("z", *(f"d{h:g}" for h in self.half_lives))]

    def transform(self, x: np.ndarray) -> np.ndarray:
        """The features ``x`` (last axis in :attr:`features` order) with the log transforms applied."""
        out = np.array(x, dtype=np.float64, copy=True)
        for j, name in enumerate(self.features):
            off = self.log_offset.get(name)
            if off is not None:
                with np.errstate(invalid="ignore"):
                    out[..., j] = np.log(np.maximum(out[..., j], 0.0) + off)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "log_offset": dict(self.log_offset),
            "prior_var": dict(self.prior_var),
            "prior_s": self.prior_s,
            "half_lives": list(self.half_lives),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InputSpec:
        try:
            return cls(
                features=tuple(str(f) for f in d["features"]),
                log_offset={str(k): float(v) for k, v in d.get("log_offset", {}).items()},
                prior_var={str(k): float(v) for k, v in d["prior_var"].items()},
                prior_s=float(d.get("prior_s", 60.0)),
                half_lives=tuple(float(h) for h in d.get("half_lives", (60.0, 180.0))),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ModelError(f"the model's input description is malformed: {e}") from None


class PersonNormaliser:
    """The running per-person state of :class:`InputSpec` (see the module); ``hop_s``: the seconds
    between two windows (each window weighs that much in the running statistics)."""

    def __init__(self, spec: InputSpec, hop_s: float) -> None:
        self.spec = spec
        self.hop_s = float(hop_s)
        n = len(spec.features)
        self.v0 = np.array([spec.prior_var.get(f, 1.0) for f in spec.features], dtype=np.float64)
        self.v0 = np.where(self.v0 > 0, self.v0, 1.0)
        self.weight = np.zeros(n)
        self.mean = np.zeros(n)
        self.m2 = np.zeros(n)  # weighted sum of squared deviations (Welford)
        self.ew = np.full((len(spec.half_lives), n), np.nan)
        self.alpha = np.array([1.0 - 0.5 ** (self.hop_s / h) for h in spec.half_lives])

    @property
    def seconds(self) -> float:
        """The least seconds of history over the features seen so far (0 before any window)."""
        seen = self.weight[self.weight > 0]
        return float(seen.min()) if len(seen) else 0.0

    def update(self, x: np.ndarray, known: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Take one window's raw features ``x`` (in :attr:`InputSpec.features` order; NaN or
        ``known`` False = unknown) and return its model inputs (in :attr:`InputSpec.input_names`
        order) and the per-feature ``z`` values (NaN where unknown)."""
        x = self.spec.transform(np.asarray(x, dtype=np.float64))
        ok = ~np.isnan(x)
        if known is not None:
            ok &= known
        xv = np.where(ok, x, 0.0)
        # running mean and variance, weighted by seconds, the current window included
        w = self.hop_s
        new_weight = self.weight + np.where(ok, w, 0.0)
        delta = xv - self.mean
        with np.errstate(invalid="ignore", divide="ignore"):
            step = np.where(ok, delta * w / np.where(new_weight > 0, new_weight, 1.0), 0.0)
        self.mean = self.mean + step
        self.m2 = self.m2 + np.where(ok, w * delta * (xv - self.mean), 0.0)
        self.weight = new_weight
        var = np.where(self.weight > 0, self.m2 / np.where(self.weight > 0, self.weight, 1.0), 0.0)
        p = self.spec.prior_s
        shrunk = (p * self.v0 + self.weight * var) / (p + self.weight)
        z = np.where(ok, (xv - self.mean) / np.sqrt(np.maximum(shrunk, 1e-12)), np.nan)
        devs = []
        for k in range(len(self.alpha)):
            m = self.ew[k]
            first = ok & np.isnan(m)
            m = np.where(first, xv, m)
            d = np.where(ok, (xv - m) / np.sqrt(self.v0), 0.0)
            self.ew[k] = np.where(ok, m + self.alpha[k] * (xv - m), m)
            devs.append(d)
        inputs = np.stack([np.nan_to_num(z, nan=0.0), *devs], axis=1).reshape(-1)
        return inputs, z

    def profile(self) -> Baseline:
        """The state's running mean and standard deviation by feature (transformed units), to
        store and start a later session of the same person with (:meth:`from_profile`)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            std = np.where(self.weight > 0, np.sqrt(self.m2 / np.where(self.weight > 0, self.weight, 1.0)), np.nan)
        mean = np.where(self.weight > 0, self.mean, np.nan)
        return Baseline(
            {f: float(v) for f, v in zip(self.spec.features, mean, strict=True)},
            {f: float(v) for f, v in zip(self.spec.features, std, strict=True)},
            windows=round(self.seconds / self.hop_s) if self.hop_s > 0 else 0,
            seconds=self.seconds,
        )

    @classmethod
    def from_profile(cls, spec: InputSpec, hop_s: float, profile: Baseline) -> PersonNormaliser:
        """A normaliser that starts from a stored profile (worth ``profile.seconds`` of history)."""
        norm = cls(spec, hop_s)
        secs = profile.seconds if profile.seconds > 0 else 180.0
        for j, f in enumerate(spec.features):
            m = profile.mean.get(f, math.nan)
            s = profile.std.get(f, math.nan)
            if math.isnan(m):
                continue
            norm.mean[j] = m
            norm.weight[j] = secs
            norm.m2[j] = secs * (s * s if not math.isnan(s) else norm.v0[j])
            norm.ew[:, j] = m
        return norm
