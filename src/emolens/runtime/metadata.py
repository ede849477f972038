"""What a model file says about itself: label order and preprocessing, in ONNX metadata."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emolens.errors import ModelError

PREFIX = "emolens."
TTA_MODES = ("none", "hflip", "selective", "shift", "cascade")
"""Test-time augmentation: ``none`` (one pass), ``hflip`` (every face averaged with its mirror),
``selective`` (only the faces the first pass is unsure of, top probability below
:data:`SELECTIVE_FLIP_BELOW`, averaged with their mirror), ``shift`` (the mean of ten passes: the
face and four shifts of :data:`SHIFT_FRACTION` of its side, each as is and mirrored; for accuracy,
not speed) or ``cascade`` (selective flip, then the ten views of ``shift`` for the faces still below
:data:`CASCADE_SHIFT_BELOW` after it: most of ``shift``'s accuracy at about 1.6 passes a face)."""
SPEECH_TTA_MODES = ("none", "crops")
"""How a speech model judges an utterance (:meth:`~emolens.audio.recognizer.VoiceRecognizer.predict`):
``none``, whole, in one pass; ``crops``, the mean of the whole's judgement and of its crops' mean."""
SELECTIVE_FLIP_BELOW = 0.5
"""``selective`` mirrors a face when the network's own top probability (before calibration) is
below this: less than even odds. Chosen on FER-2013 PublicTest (``benchmarks/selective_tta.py``)."""
CASCADE_SHIFT_BELOW = 0.35
"""``cascade`` gives a mirrored face all ten views of ``shift`` when its averaged top probability (the
network's own) is still below this. Chosen on FER-2013 PublicTest (``benchmarks/cascade_tta.py``)."""
SHIFT_FRACTION = 2 / 48
"""``shift`` moves the face by this fraction of the input's side (2 pixels of 48) left, right, up and
down, the edge pixels repeated into the gap. Chosen on FER-2013 PublicTest (``benchmarks/face_views.py``)."""
INTERPOLATIONS = ("area", "linear", "cubic")
"""How faces are resized to a model's input: ``area`` (area averaging when shrinking, bilinear when
growing), ``linear`` or ``cubic``. A model file names the one it was made for."""


def check_tta(tta: str | None, *, speech: bool = False) -> None:
    """Refuse a test-time augmentation that a face model (``speech=False``) or a speech model does
    not have, with a :class:`~emolens.errors.ModelError` naming those it has (None: the model's own)."""
    modes, kind, other = (SPEECH_TTA_MODES, "speech", "face") if speech else (TTA_MODES, "face", "speech")
    if tta is not None and tta not in modes:
        hint = f" ({tta} is for {other} models)" if tta in (TTA_MODES if speech else SPEECH_TTA_MODES) else ""
        raise ModelError(f"unknown tta {tta!r} for a {kind} model{hint}; choose one of: {', '.join(modes)}")


@dataclass(frozen=True)
class Framing:
    """How a face is cut from an image for a model: the detector's box made square (``crop_square``),
    grown by ``crop_margin`` of its size on each side, resized with ``interpolation``."""

    crop_margin: float = field(
        default=0.0, metadata={"help": "grow the face box by this fraction of its size on each side", "metavar": "M"}
    )
    crop_square: bool = field(
        default=False, metadata={"help": "square the face box around its centre (--no-crop-square: keep its shape)"}
    )
    interpolation: str = field(
        default="area", metadata={"help": "how faces are resized to the input size", "choices": INTERPOLATIONS}
    )

    def __post_init__(self) -> None:
        if not 0.0 <= self.crop_margin <= 1.0:
            raise ModelError(f"crop margin must lie in [0, 1], got {self.crop_margin}")
        if self.interpolation not in INTERPOLATIONS:
            raise ModelError(
                f"unknown interpolation {self.interpolation!r}; choose one of: {', '.join(INTERPOLATIONS)}"
            )


DEFAULT_FRAMING = Framing(crop_margin=0.1, crop_square=True, interpolation="area")
"""FER-2013's framing: a face detector's box (Haar's or YuNet's) covers about 82% of a FER-2013 image's
side, so the crop that matches the training faces is the box squared and grown by about 10% on each
side (``python benchmarks/real_faces.py framing``; README, "Real faces"). Models trained here get it."""


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
    crop_margin: float = 0.0
    """How much a detector's face box is grown on each side, as a fraction of its size, before the
    face is resized to ``input_size`` (the framing the model was trained on)."""
    crop_square: bool = False
    """Whether the box is first made square around its centre (side: its longer one)."""
    interpolation: str = "area"
    """How faces are resized to ``input_size`` (see :data:`INTERPOLATIONS`)."""

    @property
    def framing(self) -> Framing:
        return Framing(self.crop_margin, self.crop_square, self.interpolation)

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
                crop_margin=_crop_margin(props),
                crop_square=_flag(props.get(PREFIX + "crop_square", "False"), "crop_square"),
                interpolation=_interpolation(props),
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


def _crop_margin(props: dict[str, str]) -> float:
    margin = float(props.get(PREFIX + "crop_margin", "0"))
    if not 0.0 <= margin <= 1.0:
        raise ValueError(f"crop_margin {margin}")
    return margin


def _flag(raw: str, key: str) -> bool:
    if raw not in ("True", "False"):
        raise ValueError(f"{key} {raw!r}")
    return raw == "True"


def _interpolation(props: dict[str, str]) -> str:
    value = props.get(PREFIX + "interpolation", "area")
    if value not in INTERPOLATIONS:
        raise ValueError(f"interpolation {value!r}")
    return value


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
