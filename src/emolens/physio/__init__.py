"""Physiological signals from a wristband (Empatica E4 or alike): stress and arousal per window.

    from emolens.physio import PhysioRecognizer
    readings = PhysioRecognizer().predict("raw/S21")        # an E4 export folder or a CSV

Modules, one job each: :mod:`~emolens.physio.readers` (E4 folders, CSV of samples),
:mod:`~emolens.physio.signal` (NumPy filters), :mod:`~emolens.physio.features` (beats, HRV, EDA,
temperature, movement, windows), :mod:`~emolens.physio.quality` (flags),
:mod:`~emolens.physio.normalise` (per-person running baseline), :mod:`~emolens.physio.model` (the
NumPy model and its JSON file), :mod:`~emolens.physio.pipeline`, :mod:`~emolens.physio.recognizer`
(files and live streams), :mod:`~emolens.physio.mqtt` (live samples over MQTT),
:mod:`~emolens.physio.cli` (``emolens physio``), :mod:`~emolens.physio.train` (training helpers).
Run time needs NumPy only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emolens.physio.features import Baseline, PhysioOptions
    from emolens.physio.mqtt import Samples, decode_samples, encode_samples, replay_e4, topic_for
    from emolens.physio.readers import Recording, Signal, read_csv, read_e4, read_recording
    from emolens.physio.recognizer import PhysioReading, PhysioRecognizer, PhysioStream

__all__ = [
    "Baseline",
    "PhysioOptions",
    "PhysioReading",
    "PhysioRecognizer",
    "PhysioStream",
    "Recording",
    "Samples",
    "Signal",
    "decode_samples",
    "encode_samples",
    "read_csv",
    "read_e4",
    "read_recording",
    "replay_e4",
    "topic_for",
]

_LAZY = {
    "Baseline": "emolens.physio.features",
    "PhysioOptions": "emolens.physio.features",
    "PhysioReading": "emolens.physio.recognizer",
    "PhysioRecognizer": "emolens.physio.recognizer",
    "PhysioStream": "emolens.physio.recognizer",
    "Recording": "emolens.physio.readers",
    "Samples": "emolens.physio.mqtt",
    "Signal": "emolens.physio.readers",
    "decode_samples": "emolens.physio.mqtt",
    "encode_samples": "emolens.physio.mqtt",
    "read_csv": "emolens.physio.readers",
    "read_e4": "emolens.physio.readers",
    "read_recording": "emolens.physio.readers",
    "replay_e4": "emolens.physio.mqtt",
    "topic_for": "emolens.physio.mqtt",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'emolens.physio' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
