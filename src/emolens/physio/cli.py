"""``emolens physio`` and ``emolens physio-replay``: argument parsing and the two handlers.

emolens physio FILE_OR_E4_FOLDER [--json OUT] [--csv OUT] [--plot OUT.png]
               [--window S] [--hop S] [--baseline S] [--model FILE]
emolens physio-replay FOLDER --mqtt mqtt://HOST:PORT [--child ID] [--speed X] [--chunk S]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
from pathlib import Path
from typing import Any

from emolens.options import finite_number, positive_number

log = logging.getLogger(__name__)

__all__ = ["add_parser"]


def _physio(args: argparse.Namespace) -> int:
    from emolens.io import check_writable, write_json, write_text_atomic
    from emolens.physio.features import PhysioOptions
    from emolens.physio.readers import read_recording
    from emolens.physio.recognizer import PhysioRecognizer

    for path in (args.json, args.csv, args.plot):
        if path:
            check_writable(path)
    pr = PhysioRecognizer(args.model)
    base = pr.model.options
    options = PhysioOptions(
        **{
            **base.as_dict(),
            **{
                k: float(v)
                for k, v in (("window_s", args.window), ("hop_s", args.hop), ("baseline_s", args.baseline))
                if v is not None
            },
        }
    )
    pr = PhysioRecognizer(pr.model, options)
    rec = read_recording(args.path)
    readings = pr.predict_recording(rec)
    rows = [r.as_dict() for r in readings]
    summary = _summary(readings, pr.model.threshold, rec.missing)
    doc = {
        "source": str(args.path),
        "model": pr.model.name,
        "options": options.as_dict(),
        "summary": summary,
        "windows": rows,
    }
    if args.json:
        write_json(args.json, doc)
    if args.csv:
        write_text_atomic(args.csv, _csv(rows))
    if args.plot:
        from emolens.physio.plot import plot_timeline

        plot_timeline(readings, rec, args.plot, threshold=pr.model.threshold)
    if not (args.json or args.csv or args.plot):
        print(json.dumps(doc, indent=2))
    else:
        print(
            f"{Path(args.path).name}: {summary['windows']} windows of {options.window_s:g} s, "
            f"stressed in {summary['stressed_fraction']:.0%} (mean p_stress {summary['mean_p_stress']:.2f}, "
            f"mean arousal {summary['mean_arousal']:.2f}); {summary['flagged_windows']} windows with quality flags"
        )
    return 0


def _summary(readings: list[Any], threshold: float, missing: tuple[str, ...]) -> dict[str, Any]:
    n = len(readings)
    flags: dict[str, int] = {}
    for r in readings:
        for f in r.quality:
            flags[f] = flags.get(f, 0) + 1
    return {
        "windows": n,
        "threshold": threshold,
        "stressed_fraction": round(sum(r.stressed for r in readings) / n, 4) if n else 0.0,
        "mean_p_stress": round(sum(r.p_stress for r in readings) / n, 4) if n else 0.0,
        "mean_arousal": round(sum(r.arousal for r in readings) / n, 4) if n else 0.0,
        "flagged_windows": sum(1 for r in readings if r.quality),
        "flags": dict(sorted(flags.items())),
        "missing_channels": list(missing),
    }


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if not rows:
        buf.write("t_start,t_end,p_stress,arousal,stressed,quality\n")
        return buf.getvalue()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({**r, "quality": ";".join(r["quality"])})
    return buf.getvalue()


def _replay(args: argparse.Namespace) -> int:
    from emolens.physio.mqtt import mqtt_publisher, replay_e4, topic_for

    topic_for(args.child, "hr")  # checks the id before connecting
    publish, close = mqtt_publisher(args.mqtt)
    try:
        sent = replay_e4(args.folder, publish, child=args.child, speed=args.speed, chunk_s=args.chunk)
    finally:
        close()
    print(f"published {sent} messages to {args.mqtt} under emolens/physio/{args.child}/<channel>")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``physio`` and ``physio-replay`` on the ``emolens`` subcommands."""
    p = sub.add_parser(
        "physio",
        help="stress and arousal per window from wristband signals (E4 export folder or CSV of samples)",
        description="Stress probability and arousal per window from an Empatica E4 export folder or a "
        "CSV of timestamped samples (columns time, hr, bvp, eda, temp, acc_x, acc_y, acc_z, ibi).",
    )
    p.add_argument("path", metavar="FILE_OR_E4_FOLDER", help="an E4 export folder, or a CSV of samples")
    p.add_argument(
        "--json", default=None, metavar="OUT", help="write the windows and a summary as JSON (default: print them)"
    )
    p.add_argument("--csv", default=None, metavar="OUT", help="write one row per window")
    p.add_argument(
        "--plot", default=None, metavar="OUT.png", help="draw stress and arousal over time, the signals beneath"
    )
    p.add_argument(
        "--window",
        type=positive_number,
        default=None,
        metavar="S",
        help="window length in seconds (default: the model's, 60)",
    )
    p.add_argument("--hop", type=positive_number, default=None, metavar="S", help="seconds between windows (default 1)")
    p.add_argument(
        "--baseline",
        type=positive_number,
        default=None,
        metavar="S",
        help="seconds at the start that make the person's baseline (default 180)",
    )
    p.add_argument("--model", default=None, metavar="FILE", help="a physio model JSON file (default: the shipped one)")
    p.set_defaults(func=_physio)

    r = sub.add_parser("physio-replay", help="replay a recorded E4 folder as live MQTT samples (needs paho-mqtt)")
    r.add_argument("folder", help="an E4 export folder")
    r.add_argument("--mqtt", required=True, metavar="mqtt://HOST:PORT", help="the MQTT broker")
    r.add_argument("--child", default="child1", metavar="ID", help="the pseudonymous id in the topics (default child1)")
    r.add_argument(
        "--speed",
        type=finite_number,
        default=1.0,
        metavar="X",
        help="X times real time; 0: as fast as possible (default 1)",
    )
    r.add_argument(
        "--chunk", type=positive_number, default=1.0, metavar="S", help="seconds of signal per message (default 1)"
    )
    r.set_defaults(func=_replay)
