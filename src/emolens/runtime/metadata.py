"""What a model file says about itself: label order and preprocessing, in ONNX metadata."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

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
    precision: str = "fp32"
    """``fp32``, or ``int8-<scheme>`` for a quantized copy (see :mod:`emolens.export.quantize`)."""
    params: int = 0
    """Number of trained parameters (0: not recorded)."""
    temperature: tuple[tuple[str, float], ...] = ()
    """Fitted temperature per test-time augmentation mode (``emolens calibrate``); none: 1."""

    def temperature_for(self, tta: str) -> float:
        """The temperature that calibrates this model's probabilities under ``tta`` (1: uncalibrated)."""
        return dict(self.temperature).get(tta, 1.0)

    def to_props(self) -> dict[str, str]:
        d = asdict(self)
        d["labels"] = json.dumps(list(self.labels))
        d["temperature"] = json.dumps(dict(self.temperature))
        if not self.temperature:
            del d["temperature"]
        return {PREFIX + k: str(v) for k, v in d.items()}

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["labels"] = list(self.labels)
        d["temperature"] = dict(self.temperature)
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
                precision=_precision(props),
                params=int(props.get(PREFIX + "params", "0")),
                temperature=_temperature(props),
            )
        except (KeyError, ValueError, TypeError) as e:
            raise ModelError(f"{source} is not an emolens model: its metadata lacks or garbles {e}") from None


def _temperature(props: dict[str, str]) -> tuple[tuple[str, float], ...]:
    raw = props.get(PREFIX + "temperature")
    if raw is None:
        return ()
    table = json.loads(raw)
    if not isinstance(table, dict) or not all(k in TTA_MODES and float(v) > 0 for k, v in table.items()):
        raise ValueError(f"temperature {raw!r}")
    return tuple((k, float(v)) for k, v in sorted(table.items()))


def _precision(props: dict[str, str]) -> str:
    """The stored precision; older int8 files (before the key existed) say so in their version."""
    stored = props.get(PREFIX + "precision")
    if stored is not None:
        if stored != "fp32" and not stored.startswith("int8-"):
            raise ValueError(f"precision {stored!r}")
        return stored
    return "int8-u8s8" if props.get(PREFIX + "version", "").endswith("-int8") else "fp32"


def read_precision(path: str | Path) -> str:
    """The ``emolens.precision`` of an ONNX model file, read with ONNX Runtime."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return _precision(dict(session.get_modelmeta().custom_metadata_map))


def set_props(proto: Any, props: dict[str, str]) -> None:
    """Replace the ``metadata_props`` of an ONNX ``ModelProto`` with ``props`` (no onnx import needed)."""
    del proto.metadata_props[:]
    for k, v in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
