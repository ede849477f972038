"""The ``emolens`` command line: argument parsing only; every subcommand calls the library."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from emolens import __version__
from emolens.errors import EmolensError
from emolens.options import add_options, finite_number, non_negative_int, options_from_args, positive_int
from emolens.runtime.metadata import SPEECH_TTA_MODES, TTA_MODES, check_tta

if TYPE_CHECKING:
    import numpy as np

    from emolens.detect.base import Detector
    from emolens.types import DetectorOptions, StreamOptions

log = logging.getLogger("emolens")

Handler = Callable[[argparse.Namespace], int]


def _check_outputs(*paths: str | None) -> None:
    """Refuse now, before any work, an output path that could not be written at the end."""
    from emolens.io import check_writable

    for path in paths:
        if path:
            check_writable(path)


def _train(args: argparse.Namespace) -> int:
    from emolens.train.config import TrainConfig
    from emolens.train.fit import fit

    cfg = options_from_args(TrainConfig, args)
    res = fit(cfg)
    log.info(
        "best validation accuracy %.4f at epoch %d; weights in %s",
        res.best_val_accuracy,
        res.best_epoch,
        res.out / "best.pt",
    )
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from emolens.train.config import TrainConfig

    p = sub.add_parser("train", help="train a CNN on FER-2013 or your own folders (needs the 'train' extra)")
    add_options(p, TrainConfig, required=("data",))
    p.set_defaults(func=_train)


def _models(args: argparse.Namespace) -> int:
    from emolens.models.bundled import DEFAULT_MODEL, alias_tta, available_models, resolve_model

    print("bundled models (emolens image/evaluate --model NAME):")
    for name in available_models():
        path, tta = resolve_model(name), alias_tta(name)
        note = f"  -> {path.stem} on this CPU" if path.stem != name else ""
        note += f", tta {tta}" if tta else ""
        print(f"  {name}{'  (default)' if name == DEFAULT_MODEL else ''}{note}")
    from emolens.audio.recognizer import DEFAULT_SPEECH_MODEL, available_speech_models

    print("speech models (emolens audio --model NAME, VoiceRecognizer(NAME)):")
    for name in available_speech_models():
        print(f"  {name}{'  (default)' if name == DEFAULT_SPEECH_MODEL else ''}")
    if args.arch:
        from emolens.models.registry import list_models, model_config

        print("architectures (emolens train --arch NAME):")
        for name in list_models():
            print(f"  {name:18s} {model_config(name).description}")
    return 0


def _info(args: argparse.Namespace) -> int:
    import json

    from emolens.info import platform_info, system_info
    from emolens.models.bundled import DEFAULT_MODEL, resolve_model

    info = system_info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    plat = platform_info()
    cpu = info["cpu"]
    print(f"emolens {info['version']}")
    print(f"Python {plat['python']} ({plat['implementation']}), {plat['os']}, {plat['machine']}")
    print(f"CPU: {cpu['model']}")
    print(f"  flags that matter: {' '.join(cpu['flags']) or 'none of them'}")
    print(f"ONNX Runtime {info['onnxruntime']} ({', '.join(plat['onnxruntime_providers'])})")
    print(f"OpenCV {info['opencv']}")
    print(f"torch {info['torch']}" if info["torch"] else "torch: not installed (needed only for training)")
    print(f"default model: {DEFAULT_MODEL} -> {resolve_model(DEFAULT_MODEL).stem} on this CPU")
    print(f"int8 scheme: {info['int8'] or 'none (float32 is faster on this CPU)'}")
    print(f"training precision (--precision auto): {info['train_precision']}")
    if info["train_device"]:
        print(f"training device (--device auto): {info['train_device']}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from emolens.data.audio import is_audio_data
    from emolens.eval.report import evaluate, write_report

    if is_audio_data(args.data):  # RAVDESS or audio folders: a speech model
        from emolens.audio.cli import evaluate_command

        return evaluate_command(args)
    if args.profile_utterances is not None:
        raise EmolensError("--profile-utterances is for speech models; faces have no speaker profile")
    if args.no_partner:
        raise EmolensError("--no-partner is for speech models; face models have no partner")
    check_tta(args.tta)
    _check_outputs(args.json, args.confusion)
    ev = evaluate(args.model, args.data, args.split, tta=args.tta, threads=args.threads, ferplus=args.ferplus)
    write_report(ev, Path(args.json) if args.json else None, Path(args.confusion) if args.confusion else None)
    m = ev.metrics
    print(f"{ev.model} on {ev.split} ({ev.faces} faces, tta={ev.tta})")
    print(
        f"accuracy {m.accuracy:.4f}  macro-P {m.macro_precision:.4f}  macro-R {m.macro_recall:.4f}  "
        f"macro-F1 {m.macro_f1:.4f}  valence accuracy {m.valence_accuracy:.4f}"
    )
    print(m.interval_line("faces"))
    print(f"{'class':10s} {'precision':>9s} {'recall':>7s} {'f1':>6s} {'support':>7s}")
    for lab, c in m.per_class.items():
        print(f"{lab:10s} {c['precision']:9.4f} {c['recall']:7.4f} {c['f1']:6.4f} {c['support']:7.0f}")
    return 0


def _export(args: argparse.Namespace) -> int:
    _check_outputs(args.out)
    from emolens.export.onnx import export_checkpoint
    from emolens.export.speech import export_speech_checkpoint, is_speech_member, speech_model_file

    speech = [is_speech_member(c) for c in args.checkpoint]
    if any(speech):
        if not all(speech):
            raise EmolensError("an ensemble's checkpoints must all be speech models")
        voice = export_speech_checkpoint(
            list(args.checkpoint), args.out, name=args.name, version=args.version, trim_db=args.trim_db
        )
        networks = len(voice.meta.arch.split("+"))  # a model file given as a member counts its networks
        what = "speech model" if networks == 1 else f"speech ensemble of {networks}"
        files = any(speech_model_file(c) is not None for c in args.checkpoint)
        against = "its members run apart" if files else "torch"
        print(f"wrote {voice.path} ({what}; parity with {against}: max abs difference {voice.max_abs_diff:.2e})")
        return 0
    if args.trim_db is not None:
        raise EmolensError("--trim-db is for speech models; a face model has no silence to trim")
    res = export_checkpoint(list(args.checkpoint), args.out, name=args.name, version=args.version, tta=args.tta)
    members = len(res.meta.arch.split("+"))  # an ensemble file given as a member counts its networks
    what = "" if members == 1 else f"face ensemble of {members}; "
    print(f"wrote {res.path} ({what}parity with torch: max abs difference {res.max_abs_diff:.2e})")
    return 0


def _sample_faces(data: str, split: str, n: int, seed: int) -> np.ndarray:
    """Up to ``n`` faces of a FER-2013 split drawn at random by ``seed``, in file order."""
    import numpy as np

    from emolens.data.fer2013 import load_split

    faces = load_split(data, split).images
    return faces[np.sort(np.random.default_rng(seed).permutation(len(faces))[:n])]


def _quantize(args: argparse.Namespace) -> int:
    _check_outputs(args.out)
    from emolens.export.quantize import quantize_model

    faces = _sample_faces(args.data, "train", args.calibration, args.seed)
    out = quantize_model(args.model, args.out, faces, int8=args.int8)
    print(f"wrote {out} (int8 {args.int8}, calibrated on {len(faces)} training faces)")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from emolens.data.fer2013 import SPLITS
    from emolens.export.calibrate import calibrate_model, plot_reliability
    from emolens.io import check_writable, write_json

    for path in (args.out, args.json, args.plot):
        if path:
            check_writable(path)
    from emolens.data.audio import is_audio_data

    if is_audio_data(args.data):  # a speech model on RAVDESS or audio folders
        from emolens.audio.cli import calibrate_command

        return calibrate_command(args)
    if args.partner is not None:
        raise EmolensError("--partner is for speech models; a face model has no partner")
    check_tta(args.tta)
    cal = calibrate_model(
        args.model,
        args.data,
        args.out,
        report_split=args.report_split,
        threads=args.threads,
        ferplus=args.ferplus,
        tta=args.tta,
    )
    print(f"wrote {cal.out}: temperature fitted on {SPLITS['val']}, ECE and NLL on {SPLITS[args.report_split]}")
    print(
        f"{'tta':9s} {'T':>6s} {'ECE before':>10s} {'ECE after':>9s} {'NLL before':>10s} {'NLL after':>9s} {'accuracy':>8s}"
    )
    for m in cal.modes.values():
        print(
            f"{m.tta:9s} {m.temperature:6.3f} {m.ece_before:10.4f} {m.ece_after:9.4f} "
            f"{m.nll_before:10.4f} {m.nll_after:9.4f} {m.accuracy:8.4f}"
        )
    if args.json:
        write_json(args.json, cal.as_dict())
    if args.plot:
        plot_reliability(cal, args.plot)
    return 0


def _framing(args: argparse.Namespace) -> int:
    _check_outputs(args.out)
    from emolens.export.framing import write_framing
    from emolens.runtime.metadata import Framing

    framing = options_from_args(Framing, args)
    out = write_framing(args.model, args.out, framing)
    print(f"wrote {out}: {framing}")
    return 0


def _halve(args: argparse.Namespace) -> int:
    _check_outputs(args.out)
    from emolens.export.halfweights import halve_weights

    faces = _sample_faces(args.data, "val", args.faces, args.seed)
    out, diff = halve_weights(args.model, args.out, faces)
    size = out.stat().st_size / 1e6
    print(
        f"wrote {out} ({size:.1f} MB, weights in float16; largest probability change on {len(faces)} faces {diff:.1e})"
    )
    return 0


def _image(args: argparse.Namespace) -> int:
    import json

    from emolens.analysis import Analyzer
    from emolens.analyze import analyze_images
    from emolens.errors import ImageTooLarge
    from emolens.imagecheck import ImageLimits
    from emolens.runtime.recognizer import Recognizer

    limits = ImageLimits(max_pixels=args.max_pixels)
    detector = _detector(args)
    rec = Recognizer(args.model, threads=args.threads, tta=args.tta)
    analyzer = Analyzer(rec, detector)
    try:
        results = analyze_images(
            args.paths,
            analyzer,
            args.out,
            args.json,
            detector_name=args.detector,
            csv_path=args.csv,
            limits=limits,
            analysis_pixels=args.analysis_pixels or None,
        )
    except ImageTooLarge as e:
        raise ImageTooLarge(f"{e} (--max-pixels N raises the limit)") from None
    if not (args.json or args.csv):
        print(json.dumps(results, indent=2))
    return 0


def _bench_faces(args: argparse.Namespace) -> int:
    import json

    from emolens.bench import bench_faces
    from emolens.info import system_line
    from emolens.io import write_json
    from emolens.runtime.recognizer import Recognizer

    _check_outputs(args.json)
    rec = Recognizer(args.model, threads=args.threads, tta=args.tta)
    images = None
    if args.data is not None:
        from emolens.data.fer2013 import load_split

        images = load_split(args.data, "test").images
        if len(images) < args.faces:
            raise EmolensError(f"--faces {args.faces}: PrivateTest of {args.data} has only {len(images)} faces")
    res = bench_faces(rec, faces=args.faces, face_size=args.face_size, repeats=args.repeats, images=images)
    print(json.dumps(res.as_dict(), indent=2))
    print(system_line(res.system))
    print(
        f"predict_faces: {res.faces_per_s:.0f} faces/s ({res.faces} {res.inputs} faces of {res.face_size}x{res.face_size}, "
        f"p50 {res.p50_ms:.1f} ms, p95 {res.p95_ms:.1f} ms, tta={res.tta}); "
        f"all {res.faces * res.repeats} faces over all calls: {res.overall_faces_per_s:.0f} faces/s"
    )
    if args.json:
        write_json(args.json, res.as_dict())
    return 0


def _bench_video(args: argparse.Namespace) -> int:
    import json

    from emolens.bench import bench_video
    from emolens.info import system_line
    from emolens.io import write_json
    from emolens.runtime.recognizer import Recognizer

    _check_outputs(args.json)
    rec = Recognizer(args.model, threads=args.threads, tta=args.tta)
    res = bench_video(
        args.source,
        rec,
        detector=_detector(args),
        options=_stream_options(args),
        repeats=args.repeat,
        compare_fer=args.compare_fer,
    )
    print(json.dumps(res.as_dict(), indent=2))
    print(
        f"{res.source} ({res.width}x{res.height}, {res.frames} frames x {res.repeats}), {res.detector} "
        f"every {res.options['detect_every']} at scale {res.options['detect_scale']:g}, "
        f"follow {'on' if res.options['follow'] else 'off'}, {res.model} tta={res.tta}"
    )
    print(f"{'stage':11s} {'calls':>6s} {'p50 ms':>8s} {'p95 ms':>8s} {'ms/frame':>9s}")
    for name, st in res.stages.items():
        p50 = f"{st.p50_ms:8.2f}" if st.p50_ms is not None else f"{'-':>8s}"
        p95 = f"{st.p95_ms:8.2f}" if st.p95_ms is not None else f"{'-':>8s}"
        print(f"{name:11s} {st.calls:6d} {p50} {p95} {st.per_frame_ms:9.2f}")
    print(
        f"emolens     {res.fps:6.1f} fps end to end without drawing ({res.fps_with_draw:.1f} with it); "
        f"frame p50 {res.frame_p50_ms:.1f} ms, p95 {res.frame_p95_ms:.1f} ms"
    )
    if res.fer is not None:
        print(
            f"fer {res.fer.version:7s} {res.fer.fps:6.1f} fps (detect_emotions, decoding excluded); "
            f"frame p50 {res.fer.p50_ms:.1f} ms, p95 {res.fer.p95_ms:.1f} ms, {res.fer.faces_per_frame:.2f} faces/frame"
        )
    elif args.compare_fer:
        print("fer         not installed (pip install fer to compare)")
    print(f"faces per frame {res.faces_per_frame:.2f}; frames without a face {res.frames_without_face} of {res.frames}")
    print(f"machine: {res.machine}")
    print(system_line(res.system))
    if args.json:
        write_json(args.json, res.as_dict())
    return 0


def _bench_models(args: argparse.Namespace) -> int:
    from emolens.bench import bench_models, provenance
    from emolens.info import system_line
    from emolens.io import check_writable, write_json

    if args.json:
        check_writable(args.json)
    rows = bench_models(
        args.models or None, data=args.data, repeats=args.repeats, min_faces=args.min_faces, test_faces=args.test_faces
    )
    keys = list(rows[0].faces_per_s) if rows else []
    head = " ".join(f"{'batch ' + k[1:].replace('t', ', threads '):>18s}" for k in keys)
    print(f"{'model':26s} {'precision':13s} {'tta':9s} {'MB':>5s} {'params':>8s} {'PrivateTest':>11s} {head}")
    for r in rows:
        params = f"{r.params / 1e6:7.2f}M" if r.params else f"{'-':>8s}"
        mark = "+" if r.test_labels == "ferplus-majority" else " "
        acc = f"{r.test_accuracy:10.4f}{mark}" if r.test_accuracy is not None else f"{'-':>11s}"
        speeds = " ".join(f"{v:18.0f}" for v in r.faces_per_s.values())
        print(f"{r.name:26s} {r.precision:13s} {r.tta:9s} {r.size_mb:5.1f} {params} {acc} {speeds}")
    print("faces/s: predict_faces, all faces over all the time they took, with each model's own test-time augmentation")
    if any(r.test_labels == "ferplus-majority" for r in rows):
        print("+: accuracy on the FER+ majority votes (8 emotions; ties, unknown and not-a-face dropped)")
    if args.test_faces is not None and args.data is not None:
        print(f"PrivateTest: a random sample of at most {args.test_faces} faces (seed 0): a rougher figure")
    print(system_line())
    if args.json:
        write_json(args.json, {**provenance(), "models": [r.as_dict() for r in rows]})
    return 0


_ANY_TTA = list(dict.fromkeys((*TTA_MODES, *SPEECH_TTA_MODES)))
"""A face model's test-time augmentations and a speech model's, for commands that take either."""


def _add_model_options(p: argparse.ArgumentParser, *, speech: bool = False) -> None:
    p.add_argument("--model", default=None, help="bundled model name or .onnx path (default: the bundled default)")
    what = "override the model's test-time augmentation"
    if speech:  # evaluate takes speech models too
        p.add_argument("--tta", default=None, choices=_ANY_TTA, help=what + " (speech models: none or crops)")
    else:
        p.add_argument("--tta", default=None, choices=TTA_MODES, help=what)
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: one per core)")


def _add_inference(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from emolens.export.schemes import DEFAULT_SCHEME, SCHEMES
    from emolens.imagecheck import ANALYSIS_PIXELS, MAX_PIXELS

    p = sub.add_parser("models", help="list bundled models (and with --arch, trainable architectures)")
    p.add_argument("--arch", action="store_true", help="also list architectures (imports torch)")
    p.set_defaults(func=_models)

    p = sub.add_parser("info", help="this machine's CPU flags, library versions and the choices made for them")
    p.add_argument("--json", action="store_true", help="print the facts as JSON")
    p.set_defaults(func=_info)

    p = sub.add_parser("evaluate", help="score a model on a FER-2013 split (or a speech model on RAVDESS)")
    _add_model_options(p, speech=True)
    p.add_argument("--data", required=True, help="FER-2013 folder or fer2013.csv; or speech: RAVDESS or audio folders")
    p.add_argument(
        "--split",
        default="test",
        choices=["train", "val", "test"],
        help="test = PrivateTest, val = PublicTest (RAVDESS: test = actors 21-24, val = 19-20)",
    )
    p.add_argument("--json", default=None, help="write the report as JSON")
    p.add_argument("--confusion", default=None, help="write the confusion matrix (counts and normalised) as PNG")
    p.add_argument(
        "--ferplus",
        default=None,
        metavar="CSV",
        help="label the faces by their FER+ majority vote (ferplus.csv) instead of their folders",
    )
    p.add_argument(
        "--profile-utterances",
        type=int,
        default=None,
        metavar="K",
        help="speech models with speaker profiles: each speaker's profile from K other utterances at random "
        "(0: each utterance alone, a partner silent; default: all of the speaker's utterances in the split, "
        "labels unused)",
    )
    p.add_argument(
        "--no-partner",
        action="store_true",
        help="speech models: judge with the model file alone, without the speaker-profile partner it may name",
    )
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("export", help="export a training checkpoint to ONNX (needs the 'train' extra)")
    p.add_argument(
        "checkpoint",
        nargs="+",
        help="best.pt or last.pt written by 'emolens train' (a member may also be an exported model or a bundled "
        "model's name; an ensemble file gives each of its networks); several: one ensemble model averaging their "
        "probabilities",
    )
    p.add_argument("--out", required=True, help="the .onnx file to write")
    p.add_argument(
        "--name",
        default=None,
        help="model name stored in the file (default: the architecture, as vgg+vgg for an ensemble)",
    )
    p.add_argument("--version", default="1")
    p.add_argument("--tta", default="none", choices=TTA_MODES, help="test-time augmentation the model asks for")
    p.add_argument(
        "--trim-db",
        type=finite_number,
        default=None,
        metavar="DB",
        help="speech: the model cuts its input's leading and trailing silence (frames this many dB under the "
        "loudest), whatever its members were trained with (default: as the members)",
    )
    p.set_defaults(func=_export)

    p = sub.add_parser("quantize", help="int8 copy of an ONNX model for edge boards (needs the 'train' extra)")
    p.add_argument("model", help="bundled model name or .onnx path")
    p.add_argument("--out", required=True, help="the int8 .onnx file to write")
    p.add_argument("--data", required=True, help="FER-2013 folder or csv: calibration faces come from its train split")
    p.add_argument("--calibration", type=int, default=512, help="number of calibration faces")
    p.add_argument(
        "--int8",
        default=DEFAULT_SCHEME,
        choices=list(SCHEMES),
        help=f"int8 scheme (default {DEFAULT_SCHEME}: as accurate as float32 on every CPU measured; "
        "u8s8 and s8s8 lose accuracy on x86 CPUs without VNNI)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_quantize)

    p = sub.add_parser("calibrate", help="fit a model's temperature on PublicTest (needs the 'train' extra)")
    p.add_argument("model", help="bundled model name or .onnx path")
    p.add_argument("--data", required=True, help="FER-2013 folder or csv (fit on val = PublicTest, report on test)")
    p.add_argument("--out", required=True, help="the calibrated .onnx file to write (may be the model itself)")
    p.add_argument("--json", default=None, help="write temperatures, ECE, NLL and reliability bins here")
    p.add_argument("--plot", default=None, help="write the reliability diagram here (.png)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: one per core)")
    p.add_argument(
        "--ferplus", default=None, help="label the faces by their FER+ majority vote (ferplus.csv): for FER+ models"
    )
    p.add_argument(
        "--tta",
        default=None,
        choices=_ANY_TTA,
        help="also store this test-time augmentation as the file's default (speech models: none or crops)",
    )
    p.add_argument(
        "--report-split",
        default="test",
        choices=["test", "val"],
        help="the split the figures are reported on (default test; val for a selection run, which then "
        "reads nothing of the test split)",
    )
    p.add_argument(
        "--partner",
        default=None,
        help="speech models: name this speaker-profile model (a bundled name or a file beside --out) as the "
        "file's partner, averaged with it whenever a speaker profile is given ('' for none; default: keep)",
    )
    p.set_defaults(func=_calibrate)

    from emolens.runtime.metadata import DEFAULT_FRAMING, Framing

    p = sub.add_parser("framing", help="store in a model file how faces are cropped for it (needs the 'train' extra)")
    p.add_argument("model", help="bundled model name or .onnx path")
    p.add_argument("--out", required=True, help="the .onnx file to write (may be the model itself)")
    add_options(p, Framing, defaults=dataclasses.asdict(DEFAULT_FRAMING))
    p.set_defaults(func=_framing)

    p = sub.add_parser(
        "halve", help="store a float32 model's weights in float16: half the file, computed in float32 (needs 'train')"
    )
    p.add_argument("model", help="bundled model name or .onnx path of a float32 model")
    p.add_argument("--out", required=True, help="the .onnx file to write (may be the model itself)")
    p.add_argument("--data", required=True, help="FER-2013 folder or csv: the check runs on faces of its val split")
    p.add_argument("--faces", type=positive_int, default=256, help="number of faces the check runs on")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_halve)

    p = sub.add_parser("image", help="find faces in images, recognise their emotions, write annotated copies")
    p.add_argument("paths", nargs="+", help="image files, or folders (every image under them)")
    _add_model_options(p)
    _add_detector_options(p)
    p.add_argument("--out", default=None, help="folder for annotated copies")
    p.add_argument("--json", default=None, help="write the results as JSON to this file (default: print them)")
    p.add_argument(
        "--csv",
        default=None,
        metavar="FILE",
        help="write one row per face here (image, face, box, each emotion's score, label, confidence, valence)",
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        default=MAX_PIXELS,
        metavar="N",
        help=f"refuse images of more than N pixels, or of more decoded bytes than N pixels of 8-bit color "
        f"(default {MAX_PIXELS:,}, as the web server)",
    )
    p.add_argument(
        "--analysis-pixels",
        type=non_negative_int,
        default=ANALYSIS_PIXELS,
        metavar="N",
        help=f"analyse a larger image decoded reduced to at most N pixels, boxes given in its full size "
        f"(default {ANALYSIS_PIXELS:,}, as the web server; 0: at full size, slower on large photos)",
    )
    p.set_defaults(func=_image)

    p = sub.add_parser("bench", help="speed benchmarks")
    bsub = p.add_subparsers(dest="bench", required=True)
    b = bsub.add_parser("faces", help="predict_faces throughput on a batch of cropped faces")
    _add_model_options(b)
    b.add_argument("--faces", type=positive_int, default=256, help="faces in each timed batch (default: 256)")
    b.add_argument(
        "--face-size", type=positive_int, default=48, help="side of the random faces, 8-1024 pixels (default: 48)"
    )
    b.add_argument("--repeats", type=positive_int, default=30, help="timed calls (default: 30)")
    b.add_argument(
        "--data",
        default=None,
        help="FER-2013 folder or csv: time on PrivateTest's faces, in turn (default: random pixels)",
    )
    b.add_argument("--json", default=None)
    b.set_defaults(func=_bench_faces)
    b = bsub.add_parser("models", help="every shipped model: size, parameters, accuracy, faces/s by batch and threads")
    b.add_argument(
        "models",
        nargs="*",
        help="model names or .onnx paths (default: every shipped model file and short name with a mode of its own)",
    )
    b.add_argument("--data", default=None, help="FER-2013 folder or csv: also score each model on PrivateTest")
    b.add_argument("--repeats", type=positive_int, default=50, help="timed calls per setting (more for small batches)")
    b.add_argument(
        "--min-faces",
        type=int,
        default=2000,
        help="at least this many faces timed per setting: small batches get more calls",
    )
    b.add_argument(
        "--test-faces",
        type=positive_int,
        default=None,
        help="score each model on this many PrivateTest faces drawn at random (default: all 3,589)",
    )
    b.add_argument("--json", default=None)
    b.set_defaults(func=_bench_models)
    b = bsub.add_parser("video", help="per-stage timings and end-to-end frames per second of the video pipeline")
    b.add_argument("source", help="video file or stream URL (a camera number needs --max-frames)")
    _add_model_options(b)
    _add_stream_options(b)
    b.add_argument("--repeat", type=int, default=1, metavar="R", help="run the clip R times, pooling the timings")
    b.add_argument("--json", default=None, help="also write the results here")
    b.add_argument(
        "--compare-fer", action="store_true", help="also time the 'fer' package on the same frames (if installed)"
    )
    b.set_defaults(func=_bench_video)


def _add_stream_options(p: argparse.ArgumentParser) -> None:
    """The options of :class:`~emolens.types.StreamOptions` and the option dataclasses inside it,
    built from their fields; unset ones keep the defaults."""
    from emolens.types import FollowOptions, SmoothingOptions, StreamOptions, TrackerOptions

    _add_detector_options(p)
    add_options(p, StreamOptions)
    follow = p.add_argument_group("following faces between detections")
    follow.add_argument(
        "--no-follow", action="store_true", help="between detections keep each face's last box instead of following it"
    )
    add_options(follow, FollowOptions, prefix="follow")
    smooth = p.add_argument_group("smoothing each track's emotion over time")
    smooth.add_argument("--no-smoothing", action="store_true", help="each frame's own scores and label")
    add_options(smooth, SmoothingOptions, prefix="smoothing")
    add_options(p.add_argument_group("tracking"), TrackerOptions, prefix="tracking")


def _add_detector_options(p: argparse.ArgumentParser) -> None:
    """``--detector`` and the options of :class:`~emolens.types.DetectorOptions` (its sensitivity)."""
    from emolens.types import DetectorOptions

    p.add_argument("--detector", default="haar", help="face detector: haar, or yunet (after 'emolens fetch yunet')")
    add_options(p.add_argument_group("face detector sensitivity"), DetectorOptions)


def _detector_options(args: argparse.Namespace) -> DetectorOptions:
    from emolens.types import DetectorOptions

    return options_from_args(DetectorOptions, args)


def _detector(args: argparse.Namespace) -> Detector:
    """The detector that ``--detector`` names, as sensitive as its options say; made here so that a
    bad name, setting or model file fails before anything is read."""
    from emolens.detect import create_detector

    return create_detector(args.detector, _detector_options(args))


def _stream_options(args: argparse.Namespace) -> StreamOptions:
    from emolens.types import FollowOptions, SmoothingOptions, StreamOptions, TrackerOptions

    return options_from_args(
        StreamOptions,
        args,
        follow=None if args.no_follow else options_from_args(FollowOptions, args, prefix="follow"),
        smoothing=None if args.no_smoothing else options_from_args(SmoothingOptions, args, prefix="smoothing"),
        tracking=options_from_args(TrackerOptions, args, prefix="tracking"),
    )


def _video(args: argparse.Namespace) -> int:
    import json

    from emolens.fusion import FusionOptions
    from emolens.runtime.recognizer import Recognizer
    from emolens.video.pipeline import analyze_video

    if (args.source is None) == (args.camera is None):
        raise EmolensError("give either a video file or URL, or --camera N (not both)")
    source = args.source if args.source is not None else args.camera
    rec = Recognizer(args.model, threads=args.threads, tta=args.tta)
    voice = None
    if args.audio:
        from emolens.audio.recognizer import VoiceRecognizer

        voice = VoiceRecognizer(args.speech_model, threads=args.threads)
    summary = analyze_video(
        source,
        rec,
        detector=_detector(args),
        options=_stream_options(args),
        out=args.out,
        csv=args.csv,
        json=args.json,
        timeline=args.timeline,
        show=args.show,
        progress=not args.no_progress,
        audio=not args.no_audio,
        voice=voice or False,
        fusion=options_from_args(FusionOptions, args, prefix="fusion"),
    )
    if not summary["tracks"] and args.detector != "yunet":
        from emolens.analyze import MISSED_FACE_HINT

        log.warning("no face found; %s", MISSED_FACE_HINT)
    if not (args.json or args.csv or args.out or args.timeline):
        print(json.dumps(summary, indent=2))
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from emolens.detect.yunet import fetch_yunet

    path = fetch_yunet(args.dir)
    print(f"YuNet face detector ready: {path}")
    return 0


def _add_video(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from emolens.fusion import FusionOptions

    p = sub.add_parser("video", help="recognise every face of a video file, stream or camera, frame by frame")
    p.add_argument("source", nargs="?", default=None, help="video file or stream URL (or use --camera)")
    p.add_argument("--camera", type=int, default=None, metavar="N", help="read camera number N instead")
    _add_model_options(p)
    _add_stream_options(p)
    p.add_argument(
        "--out",
        default=None,
        help="write the annotated video here: .mp4 (H.264, plays in every browser) or .webm (VP9); the sound is kept",
    )
    p.add_argument("--no-audio", action="store_true", help="leave the sound out of the annotated video")
    listen = p.add_argument_group("the voice (files with sound)")
    listen.add_argument(
        "--audio", action="store_true", help="also listen: the voice's emotion per window, fused with each face's"
    )
    listen.add_argument(
        "--speech-model", default=None, metavar="M", help="speech model name or .onnx (default: bundled)"
    )
    add_options(listen, FusionOptions, prefix="fusion")
    p.add_argument("--csv", default=None, help="write one row per face per frame here")
    p.add_argument("--json", default=None, help="write the per-track summary here (default: print it)")
    p.add_argument("--timeline", default=None, help="plot each track's emotions over time here (.png, .svg or .pdf)")
    p.add_argument("--show", action="store_true", help="show the annotated frames in a window (q or Esc stops)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_video)

    p = sub.add_parser("fetch", help="download an optional third-party model")
    fsub = p.add_subparsers(dest="what", required=True)
    f = fsub.add_parser("yunet", help="the YuNet face detector (OpenCV model zoo, MIT licence, 230 kB)")
    f.add_argument("--dir", default=None, help="folder to put it in (default: the emolens cache folder)")
    f.set_defaults(func=_fetch)


def _serve(args: argparse.Namespace) -> int:
    from emolens.web import ServeOptions, serve

    options = options_from_args(ServeOptions, args, token=args.token or None, detector_options=_detector_options(args))
    serve(options, on_ready=lambda url: print(f"emolens: serving on {url}", flush=True), verbose=args.verbose)
    return 0


def _add_serve(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from emolens.types import DetectorOptions
    from emolens.web.settings import ServeOptions

    p = sub.add_parser("serve", help="the web app: live camera, images and videos in a browser (needs the web extra)")
    add_options(p, ServeOptions, defaults={"token": os.environ.get("EMOLENS_TOKEN")})
    add_options(p.add_argument_group("face detector sensitivity"), DetectorOptions)
    p.set_defaults(func=_serve)


def _relax_simulate(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from emolens.io import check_writable, write_json
    from emolens.relax.report import export_csv, write_report
    from emolens.relax.scenarios import load_scenario
    from emolens.relax.simulate import SimulateOptions, read_emotions, simulate

    for path in (args.json, args.csv, args.report):
        if path:
            check_writable(path)
    options = options_from_args(SimulateOptions, args)
    scenario = load_scenario(args.scenario)
    sim = simulate(read_emotions(args.emotions, options.label_confidence), scenario, options)
    if args.json:
        write_json(args.json, sim.as_dict())
    if args.csv:
        export_csv(sim.log, args.csv)
    if args.report:
        write_report(sim.log, args.report, title=f"Replay of {Path(args.emotions).name} with {scenario.name}")
    if not (args.json or args.csv or args.report):
        print(json.dumps(sim.as_dict(), indent=2))
    else:
        last = sim.ticks[-1]
        print(
            f"{scenario.name}: {len(sim.ticks)} ticks over {last.t - sim.ticks[0].t:.1f} s, "
            f"{len(sim.alerts)} alerts ({sum(a.priority == 'high' for a in sim.alerts)} high), "
            f"states {', '.join(dict.fromkeys(t.state for t in sim.ticks))}"
        )
    return 0


def _relax_scenarios(args: argparse.Namespace) -> int:
    from emolens.relax.scenarios import available_scenarios, load_scenario

    for name in args.files or available_scenarios():
        sc = load_scenario(name)
        minutes = sum(s.duration_s for s in sc.steps) / 60
        print(f"{sc.name:18s} {len(sc.steps)} steps, {minutes:4.1f} min  {sc.description}")
    return 0


def _relax_run(args: argparse.Namespace) -> int:
    from emolens.io import check_writable, write_json
    from emolens.relax.runner import open_reading_source, relax_run

    if args.json:
        check_writable(args.json)
    source = open_reading_source(
        camera=args.camera,
        video=args.video,
        demo=args.demo,
        readings=args.readings,
        model=args.model,
        threads=args.threads,
        tta=args.tta,
        detector=args.detector,
        detector_options=_detector_options(args),
    )
    summary = relax_run(
        source,
        devices=args.devices,
        chair=args.chair,
        child=args.child,
        scenario=args.scenario,
        store=args.store,
        duration_s=args.duration,
        keyboard=not args.no_keyboard,
        physio=args.physio,
    )
    if args.json:
        write_json(args.json, summary)
    for s in summary["sessions"]:
        print(f"session {s['id']}: {s['scenario']}, {s['duration_s']:.0f} s, {s['outcome']}, {s['alerts']} alerts")
    return 0


def _relax_device(args: argparse.Namespace) -> int:
    from emolens.relax.agent import run_device_agent

    run_device_agent(
        args.broker,
        args.outputs,
        chair=args.chair,
        name=args.name,
        modalities=[m for m in args.modalities.split(",") if m],
        watchdog_s=args.watchdog_s,
        heartbeat_s=args.heartbeat_s,
        pins=args.pin,
        estop_pin=args.estop_pin,
    )
    return 0


def _add_relax_devices(relax_sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    r = relax_sub.add_parser("run", help="a session: camera -> emotion -> controller -> devices (Esc stops everything)")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--camera", type=int, default=None, metavar="N", help="read camera number N")
    src.add_argument("--video", default=None, metavar="FILE", help="play a video file as the camera (tests, demos)")
    src.add_argument(
        "--demo", default=None, metavar="NAME", help="a scripted child instead of a camera: calm, upset, gaps"
    )
    src.add_argument(
        "--readings", default=None, metavar="FILE.csv", help="replay an emotion CSV (as relax simulate's) in real time"
    )
    r.add_argument("--devices", default="sim", metavar="sim|mqtt://HOST:PORT", help="the actuators (default: sim)")
    r.add_argument("--chair", default="chair1", help="the chair's id in the MQTT topics (default: chair1)")
    r.add_argument("--child", required=True, metavar="ID", help="the child's pseudonymous id (never a name)")
    r.add_argument(
        "--scenario", default=None, metavar="NAME|FILE", help="scenario to play (default: the child's learned choice)"
    )
    r.add_argument("--store", default=None, metavar="FILE", help="SQLite records: sessions and what each child likes")
    r.add_argument(
        "--physio",
        default=None,
        metavar="mqtt://HOST:PORT",
        help="the child's wristband: its samples on emolens/physio/<child>/+ of this broker add stress to the readings",
    )
    r.add_argument("--duration", type=finite_number, default=None, metavar="S", help="stop after S seconds")
    r.add_argument("--no-keyboard", action="store_true", help="ignore the terminal's keys")
    r.add_argument("--json", default=None, metavar="OUT", help="write the sessions, alerts and device states here")
    _add_detector_options(r)
    _add_model_options(r)
    r.set_defaults(func=_relax_run)

    r = relax_sub.add_parser("device", help="the device-side agent on the chair's board: MQTT commands -> outputs")
    r.add_argument("--broker", required=True, metavar="mqtt://HOST:PORT", help="the MQTT broker")
    r.add_argument("--outputs", default="print", choices=["print", "gpio"], help="print each change, or drive GPIO PWM")
    r.add_argument(
        "--watchdog-s",
        type=finite_number,
        default=1.0,
        metavar="W",
        help="all off without a controller heartbeat for W s (1)",
    )
    r.add_argument(
        "--heartbeat-s", type=finite_number, default=0.5, metavar="S", help="this agent's own heartbeat period (0.5)"
    )
    r.add_argument("--chair", default="chair1", help="the chair's id in the MQTT topics (default: chair1)")
    r.add_argument("--name", default="agent", help="this agent's name in the topics (default: agent)")
    r.add_argument("--modalities", default="light,sound,vibration", help="the outputs this board drives")
    r.add_argument(
        "--pin", action="append", default=[], metavar="MODALITY=PIN", help="gpio: BCM pin (light=R/G/B for RGB)"
    )
    r.add_argument(
        "--estop-pin", type=int, default=None, metavar="PIN", help="gpio: an emergency-stop button to ground"
    )
    r.set_defaults(func=_relax_device)


def _add_relax(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from emolens.relax.simulate import SimulateOptions

    p = sub.add_parser("relax", help="the adaptive relaxation system: light, sound and vibration driven by emotion")
    relax_sub = p.add_subparsers(dest="relax", required=True)

    r = relax_sub.add_parser(
        "simulate", help="replay an emotion timeline (CSV) through the controller with simulated devices"
    )
    r.add_argument(
        "--emotions",
        required=True,
        metavar="FILE.csv",
        help="time,label or time plus the 7 probabilities (optional columns: arousal, event)",
    )
    r.add_argument(
        "--scenario",
        default="calm-evening",
        metavar="NAME|FILE",
        help="shipped scenario name or .toml file (default: calm-evening)",
    )
    r.add_argument(
        "--json", default=None, metavar="OUT", help="write ticks and alerts as JSON here (default: print them)"
    )
    r.add_argument("--csv", default=None, help="also write the session log as CSV here")
    r.add_argument("--report", default=None, help="also draw the one-page caregiver report here (.png or .pdf)")
    add_options(r, SimulateOptions)
    r.set_defaults(func=_relax_simulate)

    r = relax_sub.add_parser("scenarios", help="list the shipped scenarios, or check scenario files")
    r.add_argument("files", nargs="*", help="scenario .toml files to check (default: list the shipped ones)")
    r.set_defaults(func=_relax_scenarios)

    _add_relax_devices(relax_sub)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, as every other error of the CLI:
    ``emolens: error: bench faces: argument --faces: must be at least 1, not -1 (see --help)``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # a command's parser sets this after the parsers above it, so the innermost one answers for
        # arguments that no parser took (argparse would blame the top level: "see emolens --help")
        self.set_defaults(_command_parser=self)

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("emolens").strip()
        where = f"{command}: " if command else ""
        self.exit(2, f"emolens: error: {where}{message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from emolens.audio.cli import add_parser as add_audio_parser
    from emolens.batch.cli import add_batch_parser
    from emolens.event.cli import add_parser as add_watch_parser
    from emolens.physio.cli import add_parser as add_physio_parser

    parser = _Parser(prog="emolens", description="Real-time facial emotion recognition on CPUs.")
    parser.add_argument("--version", action="version", version=f"emolens {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_inference(sub)
    _add_video(sub)
    add_batch_parser(sub)
    add_audio_parser(sub)
    add_watch_parser(sub)
    add_physio_parser(sub)
    _add_serve(sub)
    _add_relax(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM while a command runs, so that it stops as on Ctrl+C:
    unfinished outputs are discarded (no hidden ``.tmp`` file stays), a live source ends normally."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM during the clean-up ends the process at once
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    # OpenCV and FFmpeg print their own warnings to stderr; the CLI says what went wrong itself.
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    parser = build_parser()
    args, unrecognized = parser.parse_known_args(argv)
    if unrecognized:
        getattr(args, "_command_parser", parser).error(f"unrecognized arguments: {' '.join(unrecognized)}")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        code: int = args.func(args)
        return code
    except EmolensError as e:
        print(f"emolens: error: {e}", file=sys.stderr)
        return 2
    except Terminated:
        print("emolens: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("emolens: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a program that stopped reading (| head)
        sys.stderr.close()
        return 0
    except OSError as e:  # a file the command could not read or write (permissions, a read-only or full disk)
        if e.filename is None:
            raise
        print(f"emolens: error: cannot use {e.filename}: {e.strerror or e}", file=sys.stderr)
        return 2
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
