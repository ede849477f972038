"""The emotion label order and the valence mapping, defined once for the whole package."""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""Label order of FER-2013 (the Kaggle ``emotion`` column: 0=angry ... 6=neutral)."""

VALENCES: tuple[str, ...] = ("negative", "neutral", "positive")

VALENCE_OF: dict[str, str] = {
    "angry": "negative",
    "disgust": "negative",
    "fear": "negative",
    "sad": "negative",
    "happy": "positive",
    # Surprise can be pleasant or unpleasant; on its own it carries no sign, so it is
    # mapped to neutral rather than guessed.
    "surprise": "neutral",
    "neutral": "neutral",
    # FER+'s eighth emotion, for models trained on it (emolens train on your own folders)
    "contempt": "negative",
}


def valence_or_neutral(label: str) -> str:
    """The valence of a label; a class of your own that is no known emotion carries no sign."""
    return VALENCE_OF.get(label, "neutral")


def valence_of(label: str) -> str:
    """Return the valence (negative / neutral / positive) of an emotion label."""
    try:
        return VALENCE_OF[label]
    except KeyError:
        from emolens.errors import EmolensError

        raise EmolensError(f"unknown emotion {label!r}; known: {', '.join(EMOTIONS)}") from None
