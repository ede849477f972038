"""``emolens batch``: argument parsing only; the run is :func:`emolens.batch.run.analyze_videos`.

It takes the video options of ``emolens video`` (detector, model, stream options), built by the
same functions of :mod:`emolens.cli`. Imports nothing heavy until the command runs.
"""

from __future__ import annotations

import argparse

from emolens.runtime.metadata import TTA_MODES

__all__ = ["add_batch_parser"]

MAX_LISTED = 20
"""Failures listed at the end of a run (all are in the table and the overview)."""


def _batch(args: argparse.Namespace) -> int:
    from emolens import cli as main_cli
    from emolens.batch.run import analyze_videos
    from emolens.io import write_json

    summary = analyze_videos(
        args.inputs,
        out=args.out,
        workers=args.workers,
        ray=args.ray if args.ray is not None else False,
        model=args.model,
        tta=args.tta,
        detector=args.detector,
        detector_options=main_cli._detector_options(args),
        options=main_cli._stream_options(args),
        progress=not args.no_progress,
        audio=args.audio,
        speech_model=args.speech_model,
    )
    s = summary
    print(
        f"{s.videos} videos: {s.analysed} analysed, {s.skipped} already done, {s.failed} failed; "
        f"{s.frames} frames in {s.seconds:.1f} s ({s.backend}, {s.workers} workers)"
    )
    for f in s.failures[:MAX_LISTED]:
        print(f"  failed: {f.path}: {f.reason}")
    if len(s.failures) > MAX_LISTED:
        print(f"  ... and {len(s.failures) - MAX_LISTED} more failed (see {s.table})")
    print(f"data set: {s.dataset} ({s.rows} rows); per video: {s.table}; overview: {s.overview}")
    if args.json:
        write_json(args.json, s.as_dict())
    return 0 if s.ok else 1


def add_batch_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``batch`` subcommand to the ``emolens`` parser's subcommands ``sub``."""
    from emolens import cli as main_cli

    p = sub.add_parser(
        "batch",
        help="analyse many videos into one data set (Parquet), resumably, on this machine's cores or on Ray",
        description="Analyse every video of the inputs with the pipeline of 'emolens video' and write, in --out: "
        "videos/<id>.csv and .json per video, faces.parquet (one row per face per frame), videos.csv, "
        "overview.html and manifest.sqlite. A rerun skips the videos already done with the same file and "
        "options. Exit status 1 when a video failed (each is listed), 2 on bad input.",
    )
    p.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="video files, folders (searched recursively) or .txt lists of paths"
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created; reused by a rerun)")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="worker processes, each on one core (default: one per core); with --ray, most tasks at once",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="run as Ray tasks (the cluster extra): alone, on a Ray started here; ray://HOST:PORT, HOST:PORT or "
        "auto: on a running cluster (write it last, or as --ray=ADDRESS)",
    )
    p.add_argument("--model", default=None, help="bundled model name or .onnx path (default: the bundled default)")
    p.add_argument("--tta", default=None, choices=TTA_MODES, help="override the model's test-time augmentation")
    main_cli._add_stream_options(p)
    p.add_argument(
        "--audio",
        action="store_true",
        help="also listen: each video's voice per window, fused with each face's (voice and fused columns)",
    )
    p.add_argument(
        "--speech-model", default=None, metavar="M", help="speech model name or .onnx for --audio (default: bundled)"
    )
    p.add_argument("--json", default=None, metavar="FILE", help="also write the run's summary here")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_batch)
