"""Face detectors behind one interface, chosen by name."""

from __future__ import annotations

from typing import Any

from emolens.detect.base import Detector
from emolens.errors import EmolensError

DETECTORS = ("haar", "yunet")


def create_detector(name: str = "haar", **kwargs: Any) -> Detector:
    """A detector by name; unknown names list the valid ones."""
    if name == "haar":
        from emolens.detect.haar import HaarDetector

        return HaarDetector(**kwargs)
    if name == "yunet":
        from emolens.detect.yunet import YuNetDetector

        return YuNetDetector(**kwargs)
    raise EmolensError(f"unknown detector {name!r}; available: {', '.join(DETECTORS)}")


__all__ = ["DETECTORS", "Detector", "create_detector"]
