"""Accuracy under everyday image damage: our shipped models and ``fer`` side by side.

On a fixed random sample of FER-2013 PrivateTest faces (``--faces``, stratified, seed 0), each
condition damages every face the same way: brightness and contrast changes, Gaussian blur,
Gaussian noise, JPEG compression, occlusion (dark glasses over the eyes, a hand over a cheek
and the mouth corner, a surgical mask over the lower face) and rotation. Our models classify
the 48x48 faces through ``predict_faces``; ``fer`` (when importable: run this script with
``.venv-fer/bin/python`` after ``bash benchmarks/install_fer.sh``) classifies them through its
public ``detect_emotions``, given a box that makes it crop exactly the 48x48 face. Prints a table, writes
JSON and a plot.

Usage: .venv-fer/bin/python benchmarks/robustness.py [--faces 500] [--out runs/robustness]
       python benchmarks/robustness.py --replot runs/robustness/robustness.json --plot docs/images/robustness.png
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from emolens.bench import _load_fer, provenance
from emolens.data.fer2013 import load_split
from emolens.info import system_line
from emolens.labels import EMOTIONS
from emolens.runtime.recognizer import Recognizer

Damage = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _lut(f: Callable[[np.ndarray], np.ndarray]) -> Damage:
    return lambda img, rng: np.clip(f(img.astype(np.float32)), 0, 255).astype(np.uint8)


def _blur(sigma: float) -> Damage:
    return lambda img, rng: cv2.GaussianBlur(img, (0, 0), sigma)


def _noise(std: float) -> Damage:
    return lambda img, rng: np.clip(img + rng.normal(0, std, img.shape), 0, 255).astype(np.uint8)


def _jpeg(quality: int) -> Damage:
    def f(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        ok, enc = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        out: np.ndarray = cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE)
        return out

    return f


def _rotate(deg: float) -> Damage:
    def f(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = img.shape
        m = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
        out: np.ndarray = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
        return out

    return f


def _glasses(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two dark lenses and a bridge over the eyes (FER-2013 faces have their eyes near row 18 of 48)."""
    out = img.copy()
    h, w = out.shape
    y = int(0.38 * h)
    for cx in (int(0.32 * w), int(0.68 * w)):
        cv2.ellipse(out, (cx, y), (int(0.14 * w), int(0.09 * h)), 0, 0, 360, 20, -1)
    cv2.line(out, (int(0.44 * w), y), (int(0.56 * w), y), 20, max(1, h // 24))
    return out


def _hand(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A skin-grey blob with finger-like edges over one cheek and the corner of the mouth."""
    out = img.copy()
    h, w = out.shape
    tone = int(np.median(img))
    cv2.ellipse(out, (int(0.78 * w), int(0.72 * h)), (int(0.26 * w), int(0.3 * h)), 20, 0, 360, tone, -1)
    for k in range(3):
        x = int((0.55 + 0.1 * k) * w)
        cv2.line(out, (x, int(0.5 * h)), (x + 2, int(0.95 * h)), max(0, tone - 40), 1)
    return out


def _mask(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A light surgical mask from the bridge of the nose to the chin."""
    out = img.copy()
    h, w = out.shape
    pts = np.array(
        [[int(0.12 * w), int(0.55 * h)], [int(0.5 * w), int(0.5 * h)], [int(0.88 * w), int(0.55 * h)],
         [int(0.8 * w), int(0.95 * h)], [int(0.2 * w), int(0.95 * h)]], np.int32
    )  # fmt: skip
    cv2.fillPoly(out, [pts], 215)
    return out


CONDITIONS: dict[str, Damage] = {
    "clean": lambda img, rng: img,
    "darker x0.5": _lut(lambda x: x * 0.5),
    "brighter +60": _lut(lambda x: x + 60),
    "contrast x0.5": _lut(lambda x: (x - x.mean()) * 0.5 + x.mean()),
    "contrast x0.25": _lut(lambda x: (x - x.mean()) * 0.25 + x.mean()),
    "blur sigma 1": _blur(1.0),
    "blur sigma 2": _blur(2.0),
    "noise std 10": _noise(10),
    "noise std 25": _noise(25),
    "JPEG q20": _jpeg(20),
    "JPEG q8": _jpeg(8),
    "dark glasses": _glasses,
    "hand": _hand,
    "mask": _mask,
    "rotate 10": _rotate(10),
    "rotate -20": _rotate(-20),
}


def stratified(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    share = n / len(labels)
    idx = []
    for c in range(len(EMOTIONS)):
        members = np.flatnonzero(labels == c)
        idx.extend(rng.choice(members, size=max(1, round(share * len(members))), replace=False))
    return np.sort(np.array(idx))


FER_OFFSET = 10
"""fer widens every face box by 10 pixels on each side (its default ``offsets``) before it crops."""


def fer_predict(fer: object, faces: np.ndarray) -> np.ndarray:
    """fer's label for each face, through its public API. The box given is the image less fer's own
    10-pixel widening, so that fer crops exactly the 48x48 face (as its model was trained on
    FER-2013) rather than the face inside a black frame."""
    out = []
    for face in faces:
        bgr = cv2.cvtColor(face, cv2.COLOR_GRAY2BGR)
        h, w = face.shape
        box = (FER_OFFSET, FER_OFFSET, w - 2 * FER_OFFSET, h - 2 * FER_OFFSET)
        found = fer.detect_emotions(bgr, face_rectangles=[box])  # type: ignore[attr-defined]
        emotions = found[0]["emotions"] if found else {}
        out.append(EMOTIONS.index(max(emotions, key=emotions.get)) if emotions else -1)
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/fer2013")
    ap.add_argument("--faces", type=int, default=1000)
    ap.add_argument("--models", nargs="*", default=["emolens-vgg-fer2013-int8", "emolens-vgg-fer2013-fp32"])
    ap.add_argument("--no-fer", action="store_true")
    ap.add_argument("--out", default="runs/robustness")
    ap.add_argument("--plot", default=None, help="also write the plot here (e.g. docs/images/robustness.png)")
    ap.add_argument("--replot", default=None, metavar="JSON", help="only draw the plot of an earlier run's JSON")
    args = ap.parse_args()
    if args.replot:  # e.g. when the run was made with .venv-fer, which has no matplotlib
        done = json.loads(Path(args.replot).read_text())
        names = list(next(iter(done["accuracy"].values())))
        for path in filter(None, (Path(args.replot).with_suffix(".png"), args.plot)):
            plot(done["accuracy"], names, Path(path), done["faces"])
        return
    test = load_split(args.data, "test")
    idx = stratified(test.labels, args.faces, 0)
    faces, truth = test.images[idx], test.labels[idx]
    predictors: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    for name in args.models:
        rec = Recognizer(name)
        predictors[name] = lambda x, rec=rec: rec.predict_faces(x).argmax(1)  # type: ignore[misc]
    fer_version = None
    if not args.no_fer:
        loaded = _load_fer()
        if loaded is not None:
            fer_model, fer_version = loaded
            predictors[f"fer {fer_version}"] = lambda x: fer_predict(fer_model, x)
    table: dict[str, dict[str, float]] = {}
    for cond, damage in CONDITIONS.items():
        rng = np.random.default_rng(1)
        damaged = np.stack([damage(f, rng) for f in faces])
        table[cond] = {name: float((pred(damaged) == truth).mean()) for name, pred in predictors.items()}
        print(cond, {k: round(v, 4) for k, v in table[cond].items()}, flush=True)
    print(system_line())
    names = list(predictors)
    print(f"{len(faces)} PrivateTest faces (stratified sample, seed 0)")
    print(f"| condition | {' | '.join(names)} |")
    print(f"|---|{'---:|' * len(names)}")
    for cond, row in table.items():
        print(f"| {cond} | {' | '.join(f'{row[n]:.3f}' for n in names)} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "robustness.json").write_text(
        json.dumps({**provenance(), "faces": len(faces), "fer": fer_version, "accuracy": table}, indent=2)
    )
    examples = np.vstack(
        [np.hstack([CONDITIONS[c](faces[i], np.random.default_rng(1)) for c in CONDITIONS]) for i in range(3)]
    )
    cv2.imwrite(str(out / "examples.png"), cv2.resize(examples, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST))
    try:
        for path in filter(None, (out / "robustness.png", args.plot)):
            plot(table, names, Path(path), len(faces))
    except ImportError:
        print(f"no matplotlib here: draw the plot with: python {__file__} --replot {out / 'robustness.json'}")


def plot(table: dict[str, dict[str, float]], names: list[str], path: Path, n: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conds = list(table)
    x = np.arange(len(conds))
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(13, 4.5))
    for k, name in enumerate(names):
        ax.bar(x + (k - (len(names) - 1) / 2) * width, [table[c][name] for c in conds], width, label=name)
    ax.set_xticks(x, conds, rotation=35, ha="right")
    ax.set_ylabel(f"accuracy ({n} PrivateTest faces)")
    ax.set_ylim(0, 0.8)
    ax.axhline(1 / 7, color="gray", linewidth=0.8, linestyle=":")
    ax.legend()
    ax.set_title("Accuracy under image damage")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
