"""emolens: real-time facial emotion recognition on ordinary CPUs.

The public API is small and imports nothing heavy until it is used::

    import emolens
    rec = emolens.Recognizer()
    probs = rec.predict_faces(faces)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emolens.errors import EmolensError
from emolens.labels import EMOTIONS, VALENCES, valence_of

__version__ = "0.1.0"

if TYPE_CHECKING:
    from emolens.models.bundled import available_models
    from emolens.runtime.recognizer import Face, Recognizer
    from emolens.video.pipeline import StreamOptions, stream

__all__ = [
    "EMOTIONS",
    "VALENCES",
    "EmolensError",
    "Face",
    "Recognizer",
    "StreamOptions",
    "__version__",
    "available_models",
    "stream",
    "valence_of",
]


def __getattr__(name: str) -> Any:
    if name == "Recognizer":
        from emolens.runtime.recognizer import Recognizer

        return Recognizer
    if name == "available_models":
        from emolens.models.bundled import available_models

        return available_models
    if name == "Face":
        from emolens.runtime.recognizer import Face

        return Face
    if name == "stream":
        from emolens.video.pipeline import stream

        return stream
    if name == "StreamOptions":
        from emolens.video.pipeline import StreamOptions

        return StreamOptions
    raise AttributeError(f"module 'emolens' has no attribute {name!r}")
