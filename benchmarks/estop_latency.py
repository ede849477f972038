"""Emergency stop to every device output off, end to end through a real mosquitto broker and the device agent.

Starts mosquitto on a free loopback port (or uses ``--broker``) and the device agent as its own
process (``emolens relax device --outputs print``), connects the controller's MQTT backend, and
repeats ``--trials`` times: switch the three outputs on (and wait until the agent reports them
on), then press the emergency stop as the panel, the API and the keyboard do
(``RelaxSession.emergency_stop``: the latched device-level stop on the ``estop`` topic plus
all-off commands), and time until the agent has reported every output off back to the controller
(so the figure includes the way back: an upper bound of the time to the outputs going off).
Prints p50/p95/p99/max and writes them, with the machine, to ``--json``. mosquitto gets
``set_tcp_nodelay true`` (``--no-broker-nodelay``: its default, off, to see what that costs).

Usage: python benchmarks/estop_latency.py [--trials 1000] [--json runs/estop_latency.json]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_report import finish_benchmark

from emolens.relax.devices import heartbeating
from emolens.relax.devices.mqtt import MqttDevices
from emolens.relax.types import Command, all_off

TARGET_P99_MS = 100.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_broker(folder: Path, nodelay: bool = True) -> tuple[subprocess.Popen[bytes], str, str]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        sys.exit("mosquitto is not installed: apt-get install mosquitto (or give --broker mqtt://HOST:PORT)")
    port = free_port()
    conf = folder / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay {str(nodelay).lower()}\n"
    )
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    version = subprocess.run([binary, "-h"], capture_output=True, text=True).stdout.splitlines()[0].strip()
    return proc, f"mqtt://127.0.0.1:{port}", version


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=1000)
    p.add_argument("--broker", default=None, help="use this broker instead of starting mosquitto")
    p.add_argument("--json", default="runs/estop_latency.json")
    p.add_argument(
        "--no-broker-nodelay", action="store_true", help="start mosquitto without set_tcp_nodelay (its default)"
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the agent's alert after each stop would flood the output

    with tempfile.TemporaryDirectory() as tmp:
        broker = None
        url, version = args.broker, "given"
        if url is None:
            broker, url, version = start_broker(Path(tmp), nodelay=not args.no_broker_nodelay)
        agent = subprocess.Popen(
            [sys.executable, "-m", "emolens", "relax", "device", "--broker", url, "--outputs", "print",
             "--watchdog-s", "2", "--heartbeat-s", "0.5"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        devices = MqttDevices(url, heartbeat_s=0.05, silent_s=5.0)
        try:
            with heartbeating(devices, 0.05):
                if not devices.wait(lambda s: all(o.seen_at is not None for o in s.outputs.values()), 30):
                    sys.exit("the device agent did not report its outputs within 30 s")
                time.sleep(0.3)  # it has heard the controller's heartbeat by now
                times: list[float] = []
                seq = 0
                for i in range(args.trials + 20):
                    seq += 1
                    level = 0.3 + 0.5 * ((i % 10) / 10)
                    devices.send([Command(m, level, {}, seq) for m in ("light", "sound", "vibration")])
                    on = devices.wait(lambda s, v=level: all(o.reported == v for o in s.outputs.values()), 10)
                    if not on:
                        sys.exit(f"trial {i}: the outputs did not come on")
                    seq += 1
                    t0 = time.perf_counter()
                    devices.estop(True)  # what RelaxSession.emergency_stop does
                    devices.send(all_off(seq))
                    off = devices.wait(lambda s: all(o.reported == 0.0 for o in s.outputs.values()), 10)
                    t1 = time.perf_counter()
                    if not off:
                        sys.exit(f"trial {i}: the outputs did not go off within 10 s")
                    if i >= 20:  # the first ones warm up
                        times.append(t1 - t0)
                    devices.estop(False)
        finally:
            devices.close()
            agent.terminate()
            agent.wait(10)
            if broker is not None:
                broker.terminate()
                broker.wait(10)

    ms = np.array(times) * 1e3
    q = {k: float(np.percentile(ms, v)) for k, v in (("p50", 50), ("p95", 95), ("p99", 99))}
    q["max"] = float(ms.max())
    q["mean"] = float(ms.mean())
    print(
        f"emergency stop -> every output off (reported back), {len(ms)} trials through {version}: "
        f"p50 {q['p50']:.2f} ms, p95 {q['p95']:.2f} ms, p99 {q['p99']:.2f} ms, max {q['max']:.2f} ms "
        f"({'meets' if q['p99'] < TARGET_P99_MS else 'MISSES'} the p99 < {TARGET_P99_MS:g} ms target)"
    )
    finish_benchmark(
        "estop_latency",
        argv,
        args.json,
        {
            "trials": len(ms),
            "broker": version,
            "broker_tcp_nodelay": None if args.broker else not args.no_broker_nodelay,
            "latency_ms": q,
            "target_p99_ms": TARGET_P99_MS,
            "meets_target": q["p99"] < TARGET_P99_MS,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
