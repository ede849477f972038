"""emolens: real-time facial emotion recognition on ordinary CPUs.

The public API is small and imports nothing heavy until it is used::

    import emolens
    rec = emolens.Recognizer()                      # cropped faces in, probabilities out
    probs = rec.predict_faces(faces)
    faces = emolens.analyze_faces(image, rec, boxes=[(x, y, w, h)])   # or a detector
    for result in emolens.stream("clip.mp4"):        # detect, track, smooth every frame
        ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emolens.errors import EmolensError
from emolens.labels import EMOTIONS, VALENCES, valence_of

__version__ = "0.1.0"

if TYPE_CHECKING:
    from emolens.analysis import Analyzer, analyze_faces
    from emolens.audio.recognizer import VoiceRecognizer
    from emolens.batch.run import analyze_videos
    from emolens.batch.types import BatchSummary
    from emolens.detect import create_detector
    from emolens.event.types import Event, EventOptions
    from emolens.event.watch import events
    from emolens.models.bundled import available_models
    from emolens.physio.recognizer import PhysioRecognizer
    from emolens.runtime.recognizer import Recognizer
    from emolens.types import DetectorOptions, Face, FrameResult, StreamOptions
    from emolens.video.pipeline import stream

__all__ = [
    "EMOTIONS",
    "Analyzer",
    "VALENCES",
    "BatchSummary",
    "DetectorOptions",
    "EmolensError",
    "Event",
    "EventOptions",
    "Face",
    "FrameResult",
    "PhysioRecognizer",
    "Recognizer",
    "StreamOptions",
    "VoiceRecognizer",
    "__version__",
    "analyze_faces",
    "analyze_videos",
    "available_models",
    "create_detector",
    "events",
    "stream",
    "valence_of",
]


_LAZY = {
    "Analyzer": "emolens.analysis",
    "analyze_faces": "emolens.analysis",
    "analyze_videos": "emolens.batch.run",
    "BatchSummary": "emolens.batch.types",
    "Recognizer": "emolens.runtime.recognizer",
    "available_models": "emolens.models.bundled",
    "DetectorOptions": "emolens.types",
    "create_detector": "emolens.detect",
    "Face": "emolens.types",
    "FrameResult": "emolens.types",
    "StreamOptions": "emolens.types",
    "PhysioRecognizer": "emolens.physio.recognizer",
    "stream": "emolens.video.pipeline",
    "events": "emolens.event.watch",
    "Event": "emolens.event.types",
    "EventOptions": "emolens.event.types",
    "VoiceRecognizer": "emolens.audio.recognizer",
}
"""Public names and the module that holds each, imported on first use (nothing heavy at import)."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'emolens' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
