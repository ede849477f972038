"""Load test of the live WebSocket of `emolens serve`: round-trip times, dropping, and server memory.

Starts `emolens serve --port 0` on 127.0.0.1 as a subprocess (reads the address it prints), then,
for each connection count (default 1, then 4), opens that many WebSocket clients that send
640x480 JPEG frames of a real clip (../shared/media/pyfeat_single_face.mp4, resized, looped):

* ``--mode rtt``: one frame in flight per client, as the page does; reports the round-trip time
  (send -> answer) p50 / p95 / max and the server's processing time.
* ``--mode flood``: each client sends at a fixed rate (``--fps``) without waiting; reports frames
  answered, dropped by the server (it keeps only the newest frame per connection), and errors.

The server's resident memory is sampled from /proc/PID/status every second: start (after the
model is loaded), peak and end, and whether it grew after the first 10 s. Loopback only. Caps:
8 connections, 120 s per phase, ``--max-requests`` frames in all.

    nice -n 19 .venv/bin/python benchmarks/web_load.py --mode both --duration 20 --json runs/web_load.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = Path(os.environ.get("EMOLENS_SHARED", ROOT.parent / "shared")) / "media" / "pyfeat_single_face.mp4"
MAX_CONNECTIONS = 8
MAX_DURATION_S = 120.0
MAX_REQUESTS = 20_000
FRAME_SIZE = (640, 480)
JPEG_QUALITY = 80
GROWTH_WARMUP_S = 10.0
GROWTH_THRESHOLD_MB = 20.0
ADDRESS = re.compile(r"^emolens: serving on (http://127\.0\.0\.1:(\d+)/)\S*$")


# ---------------------------------------------------------------------- frames


def load_frames(clip: Path, size: tuple[int, int] = FRAME_SIZE, quality: int = JPEG_QUALITY) -> list[bytes]:
    """Every frame of ``clip``, resized to ``size`` and JPEG-encoded (what a browser would send)."""
    import cv2

    cap = cv2.VideoCapture(str(clip))
    frames = []
    try:
        while True:
            ok, img = cap.read()
            if not ok:
                break
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            frames.append(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes())
    finally:
        cap.release()
    if not frames:
        raise SystemExit(f"web_load: cannot read frames from {clip}")
    return frames


# ---------------------------------------------------------------------- the server


class RssSampler(threading.Thread):
    """Samples VmRSS of a process from /proc every ``interval`` seconds: (seconds since start, MiB)."""

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._halt = threading.Event()
        self._t0 = time.monotonic()

    def read(self) -> float | None:
        try:
            with open(f"/proc/{self.pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024.0
        except OSError:
            return None
        return None

    def run(self) -> None:
        while True:
            rss = self.read()
            if rss is not None:
                self.samples.append((time.monotonic() - self._t0, rss))
            if self._halt.wait(self.interval):
                return

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def now(self) -> float:
        return time.monotonic() - self._t0

    def window(self, start: float, end: float) -> dict[str, Any]:
        """RSS during one phase: at its start, 10 s in, its peak and end, and the growth after 10 s."""
        inside = [(t, r) for t, r in self.samples if start <= t <= end + self.interval]
        if not inside:
            return {}
        rss = [r for _, r in inside]
        after = [r for t, r in inside if t >= start + GROWTH_WARMUP_S]
        out: dict[str, Any] = {"start_mb": round(rss[0], 1), "peak_mb": round(max(rss), 1), "end_mb": round(rss[-1], 1)}
        if len(after) >= 2:
            out["at_10s_mb"] = round(after[0], 1)
            out["growth_after_10s_mb"] = round(max(after) - after[0], 1)
        return out

    def report(self) -> dict[str, Any]:
        if not self.samples:
            return {"start_mb": None, "peak_mb": None, "end_mb": None}
        rss = [r for _, r in self.samples]
        after = [r for t, r in self.samples if t >= GROWTH_WARMUP_S]
        out: dict[str, Any] = {
            "start_mb": round(rss[0], 1),
            "peak_mb": round(max(rss), 1),
            "end_mb": round(rss[-1], 1),
            "samples": len(rss),
            "interval_s": self.interval,
        }
        if len(after) >= 2:
            growth = max(after) - after[0]
            out["at_10s_mb"] = round(after[0], 1)
            out["growth_after_10s_mb"] = round(growth, 1)
            out["grew_after_10s"] = growth > GROWTH_THRESHOLD_MB
            out["growth_threshold_mb"] = GROWTH_THRESHOLD_MB
        else:
            out["grew_after_10s"] = None  # the run was shorter than 10 s
        return out


class Server:
    """`emolens serve --port 0` on 127.0.0.1 as a subprocess; ``url`` once it listens."""

    def __init__(self, extra_args: list[str] | None = None, timeout: float = 120.0) -> None:
        self.command = [sys.executable, "-m", "emolens", "serve", "--host", "127.0.0.1", "--port", "0"]
        self.command += extra_args or []
        env = {k: v for k, v in os.environ.items() if k != "EMOLENS_TOKEN"}
        self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.stderr: deque[str] = deque(maxlen=50)
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()
        line = self._first_line(timeout)
        m = ADDRESS.match(line)
        if not m:
            self.close()
            raise SystemExit(f"web_load: the server did not start: {line!r}; {''.join(self.stderr)}")
        self.url = m.group(1)
        self.ws_url = self.url.replace("http://", "ws://") + "api/v1/stream"

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def _first_line(self, timeout: float) -> str:
        out: list[str] = []
        assert self.proc.stdout is not None
        reader = threading.Thread(target=lambda: out.append(self.proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        return out[0].strip() if out else ""

    def close(self) -> int:
        """Stop it with SIGINT (as Ctrl+C); its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._drain.join(10)  # standard error is read by its own thread only
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        return self.proc.returncode


# ---------------------------------------------------------------------- clients


class Budget:
    """The total number of frames all clients may still send."""

    def __init__(self, total: int) -> None:
        self.left = total

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


@dataclass
class ClientStats:
    sent: int = 0
    answered: int = 0
    errors: int = 0
    dropped: int = 0
    last_answered_is_last_sent: bool = True
    in_order: bool = True
    rtt_ms: list[float] = field(default_factory=list)
    processing_ms: list[float] = field(default_factory=list)
    failure: str | None = None


def _note(stats: ClientStats, msg: dict[str, Any], last_frame: list[int]) -> None:
    if msg.get("type") == "result":
        stats.answered += 1
        stats.processing_ms.append(float(msg["processing_ms"]))
    else:
        stats.errors += 1
    if isinstance(msg.get("frame"), int):
        if msg["frame"] <= last_frame[0]:
            stats.in_order = False
        last_frame[0] = msg["frame"]
    stats.dropped = int(msg.get("dropped", stats.dropped))


async def rtt_client(url: str, frames: list[bytes], duration_s: float, budget: Budget, offset: int) -> ClientStats:
    """One frame in flight: send, wait for its answer, send the next (as the page does)."""
    from websockets.asyncio.client import connect

    stats = ClientStats()
    last = [-1]
    try:
        async with connect(url, max_size=None, compression=None) as ws:
            end = time.perf_counter() + duration_s
            while time.perf_counter() < end and budget.take():
                t = time.perf_counter()
                await ws.send(frames[(offset + stats.sent) % len(frames)])
                stats.sent += 1
                msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
                stats.rtt_ms.append((time.perf_counter() - t) * 1000.0)
                _note(stats, msg, last)
                if msg.get("frame") != stats.sent - 1:
                    stats.last_answered_is_last_sent = False
    except Exception as e:  # a refused or broken connection is a result, not a crash of the benchmark
        stats.failure = f"{type(e).__name__}: {e}"
    return stats


async def flood_client(
    url: str, frames: list[bytes], duration_s: float, fps: float, budget: Budget, offset: int
) -> ClientStats:
    """Send at ``fps`` without waiting; count what comes back; at the end wait for the last frame's answer."""
    from websockets.asyncio.client import connect

    stats = ClientStats()
    last = [-1]
    heard = asyncio.Event()
    try:
        async with connect(url, max_size=None, compression=None) as ws:

            async def receive() -> None:
                async for raw in ws:
                    _note(stats, json.loads(raw), last)
                    heard.set()

            receiver = asyncio.create_task(receive())
            try:
                start = time.perf_counter()
                while time.perf_counter() - start < duration_s and not receiver.done() and budget.take():
                    await ws.send(frames[(offset + stats.sent) % len(frames)])
                    stats.sent += 1
                    await asyncio.sleep(max(0.0, start + stats.sent / fps - time.perf_counter()))
                # the server always answers the newest frame: wait for it
                while last[0] < stats.sent - 1 and not receiver.done():
                    heard.clear()
                    await asyncio.wait_for(heard.wait(), 30)
            finally:
                receiver.cancel()
                await asyncio.gather(receiver, return_exceptions=True)
            stats.last_answered_is_last_sent = last[0] == stats.sent - 1
    except Exception as e:  # a refused or broken connection (or no answer in 30 s) is a result
        stats.failure = f"{type(e).__name__}: {e}"
        stats.last_answered_is_last_sent = False
    return stats


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


async def run_phase(
    url: str, mode: str, connections: int, frames: list[bytes], duration_s: float, fps: float, budget: Budget
) -> dict[str, Any]:
    step = max(1, len(frames) // connections)  # the clients show different moments of the clip
    t = time.perf_counter()
    if mode == "rtt":
        tasks = [rtt_client(url, frames, duration_s, budget, i * step) for i in range(connections)]
    else:
        tasks = [flood_client(url, frames, duration_s, fps, budget, i * step) for i in range(connections)]
    clients = await asyncio.gather(*tasks)
    wall = time.perf_counter() - t
    rtt = [x for c in clients for x in c.rtt_ms]
    proc = [x for c in clients for x in c.processing_ms]
    answered = sum(c.answered for c in clients)
    return {
        "mode": mode,
        "connections": connections,
        "duration_s": round(wall, 2),
        "fps_per_connection": fps if mode == "flood" else None,
        "sent": sum(c.sent for c in clients),
        "answered": answered,
        "dropped": sum(c.dropped for c in clients),
        "errors": sum(c.errors for c in clients),
        "failures": [c.failure for c in clients if c.failure],
        "answers_per_s": round(answered / wall, 2) if wall > 0 else None,
        "in_order": all(c.in_order for c in clients),
        "last_frame_answered": all(c.last_answered_is_last_sent for c in clients),
        "rtt_ms": {"p50": _pct(rtt, 50), "p95": _pct(rtt, 95), "max": round(max(rtt), 2) if rtt else None},
        "processing_ms": {"p50": _pct(proc, 50), "p95": _pct(proc, 95)},
    }


# ---------------------------------------------------------------------- the run


def run_load(
    connections: list[int],
    modes: list[str],
    duration_s: float = 20.0,
    fps: float = 30.0,
    max_requests: int = MAX_REQUESTS,
    clip: Path = DEFAULT_CLIP,
    server_args: list[str] | None = None,
    rss_interval: float = 1.0,
) -> dict[str, Any]:
    """Start the server, run every (mode, connection count) phase in turn, stop it; the results."""
    if not connections or any(not 1 <= n <= MAX_CONNECTIONS for n in connections):
        raise ValueError(f"connections must lie in 1-{MAX_CONNECTIONS}, got {connections}")
    if not 0 < duration_s <= MAX_DURATION_S:
        raise ValueError(f"the duration must lie in (0, {MAX_DURATION_S:g}] s, got {duration_s}")
    if any(m not in ("rtt", "flood") for m in modes) or not modes:
        raise ValueError(f"modes are rtt and flood, got {modes}")
    if not 0 < max_requests <= 10 * MAX_REQUESTS or not 0 < fps <= 120:
        raise ValueError("max_requests must lie in 1-200000 and fps in (0, 120]")
    frames = load_frames(clip)
    server = Server(server_args)
    sampler = RssSampler(server.proc.pid, rss_interval)
    sampler.start()
    budget = Budget(max_requests)
    phases = []
    try:
        for mode in modes:
            for n in connections:
                start = sampler.now()
                phase = _run_async(run_phase, server.ws_url, mode, n, frames, duration_s, fps, budget)
                phase["rss"] = sampler.window(start, sampler.now())
                phases.append(phase)
    finally:
        try:
            sampler.stop()
        finally:
            status = server.close()
    return {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(),
        "system": _system(),
        "server_command": shlex.join(["python", *server.command[1:]]),
        "server_exit_status": status,
        "clip": str(clip),
        "frames": {
            "count": len(frames),
            "size": list(FRAME_SIZE),
            "jpeg_quality": JPEG_QUALITY,
            "mean_kb": round(sum(map(len, frames)) / len(frames) / 1024, 1),
        },
        "caps": {
            "max_connections": MAX_CONNECTIONS,
            "max_duration_s": MAX_DURATION_S,
            "max_requests": max_requests,
            "requests_left": budget.left,
        },
        "phases": phases,
        "rss": sampler.report(),
    }


def _run_async(fn: Any, *args: Any) -> Any:
    """``asyncio.run(fn(*args))`` on a thread of its own: works even where this thread already runs an
    event loop (a notebook, or a test session that holds Playwright's sync API)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="web-load") as pool:
        return pool.submit(lambda: asyncio.run(fn(*args))).result()


def _system() -> dict[str, Any]:
    from emolens.info import system_info

    return system_info()


def _machine() -> str:
    try:
        from emolens.bench import machine_description

        return machine_description()
    except ImportError:  # pragma: no cover
        import platform

        return f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs"


def print_table(result: dict[str, Any]) -> None:
    print(
        f"{'mode':5s} {'conn':>4s} {'secs':>5s} {'sent':>6s} {'answered':>8s} {'dropped':>7s} {'errors':>6s} "
        f"{'ans/s':>6s} {'rtt p50':>7s} {'p95':>6s} {'max':>6s} {'proc p50':>8s}"
    )

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    for p in result["phases"]:
        r, pr = p["rtt_ms"], p["processing_ms"]
        print(
            f"{p['mode']:5s} {p['connections']:4d} {p['duration_s']:5.1f} {p['sent']:6d} {p['answered']:8d} "
            f"{p['dropped']:7d} {p['errors']:6d} {p['answers_per_s'] or 0:6.1f} {ms(r['p50']):>7s} "
            f"{ms(r['p95']):>6s} {ms(r['max']):>6s} {ms(pr['p50']):>8s}"
        )
        for failure in p["failures"]:
            print(f"      client failure: {failure}")
        if p.get("rss"):
            m = p["rss"]
            grow = f", then {m['growth_after_10s_mb']:+.1f} MiB after its first 10 s" if "at_10s_mb" in m else ""
            print(f"      server RSS {m['start_mb']} -> peak {m['peak_mb']}, end {m['end_mb']} MiB{grow}")
    rss = result["rss"]
    growths = [p["rss"]["growth_after_10s_mb"] for p in result["phases"] if "growth_after_10s_mb" in p.get("rss", {})]
    verdict = (
        "no phase lasted 10 s"
        if not growths
        else (
            f"{'GREW' if max(growths) > GROWTH_THRESHOLD_MB else 'flat'} within each phase after its first 10 s "
            f"(at most {max(growths):+.1f} MiB, threshold {GROWTH_THRESHOLD_MB:g})"
        )
    )
    print(f"server RSS: start {rss['start_mb']} MiB, peak {rss['peak_mb']} MiB, end {rss['end_mb']} MiB; {verdict}")
    print(f"machine: {result['machine']}; {result['date']}")
    from emolens.info import system_line

    print(system_line(result["system"]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connections", default="1,4", help=f"comma-separated connection counts, each 1-{MAX_CONNECTIONS}")
    p.add_argument("--mode", default="rtt", choices=["rtt", "flood", "both"])
    p.add_argument("--duration", type=float, default=20.0, help=f"seconds per phase (at most {MAX_DURATION_S:g})")
    p.add_argument("--fps", type=float, default=30.0, help="frames per second per connection in flood mode")
    p.add_argument("--max-requests", type=int, default=MAX_REQUESTS, help="frames sent in all, at most")
    p.add_argument("--clip", type=Path, default=DEFAULT_CLIP, help="the video whose frames are sent")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--server-arg", action="append", default=[], help="extra argument for emolens serve (repeatable)")
    args = p.parse_args(argv)
    if not args.clip.is_file():
        p.error(f"clip not found: {args.clip} (set EMOLENS_SHARED or --clip)")
    try:
        connections = [int(x) for x in args.connections.split(",") if x.strip()]
        result = run_load(
            connections,
            ["rtt", "flood"] if args.mode == "both" else [args.mode],
            duration_s=args.duration,
            fps=args.fps,
            max_requests=args.max_requests,
            clip=args.clip,
            server_args=args.server_arg,
        )
    except ValueError as e:
        p.error(str(e))
    print_table(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
