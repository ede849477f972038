"""Face detectors behind one interface, chosen by name, tuned by :class:`~emolens.types.DetectorOptions`."""

from __future__ import annotations

from typing import Any

from emolens.detect.base import Detector
from emolens.errors import EmolensError
from emolens.types import DetectorOptions

DETECTORS = ("haar", "yunet")


def create_detector(name: str = "haar", options: DetectorOptions | None = None, **kwargs: Any) -> Detector:
    """A detector by name (unknown names list the valid ones), as sensitive as ``options`` say.

    ``kwargs`` go to the detector's constructor (``model_path=`` for YuNet, say) and win over
    ``options`` (``settings=`` for Haar, ``score_threshold=`` for YuNet).
    """
    opts = options or DetectorOptions()
    if name == "haar":
        from emolens.detect.haar import HaarDetector, HaarSettings

        settings = HaarSettings(opts.haar_scale_factor, opts.haar_min_neighbors, opts.haar_min_size)
        return HaarDetector(**{"settings": settings, **kwargs})
    if name == "yunet":
        from emolens.detect.yunet import YuNetDetector

        return YuNetDetector(**{"score_threshold": opts.yunet_score, **kwargs})
    raise EmolensError(f"unknown detector {name!r}; available: {', '.join(DETECTORS)}")


__all__ = ["DETECTORS", "Detector", "DetectorOptions", "create_detector"]
