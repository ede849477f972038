"""Event latency: from the frame that triggers an event to its delivery on each sink (p50/p95).

Plays the shared clips through the analysis (``stream()``) and the event rules, sending every event
to a JSON-lines file, a real mosquitto broker (started here, or ``--broker``) and a webhook receiver
on loopback, all at once, as ``emolens watch --jsonl F --mqtt URL --webhook URL`` does. Two
latencies per event and sink, on one clock (``time.perf_counter`` in this process, which also
hosts the MQTT subscriber and the webhook receiver):

- ``from_result``: from the moment the analysis returned the triggering frame's result to the
  delivery (the rules, the sink's queue, the network);
- ``from_read``: from the moment the triggering frame was asked for (reading and decoding it, the
  detection, tracking, recognition and smoothing included) to the delivery.

The rules run with zero hold times (``--hold 0``) so that a short clip makes many events; the
holds add waiting by design and do not change what a delivery costs. Every run also checks that
each sink got every event exactly once.

    python benchmarks/event_latency.py --repeat 3 --json runs/event_latency.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_report import finish_benchmark  # noqa: E402
from estop_latency import start_broker  # noqa: E402

from emolens.event.rules import EventRules  # noqa: E402
from emolens.event.sinks import JsonlSink, Sink, open_sink  # noqa: E402
from emolens.event.types import Event, EventOptions  # noqa: E402
from emolens.runtime.recognizer import Recognizer  # noqa: E402
from emolens.video.pipeline import stream  # noqa: E402

CLIPS = ("fer_test.mp4", "fer_woman2.mp4", "pyfeat_single_face.mp4", "facerec_short_hamilton_clip.mp4")


class Timed(JsonlSink):
    """The JSON-lines sink, noting when each event's line is written and flushed."""

    def __init__(self, path: Path, delivered: dict[tuple[str, int], float]) -> None:
        super().__init__(path)
        self.delivered = delivered

    def send(self, event: Event) -> None:
        super().send(event)
        self.delivered[(event.source, event.seq)] = time.perf_counter()


def webhook_receiver(delivered: dict[tuple[str, int], float], counts: dict[str, int]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            t = time.perf_counter()
            e = json.loads(body)
            key = (e["source"], e["seq"])
            counts["webhook"] = counts.get("webhook", 0) + 1
            delivered.setdefault(key, t)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def mqtt_listener(url: str, prefix: str, delivered: dict[tuple[str, int], float], counts: dict[str, int]) -> Any:
    from emolens.mqtt import make_client, parse_broker

    host, port = parse_broker(url)
    ready = threading.Event()
    client = make_client("event-latency-listener")
    client.on_connect = lambda c, u, f, rc, p: (c.subscribe(f"{prefix}/+", qos=1), ready.set())

    def on_message(c: Any, u: Any, msg: Any) -> None:
        t = time.perf_counter()
        e = json.loads(msg.payload)
        counts["mqtt"] = counts.get("mqtt", 0) + 1
        delivered.setdefault((e["source"], e["seq"]), t)

    client.on_message = on_message
    client.connect(host, port)
    client.loop_start()
    if not ready.wait(10):
        sys.exit("the benchmark's MQTT listener could not connect")
    time.sleep(0.3)
    return client


def stats(ms: list[float]) -> dict[str, float]:
    a = np.array(ms)
    return {"n": len(a), "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "max": float(a.max())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--media", default=str(Path(__file__).resolve().parents[2] / "shared" / "media"))
    p.add_argument("--repeat", type=int, default=3, help="play each clip this many times")
    p.add_argument("--hold", type=float, default=0.0, help="the rules' hold times, seconds")
    p.add_argument("--broker", default=None, help="use this broker instead of starting mosquitto")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    rec = Recognizer(threads=2)
    options = EventOptions(change_hold_s=args.hold, valence_hold_s=args.hold, sustained_s=max(args.hold, 0.5))
    sinks_delivered: dict[str, dict[tuple[str, int], float]] = {"jsonl": {}, "mqtt": {}, "webhook": {}}
    counts: dict[str, int] = {}
    trigger: dict[tuple[str, int], tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        broker = None
        url = args.broker
        if url is None:
            broker, url, _version = start_broker(Path(tmp))
        server = webhook_receiver(sinks_delivered["webhook"], counts)
        listener = mqtt_listener(url, "bench", sinks_delivered["mqtt"], counts)
        sinks: list[Sink] = [
            Timed(Path(tmp) / "events.jsonl", sinks_delivered["jsonl"]),
            open_sink(f"{url}/bench"),
            open_sink(f"http://127.0.0.1:{server.server_address[1]}/hook", secret="bench"),
        ]
        try:
            for n in range(args.repeat):
                for clip in CLIPS:
                    name = f"{clip}#{n}"
                    rules = EventRules(options, name)
                    with stream(str(Path(args.media) / clip), rec) as video:
                        it = iter(video)
                        while True:
                            t_read = time.perf_counter()
                            try:
                                result = next(it)
                            except StopIteration:
                                break
                            t_result = time.perf_counter()
                            for event in rules.frame(result):
                                trigger[(name, event.seq)] = (t_read, t_result)
                                for sink in sinks:
                                    sink.send(event)
                    t_end = time.perf_counter()
                    for event in rules.end():
                        trigger[(name, event.seq)] = (t_end, t_end)
                        for sink in sinks:
                            sink.send(event)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and any(len(d) < len(trigger) for d in sinks_delivered.values()):
                time.sleep(0.05)
        finally:
            for sink in sinks:
                sink.close()
            listener.loop_stop()
            listener.disconnect()
            server.shutdown()
            if broker is not None:
                broker.terminate()
                broker.wait(10)

    result: dict[str, Any] = {"events": len(trigger), "clips": list(CLIPS), "repeat": args.repeat, "hold_s": args.hold}
    print(f"{len(trigger)} events from {len(CLIPS)} clips x {args.repeat}; hold {args.hold:g} s")
    ok = True
    for name, delivered in sinks_delivered.items():
        missing = set(trigger) - set(delivered)
        twice = counts.get(name, len(delivered)) - len(delivered)
        from_result = [(delivered[k] - trigger[k][1]) * 1e3 for k in trigger if k in delivered]
        from_read = [(delivered[k] - trigger[k][0]) * 1e3 for k in trigger if k in delivered]
        r, f = stats(from_result), stats(from_read)
        result[name] = {"from_result_ms": r, "from_read_ms": f, "missing": len(missing), "duplicates": twice}
        ok = ok and not missing and twice == 0
        print(
            f"{name:8s} result->delivered p50 {r['p50']:7.2f} ms  p95 {r['p95']:7.2f} ms | "
            f"frame read->delivered p50 {f['p50']:7.2f} ms  p95 {f['p95']:7.2f} ms | missing {len(missing)}, duplicates {twice}"
        )
    finish_benchmark("event_latency", argv, args.json, result)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
