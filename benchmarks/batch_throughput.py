"""Throughput of batch runs: videos per minute and frames per second on 1 and 2 local workers and on
a local Ray with 2 CPUs, the cost of Ray over the local pool, and each worker's peak memory.

The shared clips (``../shared/media/*.mp4``) are copied ``--copies`` times into a temporary
folder and each setting analyses them into a fresh output folder with the default options (the
real-time settings of ``emolens video``). For each it reports:

- ``wall_s``: the whole run, from the call to the data set written (workers starting and loading
  the model included; for Ray, starting Ray itself is ``ray_init_s``, reported apart),
- ``videos_per_min``, ``fps``: videos and frames over ``wall_s``,
- ``worker_fps``: frames over the time the workers spent on the videos (no start-up),
- ``cpu_fps``: frames over the CPU time the workers used on them: what one core does when
  nothing else runs on it, the figure least disturbed by other work on a shared machine and the
  one the capacity plan scales,
- ``peak_rss_mb``: the largest peak resident memory of a worker process.

``--p720`` also measures one worker on a 1280x720 clip made by upscaling ``pyfeat_single_face.mp4``
(640x360) with the project's own encoder (H.264), against the same clip at 640x360, since the
shared clips are 640x360 or smaller, and prints a capacity plan for 1,000 hours of 720p video at
30 frames per second. The machine and its load average are printed and kept in the JSON: on a
shared machine, ``--repeat R`` keeps the fastest of R runs of each setting.

Usage: python benchmarks/batch_throughput.py [--copies N] [--workers 1,2] [--no-ray] [--p720] [--repeat R] [--json FILE]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"
HOURS = 1000
PLAN_FPS = 30.0
PLAN_CORES = (8, 16, 32, 64, 128)


def copy_clips(clips: list[Path], copies: int, dest: Path) -> int:
    """``copies`` copies of each clip in ``dest``; the number of videos."""
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(copies):
        for c in clips:
            shutil.copy(c, dest / f"{c.stem}-{i}{c.suffix}")
    return copies * len(clips)


def upscale(src: Path, dest: Path, width: int = 1280, height: int = 720) -> Path:
    """``src`` resized to ``width`` x ``height`` (H.264, same frame rate, no sound)."""
    import cv2

    from emolens.video.encode import VideoEncoder
    from emolens.video.source import open_source

    with open_source(src) as s:
        enc = VideoEncoder(dest, s.fps or 30.0)
        for f in s:
            enc.write(cv2.resize(f.image, (width, height), interpolation=cv2.INTER_CUBIC), f.time_s)
        enc.close()
    return dest


def worker_speed(out: Path) -> tuple[float, float]:
    """Frames over the workers' own wall time on the videos, and over their CPU time (the run's table)."""
    frames = seconds = cpu = 0.0
    with open(out / "videos.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r["state"] == "done":
                frames += int(r["frames"])
                seconds += float(r["seconds"])
                cpu += float(r["cpu_seconds"])
    return (frames / seconds if seconds else 0.0), (frames / cpu if cpu else 0.0)


def measure(name: str, folder: Path, out: Path, repeat: int = 1, **kw: Any) -> dict[str, Any]:
    """Run the videos of ``folder`` ``repeat`` times (each into a fresh folder); the fastest run's figures."""
    from emolens.batch.run import analyze_videos

    best: tuple[float, Any, Path] | None = None
    for i in range(repeat):
        dest = out.with_name(f"{out.name}-{i}")
        t = time.perf_counter()
        s = analyze_videos(folder, out=dest, **kw)
        wall = time.perf_counter() - t
        if s.failed:
            raise SystemExit(f"{name}: {s.failed} videos failed: {s.failures}")
        if best is None or wall < best[0]:
            best = (wall, s, dest)
    assert best is not None
    wall, s, dest = best
    wfps, cfps = worker_speed(dest)
    row = {
        "setting": name,
        "videos": s.analysed,
        "frames": s.frames,
        "wall_s": round(wall, 2),
        "videos_per_min": round(60 * s.analysed / wall, 1),
        "fps": round(s.frames / wall, 1),
        "worker_fps": round(wfps, 1),
        "cpu_fps": round(cfps, 1),
        "peak_rss_mb": s.peak_rss_mb,
        "repeats": repeat,
    }
    print(
        f"  {name:26s} {row['videos']:4d} {row['frames']:7d} {row['wall_s']:7.2f} {row['videos_per_min']:10.1f} "
        f"{row['fps']:7.1f} {row['worker_fps']:10.1f} {row['cpu_fps']:8.1f} {row['peak_rss_mb'] or 0:7.0f}",
        flush=True,
    )
    return row


def plan_720p(sd: dict[str, Any], hd: dict[str, Any]) -> dict[str, Any]:
    """Core-hours and wall hours for :data:`HOURS` of 720p video, from one core's 720p frames per CPU second."""
    frames = HOURS * 3600 * PLAN_FPS
    core_h = frames / hd["cpu_fps"] / 3600
    return {
        "hours_of_video": HOURS,
        "fps_of_video": PLAN_FPS,
        "frames": frames,
        "cpu_fps_720p": hd["cpu_fps"],
        "cpu_fps_360p_same_clip": sd["cpu_fps"],
        "cost_720p_over_360p": round(sd["cpu_fps"] / hd["cpu_fps"], 2),
        "core_hours": round(core_h),
        "wall_hours_on": {c: round(core_h / c, 1) for c in PLAN_CORES},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--media", default=str(MEDIA), help="folder of the clips (*.mp4)")
    p.add_argument("--copies", type=int, default=2, help="copies of each clip (default 2: 8 videos)")
    p.add_argument("--workers", default="1,2", help="local pool sizes to measure (default 1,2)")
    p.add_argument("--no-ray", action="store_true", help="leave out the local Ray")
    p.add_argument("--ray-cpus", type=int, default=2, help="CPUs of the local Ray (default 2)")
    p.add_argument("--p720", action="store_true", help="also one worker on an upscaled 1280x720 clip, and the plan")
    p.add_argument("--repeat", type=int, default=1, help="runs of each setting; the fastest counts (default 1)")
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args(argv)

    from emolens.bench import describe_machine, machine_record, provenance
    from emolens.io import write_json

    clips = sorted(Path(args.media).glob("*.mp4"))
    if not clips:
        raise SystemExit(f"no clips in {args.media}")
    before = machine_record()
    rows: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="emolens-batch-bench-") as tmp:
        root = Path(tmp)
        n = copy_clips(clips, args.copies, root / "videos")
        print(f"{n} videos: {args.copies} copies of {', '.join(c.name for c in clips)}")
        print(
            f"  {'setting':26s} {'vids':>4s} {'frames':>7s} {'wall s':>7s} {'videos/min':>10s} {'fps':>7s} "
            f"{'worker fps':>10s} {'cpu fps':>8s} {'RSS MB':>7s}"
        )
        for w in (int(x) for x in args.workers.split(",")):
            name = f"local, {w} worker{'s' if w > 1 else ''}"
            rows.append(measure(name, root / "videos", root / f"out-{w}", args.repeat, workers=w))
        if not args.no_ray:
            import ray

            t = time.perf_counter()
            ray.init(num_cpus=args.ray_cpus, include_dashboard=False, logging_level="ERROR")
            extra["ray_init_s"] = round(time.perf_counter() - t, 2)
            try:
                name = f"Ray, {args.ray_cpus} CPUs"
                rows.append(measure(name, root / "videos", root / "out-ray", args.repeat, ray=True))
            finally:
                ray.shutdown()
            local = next((r for r in rows if r["setting"] == f"local, {args.ray_cpus} workers"), None)
            if local is not None:
                wall = rows[-1]["wall_s"]
                extra["ray_overhead"] = round(wall / local["wall_s"] - 1, 3)
                extra["ray_overhead_with_init"] = round((wall + extra["ray_init_s"]) / local["wall_s"] - 1, 3)
                print(
                    f"Ray over the local pool of {args.ray_cpus}: {100 * extra['ray_overhead']:+.0f}% wall time "
                    f"({100 * extra['ray_overhead_with_init']:+.0f}% counting ray.init, {extra['ray_init_s']:.1f} s)"
                )
        if args.p720:
            src = Path(args.media) / "pyfeat_single_face.mp4"
            (root / "p360").mkdir()
            (root / "p720").mkdir()
            upscale(src, root / "p720" / "pyfeat_720p-0.mp4")
            for i in range(3):
                shutil.copy(src, root / "p360" / f"pyfeat_360p-{i}.mp4")
                if i:
                    shutil.copy(root / "p720" / "pyfeat_720p-0.mp4", root / "p720" / f"pyfeat_720p-{i}.mp4")
            sd = measure("pyfeat 640x360, 1 worker", root / "p360", root / "out-360", args.repeat, workers=1)
            hd = measure("pyfeat 1280x720, 1 worker", root / "p720", root / "out-720", args.repeat, workers=1)
            rows.extend([sd, hd])
            plan = extra["plan_720p"] = plan_720p(sd, hd)
            print(
                f"720p: {hd['cpu_fps']:.1f} frames per CPU second ({plan['cost_720p_over_360p']:.2f}x the cost of "
                f"the same clip at 640x360); {HOURS:,} h at {PLAN_FPS:.0f} fps = {plan['frames']:,.0f} frames = "
                f"{plan['core_hours']:,} core-hours: "
                + ", ".join(f"{c} cores {h:,.1f} h" for c, h in plan["wall_hours_on"].items())
            )
    after = machine_record()
    print(describe_machine(after))
    if args.json:
        write_json(args.json, {**provenance(), "machine_before": before, "machine_after": after, "rows": rows, **extra})
    return 0


if __name__ == "__main__":
    sys.exit(main())
