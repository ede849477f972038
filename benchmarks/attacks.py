"""The decode attacks of issue 11, each in a subprocess of its own: outcome, time, peak memory.

Attacks (the files are made by ``tests/bombs.py``, in a temporary folder):

* ``png16-bomb``: a 280 kB PNG, 6000x6000 16-bit RGBA (36 M pixels, under the 40 M pixel limit),
  through the web app's ``analyze_image`` (what ``POST /api/v1/analyze`` runs);
* ``png8-x4``: four 6000x6000 8-bit RGB PNGs (within every limit) analysed at once on four threads,
  as four concurrent requests;
* ``scan-bomb``: a 507 kB progressive JPEG, 6000x6000 with its last scan repeated 5,000 times,
  through ``analyze_image``;
* ``cli-30000``: a real 30000x30000 gray PNG (0.9 MB) given to ``emolens image`` (``cli.main``);
* ``video-16000``: an MJPEG AVI announcing 64x64 frames that carries two 16000x16000 ones,
  uploaded to ``POST /api/v1/videos`` of the real app (TestClient), its job followed to the end.

Each runs in a fresh ``python`` (``--run NAME FILE``) whose address space is capped at
``--cap-gb`` (default 12) so that a runaway allocation fails in the child rather than wake the
OOM killer. Columns: the outcome (HTTP status, exit code and message, or the exception), the
attack's wall time, the child's peak resident memory (``ru_maxrss``), what the attack added to
the memory the child had before it (model loaded), and what it kept once done (resident memory
after, less the same baseline).

Results are kept in ``--json`` (default ``runs/attacks.json``) under ``--label``, so that the same
script run against the code before the fix fills in the other column::

    git worktree add /tmp/before 76a6b65
    PYTHONPATH=/tmp/before/src .venv/bin/python benchmarks/attacks.py --label before
    .venv/bin/python benchmarks/attacks.py --label after
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

ATTACKS = ("png16-bomb", "png8-x4", "scan-bomb", "cli-30000", "video-16000")
MAX_PIXELS = 40_000_000  # the server's default limit
TIMEOUT_S = 600


# ---------------------------------------------------------------------- the files


def make_file(name: str, folder: Path) -> Path:
    """The attack file of ``name`` in ``folder``."""
    from bombs import png16_rgba, progressive_scan_bomb, small_header_video, zero_png

    if name == "png16-bomb":
        path = folder / "bomb16.png"
        path.write_bytes(png16_rgba(6000, 6000))
    elif name == "png8-x4":
        path = folder / "rgb8.png"
        path.write_bytes(zero_png(6000, 6000, depth=8, colour=2))
    elif name == "scan-bomb":
        path = folder / "scans.jpg"
        path.write_bytes(progressive_scan_bomb(6000, 6000, 5000))
    elif name == "cli-30000":
        path = folder / "huge.png"
        path.write_bytes(zero_png(30000, 30000))
    elif name == "video-16000":
        path = small_header_video(folder / "lying.avi", header=64, big=16000, small_frames=2, big_frames=2, gray=True)
    else:
        raise SystemExit(f"unknown attack {name!r}; choose from {', '.join(ATTACKS)}")
    return path


# ---------------------------------------------------------------------- in the child


def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _analyze(data: bytes, rec: Any, pool: Any) -> str:
    from emolens.web.decode import BadImage
    from emolens.web.images import analyze_image

    try:
        result = analyze_image(data, rec, pool, MAX_PIXELS)
    except BadImage as e:
        return f"HTTP {e.status}: {e.detail}"
    return f"HTTP 200 ({len(result['faces'])} faces, {result['width']}x{result['height']})"


def run_child(name: str, path: Path) -> dict[str, Any]:
    """Run one attack here and now; its record."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    data = path.read_bytes()
    outcome = ""
    if name in ("png16-bomb", "png8-x4", "scan-bomb"):
        from emolens.runtime.recognizer import Recognizer
        from emolens.web.images import DetectorPool

        rec, pool = Recognizer(threads=1), DetectorPool("haar")
        pool.create()
        base_rss, base_peak = rss_mib(), maxrss_mib()
        t = time.perf_counter()
        if name == "png8-x4":
            outcomes: list[str] = []
            threads = [threading.Thread(target=lambda: outcomes.append(_analyze(data, rec, pool))) for _ in range(4)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            outcome = "; ".join(sorted(set(outcomes))) + (f" x{len(outcomes)}" if len(set(outcomes)) == 1 else "")
        else:
            outcome = _analyze(data, rec, pool)
        took = time.perf_counter() - t
    elif name == "cli-30000":
        import contextlib
        import io

        import cv2  # noqa: F401 - loaded before the baseline, as for the other attacks
        import onnxruntime  # noqa: F401

        from emolens.cli import main

        base_rss, base_peak = rss_mib(), maxrss_mib()
        err = io.StringIO()
        t = time.perf_counter()
        try:
            with contextlib.redirect_stderr(err):
                code = main(["image", str(path)])
            outcome = f"exit {code}: {err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else ''}"
        except BaseException as e:  # the traceback the issue reported
            outcome = f"traceback: {type(e).__module__}.{type(e).__name__}: {str(e).strip().splitlines()[-1][:160]}"
        took = time.perf_counter() - t
    elif name == "video-16000":
        from fastapi.testclient import TestClient

        from emolens.runtime.recognizer import Recognizer
        from emolens.web.app import create_app
        from emolens.web.settings import ServeOptions

        with TestClient(create_app(ServeOptions(), Recognizer(threads=1)), base_url="http://127.0.0.1:8000") as c:
            base_rss, base_peak = rss_mib(), maxrss_mib()
            t = time.perf_counter()
            r = c.post("/api/v1/videos", files={"file": (path.name, data, "video/x-msvideo")})
            if r.status_code != 202:
                outcome = f"HTTP {r.status_code}: {r.json().get('detail')}"
            else:
                job = r.json()["id"]
                info = r.json()
                while info["status"] not in ("done", "failed") and time.perf_counter() - t < TIMEOUT_S:
                    time.sleep(0.05)
                    info = c.get(f"/api/v1/videos/{job}").json()
                outcome = f"HTTP 202, job {info['status']}" + (f": {info['error']}" if info.get("error") else "")
            took = time.perf_counter() - t
    else:
        raise SystemExit(f"unknown attack {name!r}")
    gc.collect()
    return {
        "attack": name,
        "file_bytes": len(data),
        "outcome": outcome,
        "time_s": round(took, 3),
        "peak_mib": round(maxrss_mib(), 1),
        "added_mib": round(maxrss_mib() - max(base_peak, base_rss), 1),
        "kept_mib": round(rss_mib() - base_rss, 1),
    }


# ---------------------------------------------------------------------- in the parent


def run_attack(name: str, path: Path, cap_gb: float) -> dict[str, Any]:
    """Run attack ``name`` on ``path`` in a fresh Python capped at ``cap_gb`` of address space."""
    cap = int(cap_gb * 2**30)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENCV_LOG_LEVEL": "ERROR"}
    t = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--run", name, str(path)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            env=env,
            preexec_fn=limit,  # noqa: PLW1509 - no threads in the parent
        )
    except subprocess.TimeoutExpired:
        return {"attack": name, "outcome": f"killed after the {TIMEOUT_S} s timeout", "time_s": TIMEOUT_S}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1][:200]
        return {
            "attack": name,
            "outcome": f"child died (exit {proc.returncode}): {tail}",
            "time_s": round(time.perf_counter() - t, 3),
        }
    record: dict[str, Any] = json.loads(lines[-1])
    return record


def table(runs: dict[str, dict[str, Any]]) -> str:
    head = f"{'attack':12s} {'run':7s} {'time s':>8s} {'peak MiB':>9s} {'added MiB':>10s} {'kept MiB':>9s}  outcome"
    rows = [head, "-" * len(head)]
    for name in ATTACKS:
        for label, run in runs.items():
            rec = next((r for r in run["attacks"] if r["attack"] == name), None)
            if rec is None:
                continue

            def num(key: str, fmt: str, rec: dict[str, Any] = rec) -> str:
                value = rec.get(key)
                return format(value, fmt) if isinstance(value, int | float) else "-"

            rows.append(
                f"{name:12s} {label:7s} {num('time_s', '8.2f')} {num('peak_mib', '9.0f')} "
                f"{num('added_mib', '10.0f')} {num('kept_mib', '9.0f')}  {rec['outcome'][:140]}"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", default="after", help="the column these results fill (e.g. before, after)")
    parser.add_argument("--json", default=str(ROOT / "runs" / "attacks.json"), help="results kept here, by label")
    parser.add_argument("--only", nargs="*", choices=ATTACKS, help="run only these attacks")
    parser.add_argument("--cap-gb", type=float, default=12.0, help="address space of each attack's process")
    parser.add_argument("--run", nargs=2, metavar=("NAME", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_child(args.run[0], Path(args.run[1]))))
        return

    import emolens
    from emolens.info import system_line

    out = Path(args.json)
    kept: dict[str, Any] = json.loads(out.read_text()) if out.is_file() else {}
    runs: dict[str, dict[str, Any]] = kept.get("runs", {})
    results = []
    with tempfile.TemporaryDirectory(prefix="emolens-attacks-") as tmp:
        for name in args.only or ATTACKS:
            path = make_file(name, Path(tmp))
            print(f"{name}: {path.stat().st_size:,} bytes ...", file=sys.stderr, flush=True)
            record = run_attack(name, path, args.cap_gb)
            print(f"  {record['outcome'][:160]} ({record.get('time_s')} s)", file=sys.stderr, flush=True)
            results.append(record)
            path.unlink()
    previous = {r["attack"]: r for r in runs.get(args.label, {}).get("attacks", [])}
    previous.update({r["attack"]: r for r in results})
    runs[args.label] = {
        "emolens": str(Path(emolens.__file__).resolve().parents[1]),
        "version": emolens.__version__,
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "attacks": [previous[n] for n in ATTACKS if n in previous],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    line = system_line()
    out.write_text(json.dumps({"system": line, "cap_gb": args.cap_gb, "runs": runs}, indent=2) + "\n")
    print(line)
    print(table(runs))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
