"""A registry of CNN architectures by name, in the manner of timm's ``register_model``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emolens.errors import ModelError

if TYPE_CHECKING:
    from torch import nn

ARCH_MODULES = (
    "emolens.models.seed",
    "emolens.models.vgg",
    "emolens.models.resnet",
    "emolens.models.compact",
    "emolens.models.speech",
)


@dataclass(frozen=True)
class ModelConfig:
    """What a network expects as input; stored with the exported weights."""

    input_size: int = 48
    channels: int = 1
    mean: float = 0.5
    std: float = 0.25
    description: str = ""
    input_kind: str = "image"
    """``image``: a face of ``input_size`` pixels (the fields above apply); ``audio``: a log-mel
    spectrogram (1, n_mels, frames), set by :class:`emolens.audio.features.FeatureConfig`."""


@dataclass(frozen=True)
class _Entry:
    build: Callable[..., nn.Module]
    config: ModelConfig


_REGISTRY: dict[str, _Entry] = {}


def register_model(
    name: str, config: ModelConfig | None = None
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register ``fn(num_classes, **kwargs) -> nn.Module`` under ``name``."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = _Entry(fn, config or ModelConfig(description=(fn.__doc__ or "").strip().split("\n")[0]))
        return fn

    return deco


def _load_all() -> None:
    for mod in ARCH_MODULES:
        importlib.import_module(mod)


def list_models() -> list[str]:
    """Names of all registered architectures, sorted."""
    _load_all()
    return sorted(_REGISTRY)


def _entry(name: str) -> _Entry:
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ModelError(f"unknown architecture {name!r}; available: {', '.join(sorted(_REGISTRY))}") from None


def model_config(name: str) -> ModelConfig:
    """The input settings of architecture ``name``."""
    return _entry(name).config


def create_model(name: str, num_classes: int = 7, **kwargs: Any) -> nn.Module:
    """Build a freshly initialised network of architecture ``name``."""
    return _entry(name).build(num_classes=num_classes, **kwargs)
