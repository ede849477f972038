"""Our face models against the ``fer`` package's classifier, in one run on one machine (issue 9).

Both sides classify the same real faces, cropped 48x48 from FER-2013 PrivateTest:

- speed: one call on ``--faces`` faces (256 by default), repeated ``--repeats`` times in
  alternating rounds (fer, then each of ours), so that a change of machine load hits every side
  alike; faces/s is ``faces`` divided by the median call. Ours is ``Recognizer.predict_faces``
  (preparation, the model's test-time augmentation and calibration included); fer's is what its
  ``detect_emotions`` does after finding the faces: resize to its 64x64 input, scale to [-1, 1]
  and its mini-Xception on Keras/TensorFlow, timed both as fer calls it (``FER._classify_emotions``,
  eager) and compiled with ``tf.function`` (faster); ours are compared with the faster of the two;
- accuracy: every PrivateTest face (3,589), fer's seven labels mapped to ours by name.

fer lives in its own environment (TensorFlow, see ``benchmarks/install_fer.sh``)::

    bash benchmarks/install_fer.sh
    TF_CPP_MIN_LOG_LEVEL=2 .venv-fer/bin/python benchmarks/fast_vs_fer.py \\
        --data ../shared/data/fer2013 --json runs/fast_vs_fer.json

Both sides get ``--threads`` threads (ONNX Runtime's intra-op threads; TensorFlow's intra- and
inter-op pools). Nothing else should run on the machine meanwhile: the load average is printed.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from emolens.bench import describe_machine, machine_record
from emolens.data.fer2013 import load_split
from emolens.io import write_json
from emolens.labels import EMOTIONS
from emolens.runtime.metadata import TTA_MODES
from emolens.runtime.recognizer import Recognizer
from emolens.train.teacher import to_classes

DEFAULT_MODELS = ("emolens-vgg-fer2013-int8", "emolens-vgg-fer2013-fp32")
FER_INPUT = 64


class FerClassifier:
    """fer's emotion classifier on cropped gray faces, preprocessed as ``FER.detect_emotions`` does.

    ``compiled=False`` calls the model as fer does (``FER._classify_emotions``, an eager Keras
    call); ``compiled=True`` runs the same model as one ``tf.function`` graph, its fastest form here,
    so that our models are held to the better of the two."""

    def __init__(self, detector: Any, version: str, *, compiled: bool) -> None:
        tf = importlib.import_module("tensorflow")

        self.detector = detector
        self.version = version
        self.compiled = compiled
        names = detector._get_labels()
        self.labels = tuple(names[i] for i in range(len(names)))
        model = detector._FER__emotion_classifier
        self._graph = tf.function(lambda x: model(x, training=False), reduce_retracing=True) if compiled else None

    @property
    def name(self) -> str:
        return f"fer {self.version} mini-Xception ({'tf.function' if self.compiled else 'as fer calls it'})"

    def predict_faces(self, faces: np.ndarray) -> np.ndarray:
        """Probabilities (N, 7) over ``self.labels`` for gray faces (N, H, W) uint8."""
        batch = np.stack([cv2.resize(f, (FER_INPUT, FER_INPUT)) for f in faces]).astype(np.float32)
        batch = (batch / 255.0 - 0.5) * 2.0
        out = self._graph(batch[..., None]) if self._graph is not None else self.detector._classify_emotions(batch)
        return np.asarray(out, dtype=np.float32)


def load_fer(threads: int) -> list[FerClassifier]:
    """fer's classifier, as fer calls it and compiled; exits with a hint when fer is missing."""
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0":
        raise SystemExit("fast_vs_fer: TF_ENABLE_ONEDNN_OPTS=0 slows TensorFlow down; unset it for a fair comparison")
    try:
        tf = importlib.import_module("tensorflow")
        fer = importlib.import_module("fer")
    except ImportError as e:
        raise SystemExit(
            f"fast_vs_fer: cannot import fer ({e}); build .venv-fer with benchmarks/install_fer.sh"
        ) from None
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    detector = fer.FER()
    version = importlib.metadata.version("fer")
    return [FerClassifier(detector, version, compiled=False), FerClassifier(detector, version, compiled=True)]


def median_faces_per_s(runs: list[float], faces: int) -> float:
    return faces / float(np.median(runs))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="FER-2013 folder or fer2013.csv")
    ap.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), help="our models (names or .onnx files)")
    ap.add_argument("--tta", nargs="+", default=list(TTA_MODES), choices=TTA_MODES)
    ap.add_argument("--faces", type=int, default=256, help="faces per timed call")
    ap.add_argument("--repeats", type=int, default=15, help="timed calls per side")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    test = load_split(args.data, "test")
    if len(test.images) < args.faces:
        raise SystemExit(f"fast_vs_fer: PrivateTest has {len(test.images)} faces, fewer than --faces {args.faces}")
    batch = np.ascontiguousarray(test.images[: args.faces])

    sides: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    label_sets: dict[str, tuple[str, ...]] = {}
    fers = load_fer(args.threads)
    for f in fers:
        sides[f.name] = f.predict_faces
        label_sets[f.name] = f.labels
    for model in args.models:
        for tta in args.tta:
            rec = Recognizer(model, tta=tta, threads=args.threads)
            key = f"{rec.meta.name} ({tta})"
            sides[key] = rec.predict_faces
            label_sets[key] = rec.labels

    accuracy: dict[str, float] = {}
    for key, predict in sides.items():
        probs = np.concatenate([predict(test.images[s : s + 256]) for s in range(0, len(test.images), 256)])
        seven = to_classes(probs, label_sets[key], EMOTIONS, key)
        accuracy[key] = float((seven.argmax(1) == test.labels).mean())

    for predict in sides.values():  # warm-up
        for _ in range(3):
            predict(batch)
    runs: dict[str, list[float]] = {key: [] for key in sides}
    for _ in range(args.repeats):
        for key, predict in sides.items():
            t = time.perf_counter()
            predict(batch)
            runs[key].append(time.perf_counter() - t)
    machine = machine_record()

    fer_speed = max(median_faces_per_s(runs[f.name], args.faces) for f in fers)  # ours are held to fer's best
    print(
        f"{args.faces} PrivateTest faces a call, median of {args.repeats} calls, {args.threads} threads; "
        f"accuracy on all {len(test.images)} PrivateTest faces"
    )
    print(f"{'classifier':<52} {'PrivateTest':>11} {'faces/s':>9} {'vs fer':>7}")
    rows: list[dict[str, Any]] = []
    for key in sides:
        speed = median_faces_per_s(runs[key], args.faces)
        print(f"{key:<52} {accuracy[key]:>11.4f} {speed:>9.0f} {speed / fer_speed:>6.2f}x")
        rows.append(
            {
                "classifier": key,
                "privatetest_accuracy": accuracy[key],
                "faces_per_s": speed,
                "median_ms": float(np.median(runs[key])) * 1e3,
                "vs_fer": speed / fer_speed,
            }
        )
    print(f"vs fer: faces/s over fer's faster form ({fer_speed:.0f} faces/s)")
    print(describe_machine(machine))
    if args.json:
        record = {
            "fer_faces_per_s": fer_speed,
            "faces": args.faces,
            "repeats": args.repeats,
            "threads": args.threads,
            "rows": rows,
            **machine,
        }
        write_json(args.json, record, mkdir=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
