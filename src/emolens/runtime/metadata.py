"""What a model file says about itself: label order and preprocessing, in ONNX metadata."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from emolens.errors import ModelError

PREFIX = "emolens."
TTA_MODES = ("none", "hflip")


@dataclass(frozen=True)
class ModelMeta:
    """Stored in the ONNX ``metadata_props`` under ``emolens.*`` keys."""

    name: str
    version: str
    arch: str
    labels: tuple[str, ...]
    input_size: int
    channels: int
    mean: float
    std: float
    tta: str = "none"

    def to_props(self) -> dict[str, str]:
        d = asdict(self)
        d["labels"] = json.dumps(list(self.labels))
        return {PREFIX + k: str(v) for k, v in d.items()}

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["labels"] = list(self.labels)
        return d

    @classmethod
    def from_props(cls, props: dict[str, str], source: str) -> ModelMeta:
        try:
            tta = props.get(PREFIX + "tta", "none")
            if tta not in TTA_MODES:
                raise ValueError(f"tta {tta!r}")
            return cls(
                name=props[PREFIX + "name"],
                version=props[PREFIX + "version"],
                arch=props[PREFIX + "arch"],
                labels=tuple(json.loads(props[PREFIX + "labels"])),
                input_size=int(props[PREFIX + "input_size"]),
                channels=int(props[PREFIX + "channels"]),
                mean=float(props[PREFIX + "mean"]),
                std=float(props[PREFIX + "std"]),
                tta=tta,
            )
        except (KeyError, ValueError) as e:
            raise ModelError(f"{source} is not an emolens model: its metadata lacks or garbles {e}") from None
