"""What a speech model file says about itself: labels and feature settings, in ONNX metadata.

Stored under the same ``emolens.*`` keys as a face model's (:mod:`emolens.runtime.metadata`), with
``emolens.kind = speech`` and the whole feature chain as one JSON object in ``emolens.audio``
(like timm's ``pretrained_cfg``): the rate, window, hop, mel bands, loudness and normalisation
the network was trained with travel with its weights, so no caller can feed it other features.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from emolens.audio.features import FeatureConfig
from emolens.errors import ModelError
from emolens.runtime.metadata import PREFIX, SPEECH_TTA_MODES

KIND = "speech"


@dataclass(frozen=True)
class VoiceModelMeta:
    """Stored in the ONNX ``metadata_props`` of a speech model."""

    name: str
    version: str
    arch: str
    labels: tuple[str, ...]
    features: FeatureConfig
    precision: str = "fp32"
    """``fp32``, or ``int8-dynamic`` for a copy with int8 weights."""
    params: int = 0
    min_seconds: float = 0.5
    """Shorter input is padded with silence to this length (the network needs a few frames)."""
    train_seconds: float = 3.0
    """Length of the crops it was trained on (windows of about this length suit it best)."""
    temperature: float = 1.0
    tta: str = "none"
    """The test-time augmentation the file asks for (:data:`SPEECH_TTA_MODES`)."""
    partner: str = ""
    """A speaker-profile model (``feature_norm="speaker"``) that this one is averaged with, half each,
    whenever a speaker profile is given: a bundled name, or a file name beside this file; ``""`` none
    (:class:`~emolens.audio.recognizer.VoiceRecognizer`)."""

    def to_props(self) -> dict[str, str]:
        return {
            PREFIX + "kind": KIND,
            PREFIX + "name": self.name,
            PREFIX + "version": self.version,
            PREFIX + "arch": self.arch,
            PREFIX + "labels": json.dumps(list(self.labels)),
            PREFIX + "audio": self.features.to_json(),
            PREFIX + "precision": self.precision,
            PREFIX + "params": str(self.params),
            PREFIX + "min_seconds": repr(self.min_seconds),
            PREFIX + "train_seconds": repr(self.train_seconds),
            PREFIX + "temperature": repr(self.temperature),
            PREFIX + "tta": self.tta,
        } | ({PREFIX + "partner": self.partner} if self.partner else {})

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["labels"] = list(self.labels)
        return d

    @classmethod
    def from_props(cls, props: dict[str, str], source: str) -> VoiceModelMeta:
        kind = props.get(PREFIX + "kind")
        if kind != KIND:
            what = "a face model" if PREFIX + "input_size" in props else "not an emolens model"
            raise ModelError(f"{source} is not a speech model ({what}); give a model made by 'emolens train' on speech")
        try:
            labels = json.loads(props[PREFIX + "labels"])
            if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
                raise ValueError(f"labels {props[PREFIX + 'labels']!r}")
            meta = cls(
                name=props[PREFIX + "name"],
                version=props[PREFIX + "version"],
                arch=props[PREFIX + "arch"],
                labels=tuple(labels),
                features=FeatureConfig.from_json(props[PREFIX + "audio"]),
                precision=props.get(PREFIX + "precision", "fp32"),
                params=int(props.get(PREFIX + "params", "0")),
                min_seconds=float(props.get(PREFIX + "min_seconds", "0.5")),
                train_seconds=float(props.get(PREFIX + "train_seconds", "3.0")),
                temperature=float(props.get(PREFIX + "temperature", "1.0")),
                tta=props.get(PREFIX + "tta", "none"),
                partner=props.get(PREFIX + "partner", ""),
            )
        except (KeyError, ValueError, TypeError, ModelError) as e:
            raise ModelError(f"{source} is not a usable speech model: its metadata lacks or garbles {e}") from None
        if meta.partner and (meta.partner in {".", ".."} or any(c in meta.partner for c in "/\\\0")):
            raise ModelError(f"{source} is not a usable speech model: its partner {meta.partner!r} is not a file name")
        if not meta.temperature > 0 or not 0 < meta.min_seconds <= 60 or meta.tta not in SPEECH_TTA_MODES:
            raise ModelError(
                f"{source} is not a usable speech model: temperature {meta.temperature}, "
                f"min_seconds {meta.min_seconds}, tta {meta.tta!r}"
            )
        return meta
