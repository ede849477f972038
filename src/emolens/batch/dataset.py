"""The whole run as one data set: a Parquet file with one row per face per frame, and a CSV with one row per video.

:func:`write_dataset` gathers the per-frame tables of the videos done (``videos/<id>.csv``, as
``emolens video --csv`` writes them) into ``faces.parquet``: ``video_id``, ``frame``, ``time``,
``track_id``, the box ``x``, ``y``, ``w``, ``h``, one probability column per label of the model,
``label`` and ``valence``; a run that heard the sound (``--audio``) adds ``voice_label``,
``voice_speech``, one fused probability column per label (``fused_<label>``) and ``fused_label``
(empty or null where no voice was heard at that time). It counts each video's labels on the
way, for the summary table and the overview. pyarrow is imported only here, and only when used (:func:`require_pyarrow` says
how to install it). Both files are written through an :class:`~emolens.io.AtomicFile`.
"""

from __future__ import annotations

import csv as csvlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emolens.batch.manifest import DONE, Record
from emolens.errors import EmolensError
from emolens.io import AtomicFile
from emolens.labels import EMOTIONS

__all__ = ["DatasetStats", "require_pyarrow", "write_dataset", "write_video_table"]

ROWS_PER_GROUP = 1 << 20
"""Rows gathered before they are written as one Parquet row group."""

_HEAD = ("frame", "time", "track_id", "x", "y", "w", "h")
_TAIL = ("label", "valence")


def require_pyarrow() -> None:
    """Raise an EmolensError saying how to install pyarrow when it is missing."""
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise EmolensError(
            "a batch run writes its data set with pyarrow, which is not installed: pip install 'emolens[batch]'"
        ) from None


@dataclass(frozen=True)
class DatasetStats:
    """What :func:`write_dataset` wrote: the labels (probability columns), the rows, and per video
    id the count of each label over its rows."""

    labels: tuple[str, ...]
    rows: int
    label_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    voice: bool = False
    """Whether the tables hold the voice and fused columns."""


def _voice_columns(labels: Sequence[str]) -> tuple[str, ...]:
    return ("voice_label", "voice_speech", *(f"fused_{lab}" for lab in labels), "fused_label")


def _labels_of(path: Path) -> tuple[str, ...]:
    """The labels of a per-frame table (with or without the voice and fused columns)."""
    with open(path, newline="", encoding="utf-8") as fh:
        header = tuple(next(csvlib.reader(fh), []))
    if header[: len(_HEAD)] == _HEAD and _TAIL[0] in header:
        end = header.index(_TAIL[0])
        labels = header[len(_HEAD) : end]
        if header[end:] in (_TAIL, (*_TAIL, *_voice_columns(labels))):
            return labels
    raise EmolensError(f"{path} is not a per-frame table of emolens (columns {', '.join(header[:4])}...)")


def _schema(labels: Sequence[str], voice: bool = False) -> Any:
    import pyarrow as pa

    text = ("voice_label", "fused_label")
    heard = [(c, pa.string() if c in text else pa.float32()) for c in _voice_columns(labels)] if voice else []
    return pa.schema(
        [
            ("video_id", pa.string()),
            ("frame", pa.int64()),
            ("time", pa.float64()),
            ("track_id", pa.int64()),
            ("x", pa.int32()),
            ("y", pa.int32()),
            ("w", pa.int32()),
            ("h", pa.int32()),
            *((lab, pa.float32()) for lab in labels),
            ("label", pa.string()),
            ("valence", pa.string()),
            *heard,
        ]
    )


def _read(path: Path, video_id: str, schema: Any) -> Any:
    """A video's table with its id first; a video without sound in a run that heard the sound gets
    empty voice columns (no voice label, null scores)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types = {f.name: f.type for f in schema if f.name != "video_id"}
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False))
    names = schema.names[1:]
    if "voice_label" in names and table.schema.names == names[: names.index("voice_label")]:
        for f in schema:
            if f.name not in table.schema.names and f.name != "video_id":
                empty = (
                    pa.array([""] * table.num_rows, pa.string())
                    if f.type == pa.string()
                    else pa.nulls(table.num_rows, f.type)
                )
                table = table.append_column(f.name, empty)
    if table.schema.names != names:
        raise EmolensError(f"{path}: its columns differ from the other videos' (another model?)")
    ids = pa.array([video_id] * table.num_rows, pa.string())
    return table.add_column(0, "video_id", ids).cast(schema)


def write_dataset(videos: Sequence[tuple[str, Path]], dest: str | Path, *, voice: bool = False) -> DatasetStats:
    """Write the per-frame tables ``videos`` ((id, csv path), in order) as one Parquet file ``dest``;
    ``voice``: the run heard the sound, and the data set has the voice and fused columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    labels = _labels_of(videos[0][1]) if videos else EMOTIONS
    schema = _schema(labels, voice)
    counts: dict[str, dict[str, int]] = {}
    rows = 0
    with AtomicFile(dest) as tmp:
        writer = pq.ParquetWriter(tmp.path, schema, compression="zstd")
        try:
            buffer: list[Any] = []
            buffered = 0
            for vid, path in videos:
                table = _read(path, vid, schema)
                counts[vid] = {str(k): int(v) for k, v in Counter(table.column("label").to_pylist()).items()}
                rows += table.num_rows
                buffer.append(table)
                buffered += table.num_rows
                if buffered >= ROWS_PER_GROUP:
                    writer.write_table(pa.concat_tables(buffer))
                    buffer, buffered = [], 0
            writer.write_table(pa.concat_tables(buffer) if buffer else schema.empty_table())
        finally:
            writer.close()
    return DatasetStats(labels, rows, counts, voice=voice)


def voice_emotion(voice: Mapping[str, Any]) -> str:
    """The most frequent emotion over the speech windows of a video's ``voice`` summary ("" without speech)."""
    share = voice.get("share") or {}
    return max(share, key=lambda k: share[k]) if int(voice.get("speech_windows", 0)) and share else ""


def _voice_cells(voice: dict[str, Any] | None) -> list[str]:
    """A video's ``voice`` summary as the table's cells: its most frequent emotion over its speech
    windows, its windows of speech, music and in all, and why it was not heard."""
    if not voice:
        return ["", "", "", "", ""]
    if not voice.get("available"):
        return ["", "", "", "", str(voice.get("reason", ""))]
    speech = int(voice.get("speech_windows", 0))
    return [voice_emotion(voice), str(speech), str(voice.get("music_windows", 0)), str(voice.get("windows", 0)), ""]


def write_video_table(
    records: Sequence[Record],
    stats: DatasetStats,
    dest: str | Path,
    voices: dict[str, dict[str, Any] | None] | None = None,
) -> None:
    """One row per video: id, path, state, error, its figures, its dominant label and the share of its
    rows (faces over frames) in each label; with ``voices`` (video id -> the ``voice`` section of its
    summary, for a run that heard the sound), its voice's most frequent emotion, windows of speech,
    of music and in all, and why it was not heard."""
    head = [
        "video_id", "path", "state", "error", "frames", "duration_s", "faces", "tracks",
        "seconds", "cpu_seconds", "frames_per_s", "dominant",
    ]  # fmt: skip
    heard = ["voice_emotion", "voice_speech_windows", "voice_music_windows", "voice_windows", "voice_not_heard"]
    with AtomicFile(dest) as tmp, open(tmp.path, "w", newline="", encoding="utf-8") as fh:
        w = csvlib.writer(fh)
        w.writerow([*head, *(f"share_{lab}" for lab in stats.labels), *(heard if voices is not None else [])])
        for r in records:
            counts = stats.label_counts.get(r.id, {}) if r.state == DONE else {}
            total = sum(counts.values())
            dominant = max(counts, key=lambda k: counts[k]) if total else ""
            duration = r.duration_s
            w.writerow(
                [
                    r.id,
                    r.path,
                    r.state,
                    r.error or "",
                    r.frames,
                    "" if duration is None else f"{duration:.3f}",
                    r.faces,
                    r.tracks,
                    f"{r.seconds:.3f}",
                    f"{r.cpu_seconds:.3f}",
                    f"{r.frames / r.seconds:.2f}" if r.seconds > 0 and r.frames else "",
                    dominant,
                    *(f"{counts.get(lab, 0) / total:.5f}" if total else "" for lab in stats.labels),
                    *(_voice_cells(voices.get(r.id)) if voices is not None else []),
                ]
            )
