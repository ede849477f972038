"""What batching the faces of a frame buys: one ``predict_faces`` call for all faces against one call each.

The faces are the Haar detections of the shared photos with several people (11 faces). Prints
the time per frame both ways (p50 over ``--repeats``).

Usage: python benchmarks/batching.py [--repeats 200] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from emolens.bench import machine_description
from emolens.detect import create_detector
from emolens.imageio import read_image
from emolens.info import system_line
from emolens.preprocess import crop
from emolens.runtime.recognizer import Recognizer

MEDIA = Path("../shared/media")
PHOTOS = ("pyfeat_multi_face.jpg", "oarriaga_test_image.jpg", "facerec_two_people.jpg")


def p50_ms(fn: Callable[[], object], repeats: int) -> float:
    for _ in range(5):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.percentile(times, 50)) * 1e3


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    rec = Recognizer(threads=args.threads)
    haar = create_detector("haar")
    for photo in PHOTOS:
        image = read_image(MEDIA / photo)
        faces = [crop(image, b) for b in haar.detect(image)]
        batched = p50_ms(lambda faces=faces: rec.predict_faces(faces), args.repeats)
        single = p50_ms(lambda faces=faces: [rec.predict_faces([f]) for f in faces], args.repeats)
        print(
            f"{photo}: {len(faces)} faces: batched {batched:.2f} ms, one call per face {single:.2f} ms "
            f"({single / batched:.1f}x)"
        )
    print(f"model {rec.meta.name}, tta {rec.tta}; machine: {machine_description()}")
    print(system_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
