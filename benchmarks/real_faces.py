"""Real faces, labelled by looking: the shipped models on faces from ../shared/media, beside FER-2013.

``candidates`` finds the faces (YuNet, every ``--step``-th frame of each clip, and every photo),
writes them to ``OUT/candidates.csv`` (file, frame, box) and draws numbered contact sheets
(``OUT/sheet-NN.png``) to label by eye. The labels agreed by looking live in
``benchmarks/real_faces.csv`` (file, frame, x, y, w, h, label): never the images themselves.

``evaluate`` crops each labelled face from the media exactly as the pipeline does (the YuNet box
framed as the model file says: ``emolens.analysis.crop_faces``), and reports for every shipped model (or ``--models``): accuracy on these faces
and on FER-2013 PrivateTest side by side, the confusion matrix, and how many neutral faces come
out as fear or sad.

``study`` tries crop geometry and lighting normalisation on the labelled faces; ``framing``
measures how much of a FER-2013 image each detector's box covers (the framing the model learnt).

Usage: python benchmarks/real_faces.py candidates [--out runs/real_faces] [--step 6]
       python benchmarks/real_faces.py evaluate [--csv benchmarks/real_faces.csv] [--data ../shared/data/fer2013]
       python benchmarks/real_faces.py study | framing
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from emolens.bench import provenance
from emolens.detect import create_detector
from emolens.eval.metrics import compute_metrics
from emolens.info import system_line
from emolens.labels import EMOTIONS
from emolens.models.bundled import WEIGHTS_DIR
from emolens.preprocess import crop
from emolens.runtime.recognizer import Recognizer

MEDIA = Path("../shared/media")
YUNET = Path("../shared/models/face_detection_yunet_2023mar.onnx")
CSV = Path(__file__).with_name("real_faces.csv")
CLIPS = {"fer_woman2.mp4": 6, "fer_test.mp4": 3, "pyfeat_single_face.mp4": 2, "facerec_short_hamilton_clip.mp4": 10}
PHOTOS = (
    "pyfeat_multi_face.jpg",
    "oarriaga_test_image.jpg",
    "facerec_two_people.jpg",
    "facerec_obama.jpg",
    "fer_justin.jpg",
    "pyfeat_single_face.jpg",
)
FIELDS = ("file", "frame", "x", "y", "w", "h", "label")


def frames(path: Path, step: int) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, BGR frame) of every ``step``-th frame of a clip, or (0, image) of a photo."""
    if path.suffix.lower() == ".jpg":
        img = cv2.imread(str(path))
        if img is None:
            raise SystemExit(f"cannot read {path}")
        yield 0, img
        return
    cap = cv2.VideoCapture(str(path))
    i = 0
    try:
        while True:
            ok, img = cap.read()
            if not ok:
                return
            if i % step == 0:
                yield i, img
            i += 1
    finally:
        cap.release()


def frame_of(path: Path, index: int) -> np.ndarray:
    for i, img in frames(path, 1):
        if i == index:
            return img
    raise SystemExit(f"{path} has no frame {index}")


def candidates(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    det = create_detector("yunet", model_path=args.yunet)
    rows, thumbs = [], []
    sources = [(name, step) for name, step in CLIPS.items()] + [(p, 1) for p in PHOTOS]
    for name, step in sources:
        for index, img in frames(MEDIA / name, step if args.step == 0 else args.step):
            for x, y, w, h in det.detect(img):
                if min(w, h) < args.min_size:
                    continue
                rows.append({"id": len(rows), "file": name, "frame": index, "x": x, "y": y, "w": w, "h": h})
                face = crop(img, (x, y, w, h), 0.25)
                thumbs.append(cv2.resize(face, (args.thumb, args.thumb), interpolation=cv2.INTER_AREA))
    with (out / "candidates.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["id", "file", "frame", "x", "y", "w", "h"])
        w.writeheader()
        w.writerows(rows)
    per, cols = 40, 8
    for s in range(0, len(thumbs), per):
        sheet = np.full(((per // cols) * (args.thumb + 18), cols * args.thumb, 3), 255, np.uint8)
        for k, t in enumerate(thumbs[s : s + per]):
            r, c = divmod(k, cols)
            y0 = r * (args.thumb + 18)
            sheet[y0 + 18 : y0 + 18 + args.thumb, c * args.thumb : (c + 1) * args.thumb] = t
            cv2.putText(sheet, str(s + k), (c * args.thumb + 3, y0 + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
        cv2.imwrite(str(out / f"sheet-{s // per:02d}.png"), sheet)
    print(f"{len(rows)} faces from {len(sources)} files -> {out}/candidates.csv and {out}/sheet-*.png")


def load_labelled(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    bad = [r for r in rows if r["label"] not in EMOTIONS]
    if bad:
        raise SystemExit(f"{path}: unknown labels {sorted({r['label'] for r in bad})}")
    return rows


def evaluate(args: argparse.Namespace) -> None:
    rows = load_labelled(Path(args.csv))
    from emolens.analysis import crop_faces

    cache: dict[tuple[str, int], np.ndarray] = {}
    located = []
    for r in rows:
        key = (r["file"], int(r["frame"]))
        if key not in cache:
            cache[key] = frame_of(MEDIA / r["file"], key[1])
        located.append((cache[key], (int(r["x"]), int(r["y"]), int(r["w"]), int(r["h"]))))
    truth = np.array([EMOTIONS.index(r["label"]) for r in rows])
    counts = {lab: int((truth == i).sum()) for i, lab in enumerate(EMOTIONS)}
    test = None
    if args.data:
        from emolens.data.fer2013 import load_split

        test = load_split(args.data, "test")
    names = args.models or sorted(p.stem for p in WEIGHTS_DIR.glob("*.onnx"))
    print(system_line())
    print(f"{len(rows)} labelled real faces: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    neutral = truth == EMOTIONS.index("neutral")
    print(f"{'model':28s} {'real acc':>8s} {'real macro-F1':>13s} {'neutral->fear/sad':>17s} {'FER-2013 test':>13s}")
    report = []
    for name in names:
        rec = Recognizer(name)
        faces = [crop_faces(img, [box], rec)[0] for img, box in located]  # the model file's framing
        # a FER+ model may also answer contempt, which none of these faces shows: counted wrong
        # (as "angry" in the confusion matrix, the negative class it is most often confused with)
        named = [rec.labels[i] for i in rec.predict_faces(faces).argmax(1)]
        pred = np.array([EMOTIONS.index(n) if n in EMOTIONS else EMOTIONS.index("angry") for n in named])
        m = compute_metrics(truth, pred)
        bad = int(np.isin(pred[neutral], [EMOTIONS.index("fear"), EMOTIONS.index("sad")]).sum())
        fer = None
        if test is not None and set(rec.labels) == set(EMOTIONS):
            order = [rec.labels.index(lab) for lab in EMOTIONS]
            p = rec.predict_faces(test.images)[:, order].argmax(1)
            fer = float((p == test.labels).mean())
        print(
            f"{name:28s} {m.accuracy:8.3f} {m.macro_f1:13.3f} {bad:8d} of {int(neutral.sum()):3d} "
            f"{fer if fer is not None else float('nan'):13.4f}"
        )
        report.append({"model": name, "real": m.as_dict(), "neutral_as_fear_or_sad": bad, "fer2013_test": fer})
        if args.verbose:
            print("  confusion (rows true, columns predicted):", " ".join(lab[:3] for lab in EMOTIONS))
            for lab, row in zip(EMOTIONS, m.confusion, strict=True):
                print(f"  {lab:9s}", " ".join(f"{v:3d}" for v in row))
    if args.json:
        Path(args.json).write_text(json.dumps({**provenance(), "faces": len(rows), "models": report}, indent=2))


def _square(box: tuple[int, int, int, int], margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    """The box made square around its centre (the longer side) and grown by ``margin``, clipped."""
    x, y, w, h = box
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = max(0, int(round(cx - side / 2))), max(0, int(round(cy - side / 2)))
    x1, y1 = min(width, int(round(cx + side / 2))), min(height, int(round(cy + side / 2)))
    return x0, y0, x1 - x0, y1 - y0


def _equalize(faces: list[np.ndarray], clahe: bool) -> list[np.ndarray]:
    from emolens.preprocess import resize_square, to_gray

    op = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply if clahe else cv2.equalizeHist
    return [op(resize_square(to_gray(f), 48)) for f in faces]


def study(args: argparse.Namespace) -> None:
    """Crop geometry and photometric normalisation on the real faces, and the latter on FER-2013."""
    from emolens.video.tracking import iou_matrix

    rows = load_labelled(Path(args.csv))
    truth = np.array([EMOTIONS.index(r["label"]) for r in rows])
    neutral = truth == EMOTIONS.index("neutral")
    images: dict[tuple[str, int], np.ndarray] = {}
    for r in rows:
        key = (r["file"], int(r["frame"]))
        if key not in images:
            images[key] = frame_of(MEDIA / r["file"], key[1])
    haar = create_detector("haar")
    haar_boxes = {k: haar.detect(img) for k, img in images.items()}
    variants: dict[str, list[np.ndarray | None]] = {}
    for name, margin in (("YuNet box", 0.0), ("YuNet box +10%", 0.1)):
        variants[name] = []
        for r in rows:
            img = images[(r["file"], int(r["frame"]))]
            variants[name].append(crop(img, (int(r["x"]), int(r["y"]), int(r["w"]), int(r["h"])), margin))
    for margin in (0.0, 0.1, 0.2):
        name = f"YuNet square +{int(margin * 100)}%"
        variants[name] = []
        for r in rows:
            img = images[(r["file"], int(r["frame"]))]
            b = _square((int(r["x"]), int(r["y"]), int(r["w"]), int(r["h"])), margin, img.shape[1], img.shape[0])
            variants[name].append(crop(img, b))
    for margin in (0.0, 0.1):
        name = f"Haar box +{int(margin * 100)}% (faces Haar finds)"
        variants[name] = []
        for r in rows:
            key = (r["file"], int(r["frame"]))
            box = (int(r["x"]), int(r["y"]), int(r["w"]), int(r["h"]))
            found = haar_boxes[key]
            hit = None
            if found:
                iou = iou_matrix([box], found)[0]
                if iou.max() >= 0.3:
                    hit = crop(images[key], found[int(iou.argmax())], margin)
            variants[name].append(hit)
    base = variants["YuNet box"]
    variants["YuNet box, histogram equalised"] = list(_equalize([f for f in base if f is not None], clahe=False))
    variants["YuNet box, CLAHE"] = list(_equalize([f for f in base if f is not None], clahe=True))
    test = None
    if args.data:
        from emolens.data.fer2013 import load_split

        test = load_split(args.data, "test")
    print(system_line())
    for name in args.models or ["emolens-vgg-fer2013-int8"]:
        rec = Recognizer(name)
        print(f"{name}: {len(rows)} real faces (neutral {int(neutral.sum())}); FER-2013 PrivateTest where it applies")
        print(f"  {'crop':34s} {'faces':>5s} {'real acc':>8s} {'neutral->fear/sad':>17s} {'FER-2013':>8s}")
        for vname, faces in variants.items():
            keep = np.array([f is not None for f in faces])
            kept = [f for f in faces if f is not None]
            pred = rec.predict_faces(kept).argmax(1)
            acc = float((pred == truth[keep]).mean())
            nk = neutral[keep]
            bad = int(np.isin(pred[nk], [EMOTIONS.index("fear"), EMOTIONS.index("sad")]).sum())
            fer = ""
            if test is not None and "equalised" in vname:
                fer = f"{float((rec.predict_faces(_equalize(list(test.images), False)).argmax(1) == test.labels).mean()):8.4f}"
            elif test is not None and "CLAHE" in vname:
                fer = f"{float((rec.predict_faces(_equalize(list(test.images), True)).argmax(1) == test.labels).mean()):8.4f}"
            elif test is not None and vname == "YuNet box":
                fer = f"{float((rec.predict_faces(test.images).argmax(1) == test.labels).mean()):8.4f}"
            print(f"  {vname:34s} {int(keep.sum()):5d} {acc:8.3f} {bad:8d} of {int(nk.sum()):3d} {fer:>8s}")


def framing(args: argparse.Namespace) -> None:
    """How much of a FER-2013 face image each detector's box covers: the crop that matches training."""
    from emolens.data.fer2013 import load_split

    faces = load_split(args.data, "val").images[: args.faces]
    detectors = {"yunet": create_detector("yunet", model_path=args.yunet), "haar": create_detector("haar")}
    size = 192
    found: dict[str, list[tuple[float, float, float, float]]] = {k: [] for k in detectors}
    for img in faces:
        big = cv2.cvtColor(cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2BGR)
        for name, det in detectors.items():
            boxes = det.detect(big)
            if boxes:
                x, y, w, h = max(boxes, key=lambda b: b[2] * b[3])
                found[name].append((w / size, h / size, (x + w / 2) / size, (y + h / 2) / size))
    print(system_line())
    print(f"{len(faces)} PublicTest faces scaled to {size} px; medians (interquartile range) as a share of the image")
    for name, rows in found.items():
        a = np.array(rows)
        q = np.percentile(a, [25, 50, 75], axis=0)
        print(
            f"  {name:6s} found {len(a):5d}: width {q[1, 0]:.3f} ({q[0, 0]:.3f}-{q[2, 0]:.3f}), "
            f"height {q[1, 1]:.3f} ({q[0, 1]:.3f}-{q[2, 1]:.3f}), centre ({q[1, 2]:.3f}, {q[1, 3]:.3f})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("candidates")
    c.add_argument("--out", default="runs/real_faces")
    c.add_argument("--step", type=int, default=0, help="every N-th frame (0: each clip's own step)")
    c.add_argument("--min-size", type=int, default=40, help="skip faces smaller than this (pixels)")
    c.add_argument("--thumb", type=int, default=112)
    c.add_argument("--yunet", default=str(YUNET))
    c.set_defaults(func=candidates)
    e = sub.add_parser("evaluate")
    e.add_argument("--csv", default=str(CSV))
    e.add_argument("--data", default="../shared/data/fer2013", help="FER-2013, for the side-by-side (empty: skip)")
    e.add_argument("--models", nargs="*", default=None)
    e.add_argument("--json", default=None)
    e.add_argument("-v", "--verbose", action="store_true", help="print each confusion matrix")
    e.set_defaults(func=evaluate)
    st = sub.add_parser("study", help="crop geometry and histogram equalisation on the real faces (and FER-2013)")
    st.add_argument("--csv", default=str(CSV))
    st.add_argument("--data", default="../shared/data/fer2013")
    st.add_argument("--models", nargs="*", default=None)
    st.set_defaults(func=study)
    fr = sub.add_parser("framing", help="how much of a FER-2013 image each detector's box covers")
    fr.add_argument("--data", default="../shared/data/fer2013")
    fr.add_argument("--faces", type=int, default=1500)
    fr.add_argument("--yunet", default=str(YUNET))
    fr.set_defaults(func=framing)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
