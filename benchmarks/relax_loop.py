"""The whole relaxation loop on one thread, from a 640x480 camera frame to the device commands.

The shared clips (../shared/media/*.mp4) play the camera: each frame is decoded and scaled to
640x480 outside the clock, as a camera would hand it over; then, timed, the analysis core
(detect or follow, crop, classify, smooth), the child's reading, one controller step and the
commands sent to the devices (``RelaxSession.tick``: the devices' state, the step, ``send``, the
heartbeat, the records). A session plays ``--scenario`` throughout. Prints p50/p95/p99 of the
whole and of its two halves, and writes them, with the machine, to ``--json``. This is the budget
a Raspberry Pi 4 class board must meet at the camera's frame rate.

Usage: python benchmarks/relax_loop.py [--threads 1] [--devices sim] [--json runs/relax_loop.json]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from bench_report import finish_benchmark

from emolens.analysis import Analyzer
from emolens.detect import create_detector
from emolens.relax.devices import create_devices
from emolens.relax.runner import RelaxSession
from emolens.relax.scenarios import load_scenario
from emolens.relax.sources import reading_from_faces
from emolens.runtime.recognizer import Recognizer

MEDIA = Path("../shared/media")
CLIPS = ("pyfeat_single_face.mp4", "fer_test.mp4", "fer_woman2.mp4", "facerec_short_hamilton_clip.mp4")
SIZE = (640, 480)
WARMUP = 20


def frames(clip: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(clip))
    out = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        out.append(cv2.resize(img, SIZE, interpolation=cv2.INTER_AREA))
    cap.release()
    return out


def q(values: list[float]) -> dict[str, float]:
    ms = np.array(values) * 1e3
    return {k: round(float(np.percentile(ms, v)), 3) for k, v in (("p50", 50), ("p95", 95), ("p99", 99))} | {
        "mean": round(float(ms.mean()), 3)
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: one per core)")
    p.add_argument("--detector", default="haar")
    p.add_argument("--devices", default="sim", help="sim, or mqtt://HOST:PORT")
    p.add_argument("--scenario", default="calm-evening")
    p.add_argument("--json", default="runs/relax_loop.json")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)

    rec = Recognizer(threads=args.threads)
    analyzer = Analyzer(rec, create_detector(args.detector))
    devices = create_devices(args.devices)
    session = RelaxSession(devices, load_scenario(args.scenario), child="bench")
    session.start()
    session.tick(None)
    total: list[float] = []
    analyze: list[float] = []
    control: list[float] = []
    faces = 0
    n = 0
    try:
        for name in CLIPS:
            clip = MEDIA / name
            if not clip.exists():
                sys.exit(f"missing {clip}: run from the repository with ../shared beside it")
            analyzer.reset()
            for i, img in enumerate(frames(clip)):
                t0 = time.perf_counter()
                result = analyzer.process(img, i, i / 30.0)
                reading = reading_from_faces(result.faces, session.clock())
                t1 = time.perf_counter()
                outcome = session.tick(reading)
                t2 = time.perf_counter()
                assert len(outcome.commands) == 3
                n += 1
                if n > WARMUP:
                    total.append(t2 - t0)
                    analyze.append(t1 - t0)
                    control.append(t2 - t1)
                    faces += reading.has_face
    finally:
        devices.close()

    res = {"frame_to_command": q(total), "analysis": q(analyze), "controller_and_devices": q(control)}
    t, a, c = res["frame_to_command"], res["analysis"], res["controller_and_devices"]
    print(
        f"{len(total)} frames at {SIZE[0]}x{SIZE[1]} ({faces} with a face), one thread for the loop, "
        f"model {rec.meta.name}, detector {args.detector}, devices {args.devices}"
    )
    print(f"frame -> device command: p50 {t['p50']:.2f} ms, p95 {t['p95']:.2f} ms, p99 {t['p99']:.2f} ms")
    print(f"  analysis:               p50 {a['p50']:.2f} ms, p95 {a['p95']:.2f} ms")
    print(f"  controller + devices:   p50 {c['p50']:.3f} ms, p95 {c['p95']:.3f} ms")
    finish_benchmark(
        "relax_loop",
        argv,
        args.json,
        {
            "frames": len(total),
            "frames_with_face": faces,
            "size": list(SIZE),
            "model": rec.meta.name,
            "detector": args.detector,
            "threads": args.threads,
            "devices": args.devices,
            "latency_ms": res,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
