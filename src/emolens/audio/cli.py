"""``emolens audio``: the emotion of speech in a file, window by window; and ``emolens evaluate`` on speech data.

Argument parsing and printing only; the work is :mod:`emolens.audio.analyze` and
:mod:`emolens.audio.evaluate`. Errors are :class:`~emolens.errors.EmolensError` (the main CLI prints
one line and exits non-zero).
"""

from __future__ import annotations

import argparse
import json

from emolens.audio import MAX_DURATION_S
from emolens.errors import EmolensError
from emolens.options import positive_number


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``emolens audio`` to the main parser's subcommands."""
    p = sub.add_parser(
        "audio", help="the emotion of speech in an audio file or a video's sound, window by window (speech model)"
    )
    p.add_argument("file", help="audio file (wav, flac, mp3, ogg ...) or video with a sound track")
    p.add_argument(
        "--model", default=None, help="speech model: .onnx path from 'emolens train' on speech, or a bundled name"
    )
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: one per core)")
    p.add_argument(
        "--no-partner",
        action="store_true",
        help="judge with the model file alone, without the speaker-profile partner it may name",
    )
    p.add_argument(
        "--window", type=positive_number, default=2.0, metavar="S", help="window length in seconds (default 2)"
    )
    p.add_argument(
        "--hop",
        type=positive_number,
        default=0.5,
        metavar="S",
        help="step between windows in seconds, at most the window (default 0.5)",
    )
    p.add_argument(
        "--max-duration",
        type=positive_number,
        default=MAX_DURATION_S,
        metavar="S",
        help=f"refuse files with more than S seconds of sound (default {MAX_DURATION_S:g})",
    )
    p.add_argument(
        "--json", default=None, metavar="OUT", help="write the summary and every window here (default: print them)"
    )
    p.add_argument("--csv", default=None, metavar="OUT", help="write one row per window here")
    p.add_argument("--plot", default=None, metavar="OUT.png", help="plot the emotions over time here")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    p.set_defaults(func=run_audio)


def run_audio(args: argparse.Namespace) -> int:
    from emolens.audio.analyze import analyze_audio, plot_timeline, write_csv
    from emolens.audio.recognizer import VoiceRecognizer, check_windows
    from emolens.io import check_writable, write_json

    check_windows(args.window, args.hop)  # before the model is loaded
    for path in (args.json, args.csv, args.plot):
        if path:
            check_writable(path)
    rec = VoiceRecognizer(args.model, threads=args.threads, partner=not args.no_partner)
    analysis = analyze_audio(
        args.file,
        rec,
        window_s=args.window,
        hop_s=args.hop,
        max_duration_s=args.max_duration,
        progress=not args.no_progress,
    )
    if args.json:
        write_json(args.json, analysis.as_dict())
    if args.csv:
        write_csv(analysis, args.csv)
    if args.plot:
        plot_timeline(analysis, args.plot)
    if not (args.json or args.csv or args.plot):
        print(json.dumps(analysis.as_dict(), indent=2))
    else:
        s = analysis.summary()
        print(
            f"{args.file}: {s['duration_s']} s, {s['windows']} windows: {s['speech_windows']} speech, "
            f"{s['silence_windows']} silence, {s['music_windows']} music, {s['non_speech_windows']} non-speech; emotion {s['emotion'] or '-'}"
        )
    return 0


def evaluate_command(args: argparse.Namespace) -> int:
    """``emolens evaluate --data SPEECH_DATA``: accuracy, macro-F1, 4-class accuracy, confusion matrix."""
    from pathlib import Path

    from emolens.audio.evaluate import evaluate_speech
    from emolens.eval.report import plot_confusion
    from emolens.io import check_writable, write_json
    from emolens.runtime.metadata import check_tta

    if args.ferplus:
        raise EmolensError("--ferplus is for face models; a speech evaluation does not take it")
    check_tta(args.tta, speech=True)
    for path in (args.json, args.confusion):
        if path:
            check_writable(path)
    ev = evaluate_speech(
        args.model,
        args.data,
        args.split,
        threads=args.threads,
        profile_utterances=args.profile_utterances,
        tta=args.tta,
        partner=not args.no_partner,
    )
    m = ev.metrics
    print(
        f"{ev.model} on {ev.data} ({ev.split}: {ev.utterances} utterances, {len(ev.per_speaker)} speakers; "
        f"speaker profile: {ev.profile}; tta={ev.tta})"
    )
    print(
        f"accuracy {m.accuracy:.4f}  macro-P {m.macro_precision:.4f}  macro-R {m.macro_recall:.4f}  macro-F1 {m.macro_f1:.4f}"
    )
    print(m.interval_line("utterances"))
    if ev.four_class is not None:
        f = ev.four_class
        print(
            f"4-class (neutral+calm, happy, sad, angry; {sum(sum(r) for r in f.confusion)} utterances): "
            f"accuracy {f.accuracy:.4f}  macro-F1 {f.macro_f1:.4f}"
        )
    print("per speaker: " + "  ".join(f"{s} {a:.3f}" for s, a in ev.per_speaker.items()))
    print(f"{'class':10s} {'precision':>9s} {'recall':>7s} {'f1':>6s} {'support':>7s}")
    for lab, c in m.per_class.items():
        print(f"{lab:10s} {c['precision']:9.4f} {c['recall']:7.4f} {c['f1']:6.4f} {c['support']:7.0f}")
    width = max(len(lab) for lab in m.labels)
    print("confusion (rows: true, columns: predicted)")
    print(" " * (width + 1) + " ".join(f"{lab[:5]:>5s}" for lab in m.labels))
    for lab, row in zip(m.labels, m.confusion, strict=True):
        print(f"{lab:{width}s} " + " ".join(f"{v:5d}" for v in row))
    if args.json:
        write_json(args.json, ev.as_dict())
    if args.confusion:
        plot_confusion(
            m,
            Path(args.confusion),
            f"{Path(ev.model).stem} on {ev.split}: accuracy {m.accuracy:.4f}, macro-F1 {m.macro_f1:.4f}",
        )
    return 0


def calibrate_command(args: argparse.Namespace) -> int:
    """``emolens calibrate MODEL --data SPEECH_DATA``: the temperature fitted on the selection speakers,
    ECE and NLL before and after; ``--tta`` and ``--partner`` stored in the written file."""
    from emolens.audio.calibrate import calibrate_speech
    from emolens.io import write_json
    from emolens.runtime.metadata import check_tta

    if args.ferplus:
        raise EmolensError("--ferplus is for face models; a speech calibration does not take it")
    check_tta(args.tta, speech=True)
    sc = calibrate_speech(
        args.model,
        args.data,
        args.out,
        report_split=args.report_split,
        threads=args.threads,
        tta=args.tta,
        partner=args.partner,
    )
    with_partner = f", partner {sc.partner}" if sc.partner else ""
    print(
        f"wrote {sc.out}: temperature {sc.temperature:.3f} fitted on the selection speakers, tta={sc.tta}{with_partner}"
    )
    for split, row in sc.splits.items():
        print(
            f"{split:5s} ECE {row['ece_before']:.4f} -> {row['ece_after']:.4f}, "
            f"NLL {row['nll_before']:.4f} -> {row['nll_after']:.4f}"
        )
    if args.json:
        write_json(args.json, sc.as_dict())
    return 0
