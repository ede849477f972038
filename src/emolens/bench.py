"""Speed measurements reported by ``emolens bench``."""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass

import numpy as np

from emolens.runtime.recognizer import Recognizer


@dataclass(frozen=True)
class FaceBench:
    model: str
    tta: str
    faces: int
    face_size: int
    repeats: int
    threads: int | None
    p50_ms: float
    p95_ms: float
    faces_per_s: float
    machine: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def machine_description() -> str:
    import os

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


def bench_faces(
    recognizer: Recognizer, faces: int = 256, face_size: int = 48, repeats: int = 30, warmup: int = 3, seed: int = 0
) -> FaceBench:
    """Time ``predict_faces`` on a batch of ``faces`` gray crops of ``face_size`` pixels."""
    rng = np.random.default_rng(seed)
    batch = rng.integers(0, 256, (faces, face_size, face_size), dtype=np.uint8)
    for _ in range(warmup):
        recognizer.predict_faces(batch)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        recognizer.predict_faces(batch)
        times.append(time.perf_counter() - t)
    arr = np.array(times)
    p50 = float(np.percentile(arr, 50))
    return FaceBench(
        model=recognizer.meta.name,
        tta=recognizer.tta,
        faces=faces,
        face_size=face_size,
        repeats=repeats,
        threads=recognizer.threads,
        p50_ms=p50 * 1e3,
        p95_ms=float(np.percentile(arr, 95)) * 1e3,
        faces_per_s=faces / p50,
        machine=machine_description(),
    )
