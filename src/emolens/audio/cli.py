"""``emolens audio``: the emotion of speech in a file, window by window; and ``emolens evaluate`` on speech data.

Argument parsing and printing only; the work is :mod:`emolens.audio.analyze` and
:mod:`emolens.audio.evaluate`. Errors are :class:`~emolens.errors.EmolensError` (the main CLI prints
one line and exits non-zero).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from emolens.audio import MAX_DURATION_S
from emolens.errors import EmolensError
from emolens.files import SOUND_EXTENSIONS, expand_folders
from emolens.options import positive_number

if TYPE_CHECKING:
    from emolens.audio.recognizer import VoiceRecognizer


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``emolens audio`` to the main parser's subcommands."""
    p = sub.add_parser(
        "audio", help="the emotion of speech in an audio file or a video's sound, window by window (speech model)"
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="file",
        help="audio files (wav, flac, mp3, ogg ...), videos with a sound track, or folders (every recording "
        "under them); with several, a file that cannot be read is skipped, said so, and the command ends non-zero",
    )
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
        "--json",
        default=None,
        metavar="OUT",
        help="write the summary and every window here (default: print them); several files: one JSON of all",
    )
    p.add_argument(
        "--csv", default=None, metavar="OUT", help="write one row per window here; several files: a source column first"
    )
    p.add_argument(
        "--plot",
        default=None,
        metavar="OUT.png",
        help="plot the emotions over time here; several files: a folder (made if missing), one <name>.png each",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    p.set_defaults(func=run_audio)


def run_audio(args: argparse.Namespace) -> int:
    from emolens.audio.recognizer import check_windows
    from emolens.io import check_writable

    check_windows(args.window, args.hop)  # before the model is loaded
    given = args.files
    args.files = [str(p) for p in expand_folders(given, SOUND_EXTENSIONS, "recording")]
    several = len(given) > 1 or any(Path(p).is_dir() for p in given)  # each file once, as given
    for path in (args.json, args.csv, None if several else args.plot):
        if path:
            check_writable(path)
    if several and args.plot:
        _check_plot_folder(args.plot)
    return _audio_files(args) if several else _audio_file(args)


def _check_plot_folder(folder: str) -> None:
    from pathlib import Path

    from emolens.io import check_writable

    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise EmolensError(f"--plot {out}: with several files it names a folder (one PNG per file), and this is a file")
    if out.suffix.lower() == ".png" and not out.exists():
        raise EmolensError(f"--plot {out}: with several files it names a folder (one PNG per file), not a .png file")
    if not out.parent.is_dir():
        raise EmolensError(f"--plot {out}: folder {out.parent} does not exist")
    try:
        out.mkdir(exist_ok=True)
    except OSError as e:
        raise EmolensError(f"--plot {out}: cannot create the folder: {e.strerror or e}") from None
    check_writable(out / ".emolens-check.png")


def _summary_line(s: dict[str, object]) -> str:
    return (
        f"{s['source']}: {s['duration_s']} s, {s['windows']} windows: {s['speech_windows']} speech, "
        f"{s['silence_windows']} silence, {s['music_windows']} music, {s['non_speech_windows']} non-speech; "
        f"emotion {s['emotion'] or '-'}"
    )


def _recognizer(args: argparse.Namespace) -> VoiceRecognizer:
    from emolens.audio.recognizer import VoiceRecognizer

    return VoiceRecognizer(args.model, threads=args.threads, partner=not args.no_partner)


def _audio_file(args: argparse.Namespace) -> int:
    from emolens.audio.analyze import analyze_audio, plot_timeline, write_csv
    from emolens.io import write_json

    analysis = analyze_audio(
        args.files[0],
        _recognizer(args),
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
        print(_summary_line(analysis.summary()))
    return 0


def _audio_files(args: argparse.Namespace) -> int:
    """Several files, one at a time (one file's sound in memory): the outputs gather them all, a file
    that fails is said on stderr and listed, and the rest go on."""
    import sys
    from pathlib import Path

    from emolens.audio.analyze import (
        AudioFailure,
        analyze_audio_files,
        csv_header,
        csv_rows,
        format_csv,
        plot_names,
        plot_timeline,
    )
    from emolens.io import write_json, write_text_atomic

    def say(line: str, stream: TextIO) -> None:  # a line between progress bars, which are redrawn below it
        if args.no_progress:
            print(line, file=stream)
        else:
            from tqdm import tqdm

            tqdm.write(line, file=stream)

    rec = _recognizer(args)
    names = iter(plot_names(args.files))  # one per file, in the order the results come
    reports: list[dict[str, object]] = []
    skipped: list[dict[str, str]] = []
    rows: list[list[str]] = []
    quiet = not (args.json or args.csv or args.plot)
    for result in analyze_audio_files(
        args.files,
        rec,
        window_s=args.window,
        hop_s=args.hop,
        max_duration_s=args.max_duration,
        progress=not args.no_progress,
    ):
        name = next(names)
        if isinstance(result, AudioFailure):
            say(f"emolens: skipped {result.source}: {result.error}", sys.stderr)
            skipped.append(result.as_dict())
            continue
        reports.append(result.as_dict())
        if args.csv:
            rows.extend(csv_rows(result, with_source=True))
        if args.plot:
            plot_timeline(result, Path(args.plot) / name)
        if not quiet:
            say(_summary_line(result.summary()), sys.stdout)
    if reports:
        everything = {"files": reports, "skipped": skipped}
        if args.json:
            write_json(args.json, everything)
        if args.csv:
            write_text_atomic(args.csv, format_csv(csv_header(rec.labels, with_source=True), rows))
        if quiet:
            print(json.dumps(everything, indent=2))
    if skipped:  # as `emolens batch`: 1 when an input failed, 2 for a usage error
        print(
            f"emolens: {len(skipped)} of {len(args.files)} files could not be analysed (each said above)",
            file=sys.stderr,
        )
        return 1
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
