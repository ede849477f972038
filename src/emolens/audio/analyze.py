"""Analyse the speech of a file window by window, and write what was found (JSON, CSV, timeline)."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emolens.audio import MAX_DURATION_S
from emolens.audio.decode import DecodedAudio, decode_audio
from emolens.audio.labels import MUSIC, SILENCE, window_counts
from emolens.audio.recognizer import VoiceRecognizer, VoiceWindow, check_windows
from emolens.errors import EmolensError
from emolens.io import distinct_names, write_text_atomic


@dataclass(frozen=True)
class AudioAnalysis:
    """The windows of one recording and where they came from."""

    source: str
    audio: DecodedAudio
    model: str
    labels: tuple[str, ...]
    window_s: float
    hop_s: float
    windows: tuple[VoiceWindow, ...]

    @property
    def speech_windows(self) -> list[VoiceWindow]:
        return [w for w in self.windows if w.probs is not None]

    def summary(self) -> dict[str, object]:
        """Counts by kind of window, and over the speech windows: the mean probabilities, the
        emotion they point to, and the share of windows each emotion won."""
        speech = self.speech_windows
        mean = np.mean([w.probs for w in speech if w.probs is not None], axis=0) if speech else None
        won = [w.label for w in speech]
        return {
            "source": self.source,
            "duration_s": round(self.audio.duration_s, 3),
            "source_rate": self.audio.source_rate,
            "channels": self.audio.channels,
            "codec": self.audio.codec,
            "model": self.model,
            "labels": list(self.labels),
            "window_s": self.window_s,
            "hop_s": self.hop_s,
            **window_counts([w.label for w in self.windows]),
            "emotion": None if mean is None else self.labels[int(np.argmax(mean))],
            "mean_probs": None
            if mean is None
            else {k: round(float(p), 4) for k, p in zip(self.labels, mean, strict=True)},
            "share": {k: round(won.count(k) / len(won), 4) for k in self.labels} if won else None,
        }

    def as_dict(self) -> dict[str, object]:
        return {**self.summary(), "per_window": [w.as_dict(self.labels) for w in self.windows]}


STAGE_NAMES = {"cues": "voice activity", "voice": "emotion", "partner": "emotion (partner)"}
"""What each stage of :meth:`VoiceRecognizer.windows` is called on its progress bar."""


class StageBars:
    """One tqdm bar at a time on stderr, a new one for each stage that :meth:`update` hears of
    (:data:`emolens.audio.recognizer.Progress`); bars are cleared when done."""

    def __init__(self) -> None:
        self._stage: str | None = None
        self._bar: Any = None

    def update(self, stage: str, done: int, total: int) -> None:
        if stage != self._stage:
            from tqdm import tqdm

            self.close()
            self._stage = stage
            self._bar = tqdm(
                total=total,
                desc=STAGE_NAMES.get(stage, stage),
                mininterval=1,
                leave=False,
                file=sys.stderr,
                dynamic_ncols=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}",
            )
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar, self._stage = None, None

    def __enter__(self) -> StageBars:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def analyze_audio(
    path: str | Path,
    recognizer: VoiceRecognizer,
    *,
    window_s: float = 2.0,
    hop_s: float = 0.5,
    max_duration_s: float | None = MAX_DURATION_S,
    progress: bool = False,
) -> AudioAnalysis:
    """Decode the sound of ``path`` (an audio file or a video's audio track) and judge it window by
    window; ``progress``: show a progress bar of each stage on stderr (cleared when it ends)."""
    check_windows(window_s, hop_s)  # before any decoding
    audio = decode_audio(path, recognizer.features.sample_rate, max_duration_s=max_duration_s)
    with StageBars() as bars:
        windows = recognizer.windows(
            audio.samples, audio.sample_rate, window_s=window_s, hop_s=hop_s, progress=bars.update if progress else None
        )
    return AudioAnalysis(str(path), audio, recognizer.meta.name, recognizer.labels, window_s, hop_s, tuple(windows))


@dataclass(frozen=True)
class AudioFailure:
    """A file of several that could not be analysed, and why (the others go on)."""

    source: str
    error: str

    def as_dict(self) -> dict[str, str]:
        return {"source": self.source, "error": self.error}


def analyze_audio_files(
    paths: Sequence[str | Path],
    recognizer: VoiceRecognizer,
    *,
    window_s: float = 2.0,
    hop_s: float = 0.5,
    max_duration_s: float | None = MAX_DURATION_S,
    progress: bool = False,
) -> Iterator[AudioAnalysis | AudioFailure]:
    """:func:`analyze_audio` on each of ``paths`` in turn, yielding each analysis as it is done (so
    that a caller keeps one file's sound at a time); a file that cannot be read or judged yields an
    :class:`AudioFailure` instead and the next goes on. ``progress``: a bar over the files too."""
    check_windows(window_s, hop_s)
    if not paths:
        raise EmolensError("no audio file given")
    files = None
    if progress and len(paths) > 1:
        from tqdm import tqdm

        files = tqdm(total=len(paths), desc="files", unit="file", leave=False, file=sys.stderr, dynamic_ncols=True)
    try:
        for path in paths:
            try:
                yield analyze_audio(
                    path,
                    recognizer,
                    window_s=window_s,
                    hop_s=hop_s,
                    max_duration_s=max_duration_s,
                    progress=progress,
                )
            except EmolensError as e:
                yield AudioFailure(str(path), str(e))
            except OSError as e:  # a file this user may not read, a folder given as a file
                if e.filename is None:
                    raise
                yield AudioFailure(str(path), f"cannot read {path}: {e.strerror or e}")
            if files is not None:
                files.update(1)
    finally:
        if files is not None:
            files.close()


CSV_COLUMNS = ("start_s", "end_s", "label", "confidence", "speech", "level_db", "music", "clipped")
"""The columns of :func:`windows_csv` before one ``p_<label>`` column per label."""


def csv_header(labels: Sequence[str], *, with_source: bool = False) -> list[str]:
    """The header of :func:`windows_csv`; ``with_source``: a first column naming each row's file."""
    return [*(("source",) if with_source else ()), *CSV_COLUMNS, *(f"p_{k}" for k in labels)]


def csv_rows(analysis: AudioAnalysis, *, with_source: bool = False) -> list[list[str]]:
    """One row per window of ``analysis``: times, label, confidence, voice-activity cues, a
    probability per label (empty for windows not judged)."""
    rows = []
    for win in analysis.windows:
        probs = [f"{p:.4f}" for p in win.probs] if win.probs is not None else [""] * len(analysis.labels)
        conf = f"{float(win.probs.max()):.4f}" if win.probs is not None else ""
        rows.append(
            [
                *((analysis.source,) if with_source else ()),
                f"{win.start_s:.3f}",
                f"{win.end_s:.3f}",
                win.label,
                conf,
                f"{win.speech:.4f}",
                f"{win.vad.level_db:.2f}",
                f"{win.vad.music:.4f}",
                f"{win.clipped:.5f}",
                *probs,
            ]
        )
    return rows


def format_csv(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def windows_csv(analysis: AudioAnalysis) -> str:
    """One row per window: times, label, confidence, voice-activity cues, a probability per label."""
    return format_csv(csv_header(analysis.labels), csv_rows(analysis))


def write_csv(analysis: AudioAnalysis, path: str | Path) -> None:
    write_text_atomic(path, windows_csv(analysis))


def plot_names(paths: Sequence[str | Path]) -> list[str]:
    """A PNG name for each file's timeline in one folder: its stem, with ``-2``, ``-3`` ... for
    stems met before (``a/talk.wav`` and ``b/talk.mp3`` give ``talk.png`` and ``talk-2.png``)."""
    return distinct_names([(Path(p).stem or "audio", ".png") for p in paths])


def plot_timeline(analysis: AudioAnalysis, path: str | Path) -> None:
    """Each emotion's probability at each window's centre, with silence, music and non-speech shaded (PNG)."""
    from emolens.eval.report import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(11, 4))
    centres = np.array([(w.start_s + w.end_s) / 2 for w in analysis.windows])
    probs = np.array(
        [w.probs if w.probs is not None else np.full(len(analysis.labels), np.nan) for w in analysis.windows]
    )
    for j, lab in enumerate(analysis.labels):
        ax.plot(centres, probs[:, j], marker=".", label=lab)
    step = analysis.hop_s / 2
    for w, c in zip(analysis.windows, centres, strict=True):
        if w.probs is None:
            shade = {SILENCE: "0.85", MUSIC: "tab:purple"}.get(w.label, "tab:orange")
            ax.axvspan(c - step, c + step, color=shade, alpha=0.3, linewidth=0)
    ax.set_xlim(0, max(analysis.audio.duration_s, 1e-3))
    ax.set_ylim(0, 1)
    ax.set_xlabel("time (s), window centres; grey: silence, purple: music, orange: non-speech")
    ax.set_ylabel("probability")
    ax.set_title(
        f"{Path(analysis.source).name}: {analysis.model}, windows of {analysis.window_s:g} s every {analysis.hop_s:g} s"
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
