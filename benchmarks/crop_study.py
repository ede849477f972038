"""Which face crop suits the model: margin around the box, Haar or YuNet boxes, eye alignment.

Scores the default model on hand-labelled faces cut from the photos and clips of
../shared/media (the labels below were given by the emolens developers from looking at each
face; only clear happy and neutral faces were labelled, ambiguous ones were left out, so this
is a small, two-class check, not a benchmark). Each face is located by YuNet (the reference box
below picks which face of the image is meant); the Haar box is the Haar detection overlapping it
(faces Haar misses drop out of the Haar rows). For each crop variant it reports the accuracy
(top emotion = label) and the mean probability given to the label.

Usage: python benchmarks/crop_study.py [--yunet MODEL] [--json FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from emolens.bench import provenance
from emolens.detect import create_detector
from emolens.detect.yunet import Landmarks
from emolens.imageio import read_image
from emolens.info import system_line
from emolens.io import write_json
from emolens.preprocess import align_by_eyes, crop
from emolens.runtime.recognizer import Recognizer
from emolens.types import Box
from emolens.video.tracking import iou_matrix

MEDIA = Path("../shared/media")
YUNET = Path("../shared/models/face_detection_yunet_2023mar.onnx")

# (file, frame or None for a photo, a YuNet box (x, y, w, h) picking the face, label)
FACES: list[tuple[str, int | None, Box, str]] = [
    ("pyfeat_multi_face.jpg", None, (686, 292, 101, 132), "happy"),
    ("pyfeat_multi_face.jpg", None, (315, 234, 95, 130), "happy"),
    ("pyfeat_multi_face.jpg", None, (531, 305, 95, 131), "happy"),
    ("pyfeat_multi_face.jpg", None, (439, 215, 77, 96), "neutral"),
    ("pyfeat_multi_face.jpg", None, (212, 61, 91, 115), "happy"),
    ("facerec_two_people.jpg", None, (234, 21, 149, 204), "neutral"),
    ("facerec_two_people.jpg", None, (790, 49, 148, 207), "neutral"),
    ("oarriaga_test_image.jpg", None, (315, 340, 98, 125), "happy"),
    ("oarriaga_test_image.jpg", None, (843, 906, 418, 548), "neutral"),
    ("fer_justin.jpg", None, (109, 78, 154, 205), "happy"),
    ("facerec_obama.jpg", None, (374, 94, 231, 322), "happy"),
    ("pyfeat_single_face.jpg", None, (191, 147, 183, 252), "happy"),
    ("pyfeat_single_face.mp4", 0, (223, 85, 145, 213), "neutral"),
    ("pyfeat_single_face.mp4", 15, (218, 77, 145, 221), "neutral"),
    ("pyfeat_single_face.mp4", 45, (219, 71, 147, 215), "happy"),
    ("pyfeat_single_face.mp4", 60, (220, 68, 148, 220), "happy"),
    ("pyfeat_single_face.mp4", 71, (222, 77, 147, 213), "neutral"),
    ("fer_test.mp4", 0, (296, 9, 97, 142), "happy"),
    ("fer_test.mp4", 30, (280, 0, 114, 156), "happy"),
    ("fer_test.mp4", 60, (284, 1, 119, 153), "happy"),
    ("fer_test.mp4", 90, (267, 3, 117, 156), "happy"),
    ("fer_test.mp4", 114, (274, 7, 113, 147), "happy"),
    ("fer_woman2.mp4", 0, (232, 77, 105, 138), "neutral"),
    ("fer_woman2.mp4", 120, (240, 84, 104, 150), "happy"),
    ("fer_woman2.mp4", 180, (210, 76, 115, 143), "happy"),
]
MARGINS = (0.0, 0.1, 0.2, 0.3)


def load(file: str, frame: int | None) -> np.ndarray:
    if frame is None:
        return read_image(MEDIA / file)
    cap = cv2.VideoCapture(str(MEDIA / file))
    try:
        for _ in range(frame + 1):  # decode from the start: seeking is not frame-exact in every container
            ok, image = cap.read()
            if not ok:
                raise SystemExit(f"cannot read frame {frame} of {file}")
    finally:
        cap.release()
    return np.asarray(image)


def square(box: Box) -> Box:
    """The square of side max(w, h) with the same centre."""
    x, y, w, h = box
    s = max(w, h)
    return x + (w - s) // 2, y + (h - s) // 2, s, s


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--yunet", default=str(YUNET))
    p.add_argument("--model", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    rec = Recognizer(args.model)
    yunet = create_detector("yunet", model_path=args.yunet)
    haar = create_detector("haar")
    crops: dict[str, list[tuple[np.ndarray, str]]] = {}
    for file, frame, ref, label in FACES:
        image = load(file, frame)
        found: list[Landmarks] = yunet.detect_landmarks(image)  # type: ignore[attr-defined]
        best = int(np.argmax(iou_matrix([ref], [f.box for f in found])[0]))
        face = found[best]
        haar_boxes = haar.detect(image)
        overlap = iou_matrix([face.box], haar_boxes)[0] if haar_boxes else np.zeros(0)
        haar_box = haar_boxes[int(np.argmax(overlap))] if len(overlap) and overlap.max() >= 0.3 else None
        for m in MARGINS:
            crops.setdefault(f"yunet box, margin {m:.1f}", []).append((crop(image, face.box, m), label))
            crops.setdefault(f"yunet square, margin {m:.1f}", []).append((crop(image, square(face.box), m), label))
            aligned = align_by_eyes(image, square(face.box), face.left_eye, face.right_eye, m)
            crops.setdefault(f"yunet square aligned, margin {m:.1f}", []).append((aligned, label))
            if haar_box is not None:
                crops.setdefault(f"haar box, margin {m:.1f}", []).append((crop(image, haar_box, m), label))
    rows: list[dict[str, Any]] = []
    print(system_line())
    print(f"{len(FACES)} labelled faces; model {rec.meta.name}, tta {rec.tta}")
    print(f"{'crop':36s} {'faces':>5s} {'accuracy':>8s} {'p(label)':>8s}")
    for name, items in crops.items():
        probs = rec.predict_faces([c for c, _ in items])
        idx = [rec.labels.index(lab) for _, lab in items]
        p_label = probs[np.arange(len(items)), idx]
        acc = float(np.mean(probs.argmax(1) == np.asarray(idx)))
        rows.append({"crop": name, "faces": len(items), "accuracy": acc, "p_label": float(p_label.mean())})
        print(f"{name:36s} {len(items):5d} {acc:8.3f} {float(p_label.mean()):8.3f}")
    if args.json:
        write_json(
            args.json,
            {
                **provenance(),
                "rows": rows,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
