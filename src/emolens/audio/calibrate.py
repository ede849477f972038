"""Calibrate a speech model: fit its temperature on the selection speakers and store it in the file.

The temperature that minimises the negative log-likelihood of the held-out selection split
(RAVDESS actors 19-20) is written into the model's metadata (``emolens.temperature``), where
:class:`~emolens.audio.recognizer.VoiceRecognizer` applies it; the expected calibration error is
reported before and after on the selection and the test split (actors 21-24). A positive
temperature never changes which label is on top. The temperature calibrates one pass of the network:
it is fitted on whole utterances (``tta="none"``), and ``tta="crops"`` averages passes so calibrated.
Used by ``emolens calibrate`` for speech models
and by ``benchmarks/speech_model.sh``: face and voice probabilities must mean what they say for
their late fusion (:mod:`emolens.fusion`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import ModelError
from emolens.eval.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
)
from emolens.io import write_bytes_atomic
from emolens.runtime.metadata import check_tta

log = logging.getLogger(__name__)

__all__ = ["SpeechCalibration", "calibrate_speech"]


@dataclass(frozen=True)
class SpeechCalibration:
    """The fitted ``temperature`` and, per split, ECE and NLL before and after, and the accuracy."""

    model: str
    out: str
    temperature: float
    splits: dict[str, dict[str, float]]
    tta: str
    """The test-time augmentation the written file asks for."""
    partner: str = ""
    """The speaker-profile partner the written file names (``""`` none)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "out": self.out,
            "temperature": self.temperature,
            "splits": self.splits,
            "tta": self.tta,
            "partner": self.partner,
        }


def calibrate_speech(
    model: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    fit_split: str = "val",
    report_split: str = "test",
    threads: int | None = None,
    tta: str | None = None,
    partner: str | None = None,
) -> SpeechCalibration:
    """Fit the temperature of speech ``model`` on ``fit_split`` of ``data``, report on it and on
    ``report_split`` (``report_split=fit_split`` for a selection run that must not read the test
    speakers), write the calibrated copy to ``out``; with ``tta``
    (:data:`~emolens.runtime.metadata.SPEECH_TTA_MODES`) the copy asks for it (else it keeps the
    model's); with ``partner`` the copy names that speaker-profile model as its partner
    (:class:`~emolens.audio.recognizer.VoiceRecognizer`; ``""`` names none; default: the model's), which
    must be usable from ``out``. The fit and the figures are of one pass on whole utterances, by the
    model alone."""
    import onnx

    from emolens.audio.evaluate import split_probabilities
    from emolens.audio.metadata import VoiceModelMeta
    from emolens.audio.recognizer import VoiceRecognizer, open_partner
    from emolens.data.audio import load_audio_split
    from emolens.runtime.metadata import PREFIX, set_props

    check_tta(tta, speech=True)
    rec = VoiceRecognizer(model, threads=threads, tta="none", partner=False)  # the temperature calibrates one pass
    tta = tta or rec.meta.tta
    partner = rec.meta.partner if partner is None else partner
    if partner:
        VoiceModelMeta.from_props(rec.meta.to_props() | {PREFIX + "partner": partner}, f"{out} with partner")
        open_partner(partner, Path(out), rec.labels, rec.features.sample_rate, threads, tta)
    raw = rec.meta.temperature
    splits: dict[str, dict[str, float]] = {}
    t = 1.0
    for split in dict.fromkeys((fit_split, report_split)):  # the fit first; each split once
        ds = load_audio_split(data, split, sample_rate=rec.features.sample_rate, classes=rec.labels)
        probs = split_probabilities(rec, ds).astype(np.float64)
        probs = apply_temperature(probs, 1.0 / raw) if raw != 1.0 else probs  # back to the uncalibrated model
        if split == fit_split:
            t = fit_temperature(probs, ds.labels)
        after = apply_temperature(probs, t)
        if not (probs.argmax(1) == after.argmax(1)).all():
            raise ModelError("calibration changed a predicted label; the model file was not written")
        splits[split] = {
            "utterances": float(len(ds)),
            "accuracy": float((probs.argmax(1) == ds.labels).mean()),
            "ece_before": expected_calibration_error(probs, ds.labels),
            "ece_after": expected_calibration_error(after, ds.labels),
            "nll_before": negative_log_likelihood(probs, ds.labels),
            "nll_after": negative_log_likelihood(after, ds.labels),
        }
        log.info(
            "%s %s: ECE %.4f -> %.4f", rec.path.name, split, splits[split]["ece_before"], splits[split]["ece_after"]
        )
    proto = onnx.load(str(rec.path))
    props = {p.key: p.value for p in proto.metadata_props}
    props[PREFIX + "temperature"] = repr(round(t, 6))
    props[PREFIX + "tta"] = tta
    props.pop(PREFIX + "partner", None)
    props |= {PREFIX + "partner": partner} if partner else {}
    set_props(proto, props)
    write_bytes_atomic(out, proto.SerializeToString())
    return SpeechCalibration(str(rec.path), str(out), round(t, 6), splits, tta, partner)
