"""The one error type meant for users: its message says what went wrong and what to do."""

from __future__ import annotations


class EmolensError(Exception):
    """An error caused by the user's input or environment, with a readable message."""


class DataError(EmolensError):
    """A data set folder or file is missing, empty or malformed."""


class ModelError(EmolensError):
    """A model name or model file cannot be used."""


class ImageError(EmolensError):
    """An image cannot be read or has the wrong shape."""


class ImageTooLarge(ImageError):
    """An image has more pixels (or decoded bytes) than the limit it was read under."""
