"""Analyse image files: faces and emotions, annotated copies and a JSON summary."""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emolens.analysis import Analyzer, faces_at_scale
from emolens.errors import EmolensError
from emolens.files import IMAGE_EXTENSIONS, expand_folders
from emolens.imagecheck import ANALYSIS_PIXELS, ImageLimits
from emolens.imageio import check_image_file, decode_image_file, encode_image, read_image
from emolens.io import AtomicFile, check_writable, distinct_names, write_json, write_text_atomic
from emolens.video.draw import draw_faces

log = logging.getLogger(__name__)


MISSED_FACE_HINT = (
    "faces that are small, turned or dimly lit are found more often with --detector yunet, "
    "or with a lower --haar-min-neighbors (3) or --haar-min-size"
)


def analyze_images(
    paths: Sequence[str | Path],
    analyzer: Analyzer,
    out_dir: str | Path | None = None,
    json_path: str | Path | None = None,
    detector_name: str | None = None,
    limits: ImageLimits | None = None,
    analysis_pixels: int | None = ANALYSIS_PIXELS,
    csv_path: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Recognise the faces of each image (a folder: every image under it, :mod:`emolens.files`);
    write annotated copies to ``out_dir``, JSON to ``json_path`` and/or a table to ``csv_path``
    (:func:`faces_table`: one row per face, and one with empty face columns for an image without any).

    ``detector_name`` is recorded in the JSON (and decides the hint logged for images without a
    face). ``limits``: how large an image may be (see :func:`~emolens.imageio.read_image`; default
    40 M pixels). ``analysis_pixels``: a larger image is analysed decoded reduced to at most this
    many pixels, as the web server does (so both give the same faces), its boxes given back in the
    full image's pixels and drawn on the full image (None: analysed at full size).

    All or nothing: a bad input leaves no output (each file's kind is checked before any work, from
    its first bytes; an image that fails to decode later drops the copies written so far, which wait
    under temporary names). One image is in memory at a time.
    """
    if not paths:
        raise EmolensError("no image given")
    # a rerun into an --out folder inside the input folder does not take the copies for photos
    paths = expand_folders(paths, IMAGE_EXTENSIONS, "image", skip=out_dir)
    for p in paths:
        check_image_file(p)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and out.exists() and not out.is_dir():
        raise EmolensError(f"--out {out} exists and is not a folder")
    for table in (json_path, csv_path):  # either may go into the --out folder, which is only made below
        if table is not None and not (out is not None and Path(table).resolve().parent == out.resolve()):
            check_writable(table)
    # the topmost folder --out makes, removed again (with those under it) if nothing lands in it
    made = None if out is None else next((d for d in reversed((out, *out.parents)) if not d.exists()), None)
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise EmolensError(f"cannot create the --out folder {out}: {e.strerror or e}") from None
        if not os.access(out, os.W_OK):
            raise EmolensError(f"cannot write into the --out folder {out}: it is not writable")
    names = annotated_names([Path(p) for p in paths])
    results: list[dict[str, Any]] = []
    copies: list[AtomicFile] = []
    try:
        for path, name in zip(map(Path, paths), names, strict=True):
            copy = AtomicFile(out / name) if out is not None else None
            if copy is not None:
                copies.append(copy)
            results.append(_analyse_image(path, analyzer, copy, detector_name, limits, analysis_pixels))
    except BaseException:
        for copy in copies:
            copy.discard()
        if made is not None and out is not None:
            _remove_empty_folders(out, made)
        raise
    for copy in copies:
        copy.commit()
    if json_path is not None:
        write_json(json_path, {"model": analyzer.recognizer.meta.name, "detector": detector_name, "images": results})
    if csv_path is not None:
        write_text_atomic(csv_path, faces_table(results, analyzer.recognizer.labels))
    return results


def faces_table(results: Sequence[dict[str, Any]], labels: Sequence[str]) -> str:
    """CSV of :func:`analyze_images`' results: ``image, face, x, y, w, h``, each label's score,
    ``label, confidence, valence``; one row per face (``face``: its number, from the left), and a row
    with only ``image`` filled for an image in which no face was found."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["image", "face", "x", "y", "w", "h", *labels, "label", "confidence", "valence"])
    for entry in results:
        if not entry["faces"]:
            w.writerow([entry["image"], *[""] * (len(labels) + 8)])
        for f in entry["faces"]:
            scores = [f"{f['scores'].get(lab, 0.0):.5f}" for lab in labels]
            w.writerow(
                [entry["image"], f["number"], *f["box"], *scores, f["label"], f"{f['confidence']:.5f}", f["valence"]]
            )
    return buf.getvalue()


def _analyse_image(
    path: Path,
    analyzer: Analyzer,
    copy: AtomicFile | None,
    detector_name: str | None,
    limits: ImageLimits | None,
    analysis_pixels: int | None,
) -> dict[str, Any]:
    """One image's entry of :func:`analyze_images`, its annotated copy written to ``copy``'s
    temporary file; its pixels go when it returns."""
    decoded = decode_image_file(path, limits, analysis_pixels)
    sx, sy = decoded.scale
    faces = faces_at_scale(analyzer.image(decoded.image), sx, sy, decoded.width, decoded.height)
    log.info("%s: %d face(s)%s", path, len(faces), "".join(f", {f.label} {f.confidence:.2f}" for f in faces))
    if not faces and detector_name != "yunet":
        log.warning("%s: no face found; %s", path, MISSED_FACE_HINT)
    entry: dict[str, Any] = {
        "image": str(path),
        "width": decoded.width,
        "height": decoded.height,
        "faces": [f.as_dict() for f in faces],
    }
    if copy is not None:
        full = decoded.image if (sx, sy) == (1.0, 1.0) else read_image(path, limits)
        del decoded  # the reduced pixels go before the copy is drawn
        copy.path.write_bytes(encode_image(draw_faces(full, faces), copy.dest.suffix))
        entry["annotated"] = str(copy.dest)
    return entry


def _remove_empty_folders(leaf: Path, top: Path) -> None:
    """Remove ``leaf`` and its parents up to ``top``, as long as each is empty."""
    folder = leaf
    with contextlib.suppress(OSError):
        while True:
            folder.rmdir()
            if folder == top:
                break
            folder = folder.parent


def annotated_names(paths: Sequence[Path]) -> list[str]:
    """The file name of each image's annotated copy: ``NAME_emolens.EXT`` (JPEG and PNG keep their
    type, others become PNG), and ``NAME_emolens-2.EXT``, ``-3``... for images of the same name
    from different folders, so that no copy overwrites another."""
    return distinct_names(
        [(f"{p.stem}_emolens", p.suffix if p.suffix.lower() in (".jpg", ".jpeg", ".png") else ".png") for p in paths]
    )
