"""``emolens calibrate``: fit a model's temperature on PublicTest and store it in the model file.

For each test-time augmentation mode, the temperature that minimises the negative log-likelihood
on the ``val`` split (PublicTest) is fitted on the network's probabilities, and the expected
calibration error (ECE) is reported on the ``test`` split (PrivateTest) before and after. The
copy written keeps the weights and every other metadata entry; predicted labels do not change.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emolens.data.fer2013 import load_split
from emolens.errors import EmolensError, ModelError
from emolens.eval.calibration import (
    Reliability,
    apply_temperature,
    fit_temperature,
    negative_log_likelihood,
    reliability,
)
from emolens.io import write_bytes_atomic
from emolens.labels import EMOTIONS
from emolens.runtime.metadata import PREFIX, TTA_MODES, check_tta, set_props

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModeCalibration:
    """One test-time augmentation mode: the fitted temperature and what it does on PrivateTest."""

    tta: str
    temperature: float
    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float
    accuracy: float
    labels_kept: bool
    before: Reliability
    after: Reliability

    def as_dict(self) -> dict[str, object]:
        return {
            "tta": self.tta,
            "temperature": self.temperature,
            "ece_before": self.ece_before,
            "ece_after": self.ece_after,
            "nll_before": self.nll_before,
            "nll_after": self.nll_after,
            "accuracy": self.accuracy,
            "labels_kept": self.labels_kept,
            "reliability_before": self.before.as_dict(),
            "reliability_after": self.after.as_dict(),
        }


@dataclass(frozen=True)
class Calibration:
    model: str
    out: Path
    fit_split: str
    report_split: str
    modes: dict[str, ModeCalibration]

    def as_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "out": str(self.out),
            "fit_split": self.fit_split,
            "report_split": self.report_split,
            "modes": {k: v.as_dict() for k, v in self.modes.items()},
        }


def calibrate_model(
    model: str | Path | None,
    data: str | Path,
    out: str | Path,
    *,
    fit_split: str = "val",
    report_split: str = "test",
    threads: int | None = None,
    ferplus: str | Path | None = None,
    tta: str | None = None,
) -> Calibration:
    """Fit a temperature per TTA mode on ``fit_split``, report on ``report_split``, write the copy.

    ``tta`` also stores that test-time augmentation as the written file's default (None: keep the
    file's), so that a mode's choice and its calibration land together.

    With ``ferplus`` (a ``ferplus.csv``) the faces are labelled by their FER+ majority vote over
    the model's own labels (for FER+ models, e.g. with contempt); else by FER-2013's labels, which
    needs a model of FER-2013's seven emotions.
    """
    import onnx

    check_tta(tta)

    from emolens.runtime.recognizer import Recognizer

    base = Recognizer(model, temperature=1.0, threads=threads)
    # without FER+ votes the faces are scored by FER-2013's labels, matched by name (a folder of some
    # classes only numbers them its own way)
    classes = None if ferplus is not None else EMOTIONS
    sets = {s: load_split(data, s, size=base.meta.input_size, classes=classes) for s in {fit_split, report_split}}
    if ferplus is not None:
        from emolens.data.ferplus import ferplus_relabel

        sets = {s: ferplus_relabel(fs, ferplus, base.labels)[0] for s, fs in sets.items()}
        order = list(range(len(base.labels)))
    elif set(base.labels) != set(EMOTIONS):
        raise EmolensError(
            f"{base.path} predicts {base.labels}; FER-2013 calibration needs the labels {EMOTIONS} "
            "(calibrate a FER+ model with --ferplus ferplus.csv)"
        )
    else:
        order = [base.labels.index(lab) for lab in EMOTIONS]
    modes: dict[str, ModeCalibration] = {}
    for mode in TTA_MODES:
        rec = Recognizer(base.path, tta=mode, temperature=1.0, threads=threads)
        fit_probs = rec.predict_faces(sets[fit_split].images)[:, order]
        t = fit_temperature(fit_probs, sets[fit_split].labels)
        probs = rec.predict_faces(sets[report_split].images)[:, order]
        labels = sets[report_split].labels
        after = apply_temperature(probs, t)
        modes[mode] = ModeCalibration(
            tta=mode,
            temperature=t,
            ece_before=reliability(probs, labels).ece,
            ece_after=reliability(after, labels).ece,
            nll_before=negative_log_likelihood(probs, labels),
            nll_after=negative_log_likelihood(after, labels),
            accuracy=float((probs.argmax(1) == labels).mean()),
            labels_kept=bool((probs.argmax(1) == after.argmax(1)).all()),
            before=reliability(probs, labels),
            after=reliability(after, labels),
        )
        log.info(
            "%s, tta %s: temperature %.3f; ECE on %s %.4f -> %.4f",
            base.path.name,
            mode,
            t,
            report_split,
            modes[mode].ece_before,
            modes[mode].ece_after,
        )
    if not all(m.labels_kept for m in modes.values()):  # cannot happen for a positive temperature
        raise ModelError("calibration changed a predicted label; the model file was not written")
    proto = onnx.load(str(base.path))
    props = {p.key: p.value for p in proto.metadata_props}
    props[PREFIX + "temperature"] = json.dumps({k: round(m.temperature, 6) for k, m in modes.items()})
    if tta is not None:
        props[PREFIX + "tta"] = tta
    set_props(proto, props)
    out = Path(out)
    write_bytes_atomic(out, proto.SerializeToString())
    return Calibration(str(base.path), out, fit_split, report_split, modes)


def plot_reliability(cal: Calibration, path: str | Path, tta: str | None = None) -> None:
    """Reliability diagram (accuracy against confidence per bin, before and after) for one TTA mode
    (default: every mode, one panel each), written atomically as PNG."""
    from emolens.eval.report import pyplot, save_figure

    plt = pyplot()
    modes = [cal.modes[tta]] if tta else list(cal.modes.values())
    fig, axes = plt.subplots(1, len(modes), figsize=(5.5 * len(modes), 5), squeeze=False)
    for ax, m in zip(axes[0], modes, strict=True):
        edges = np.asarray(m.before.edges)
        centers = (edges[:-1] + edges[1:]) / 2
        width = edges[1] - edges[0]
        for rel, name, color, shift in (
            (m.before, f"before (ECE {m.ece_before:.3f})", "tab:red", -0.22),
            (m.after, f"T = {m.temperature:.2f} (ECE {m.ece_after:.3f})", "tab:blue", 0.22),
        ):
            has = np.asarray(rel.counts) > 0
            ax.bar(centers[has] + shift * width, np.asarray(rel.accuracy)[has], width * 0.42, color=color, label=name)
        ax.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1, label="perfect calibration")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence (top probability)")
        ax.set_ylabel(f"accuracy on {cal.report_split}")
        ax.set_title(f"{Path(cal.model).stem}, tta {m.tta}")
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
