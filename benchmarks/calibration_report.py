"""Calibration of the shipped models: the temperature stored in each file, and what it does.

For each shipped variant and test-time augmentation mode: the stored temperature (fitted on
PublicTest by ``emolens calibrate``), and on PrivateTest the negative log-likelihood and the
expected calibration error (15 bins) before and after, with the spread of the ECE and of its
change over ``--bootstrap`` resamplings of the faces (ECE on 3,589 faces is noisy).

Usage: python benchmarks/calibration_report.py [--data ../shared/data/fer2013] [--bootstrap 300]
"""

from __future__ import annotations

import argparse

import numpy as np

from emolens.data.fer2013 import load_split
from emolens.eval.calibration import apply_temperature, negative_log_likelihood, reliability
from emolens.info import system_line
from emolens.runtime.metadata import TTA_MODES
from emolens.runtime.recognizer import Recognizer

MODELS = ("emolens-vgg-fer2013-int8", "emolens-vgg-fer2013-fp32")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/fer2013")
    ap.add_argument("--bootstrap", type=int, default=300)
    args = ap.parse_args()
    test = load_split(args.data, "test")
    y = test.labels
    rng = np.random.default_rng(0)
    draws = [rng.integers(0, len(y), len(y)) for _ in range(args.bootstrap)]
    print(system_line())
    print(f"{'model':26s} {'tta':5s} {'T':>6s} {'NLL raw':>8s} {'NLL cal':>8s} {'ECE raw':>8s} {'ECE cal':>8s} "
          f"{'bootstrap ECE raw':>18s} {'cal':>14s} {'change':>15s}")  # fmt: skip
    for name in MODELS:
        for tta in TTA_MODES:
            t = Recognizer(name, tta=tta).temperature
            p = Recognizer(name, tta=tta, temperature=1.0).predict_faces(test.images)
            q = apply_temperature(p, t)
            raw = np.array([reliability(p[i], y[i]).ece for i in draws])
            cal = np.array([reliability(q[i], y[i]).ece for i in draws])
            print(
                f"{name:26s} {tta:5s} {t:6.3f} {negative_log_likelihood(p, y):8.4f} "
                f"{negative_log_likelihood(q, y):8.4f} {reliability(p, y).ece:8.4f} {reliability(q, y).ece:8.4f} "
                f"{raw.mean():10.4f} +- {raw.std():.4f} {cal.mean():.4f} +- {cal.std():.4f} "
                f"{(cal - raw).mean():+.4f} +- {(cal - raw).std():.4f}"
            )


if __name__ == "__main__":
    main()
