"""Load speech emotion data: RAVDESS by actor, or your own ``train/<class>/*.wav`` folders.

Two layouts are recognised (:func:`audio_layout`):

* **RAVDESS** (Livingstone & Russo 2018): ``Actor_XX/03-01-EE-II-SS-RR-AA.flac`` (or ``.wav``),
  emotion ``EE`` 01-08 (:data:`~emolens.audio.labels.RAVDESS_CODES`), speaker ``AA``; only speech
  (vocal channel 01) is read. Speaker-independent protocol: ``train`` = actors 01-18, ``val`` =
  19-20, ``test`` = 21-24 (:data:`RAVDESS_SPLITS`); one actor is never in two splits.
* **folders**: ``train/<class>/``, ``val/<class>/`` and ``test/<class>/`` of audio files (any
  format FFmpeg reads). A file's speaker (:func:`folder_speaker`) is read from its name: the actor of
  a RAVDESS-named file, or what comes before ``__`` (``anna__take-03.wav``: ``anna``); other files'
  speakers are unknown (:data:`UNKNOWN_SPEAKER`), and what needs speakers (``--speaker-adversary``,
  ``--feature-norm speaker``) refuses them.

Waveforms come back decoded, mono float32 at the rate asked for, all in memory (RAVDESS speech:
1,440 files, 1.5 hours, about 340 MB at 16 kHz).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emolens.audio.features import FeatureConfig, SpeakerProfile, speaker_profile
from emolens.audio.labels import RAVDESS_CODES, SPEECH_EMOTIONS
from emolens.errors import DataError

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm")
RAVDESS_FILE = re.compile(r"(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)\.(wav|flac)", re.IGNORECASE)
ACTOR_DIR = re.compile(r"Actor_(\d\d)")
RAVDESS_SPLITS: dict[str, tuple[int, ...]] = {
    "train": tuple(range(1, 19)),
    "val": (19, 20),
    "test": (21, 22, 23, 24),
}
SPLITS = tuple(RAVDESS_SPLITS)
MAX_UTTERANCE_S = 60.0
CLASS_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
SPEAKER_PREFIX = re.compile(r"([A-Za-z0-9][A-Za-z0-9.-]{0,39})__.+")
"""``SPEAKER__anything.ext``: a file of the folders layout that names its speaker."""
UNKNOWN_SPEAKER = "?"
"""The speaker of a file of the folders layout whose name does not say it."""


def folder_speaker(path: Path) -> str:
    """The speaker of a file of the folders layout: a RAVDESS-named file's actor (``"01"``..), the
    text before ``__`` in names like ``anna__take-03.wav``, else :data:`UNKNOWN_SPEAKER`."""
    if m := RAVDESS_FILE.fullmatch(path.name):
        return m.group(7)
    if m := SPEAKER_PREFIX.fullmatch(path.name):
        return m.group(1)
    return UNKNOWN_SPEAKER


@dataclass(frozen=True)
class AudioSet:
    """Utterances with labels: ``waveforms`` mono float32 at ``sample_rate``, ``labels`` (N,) int64
    indices into ``classes``, ``speakers`` one id each (RAVDESS: ``"01"``..``"24"``;
    :data:`UNKNOWN_SPEAKER` where a file's name does not say it)."""

    waveforms: tuple[np.ndarray, ...]
    labels: np.ndarray
    speakers: tuple[str, ...]
    paths: tuple[str, ...]
    classes: tuple[str, ...]
    sample_rate: int

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(self.classes))

    def speaker_profiles(self, cfg: FeatureConfig) -> dict[str, SpeakerProfile]:
        """Each known speaker's :class:`~emolens.audio.features.SpeakerProfile` from all their
        utterances here (the labels are not used; unknown speakers get none); the waveforms must be
        at ``cfg.sample_rate``."""
        speakers = np.asarray(self.speakers)
        return {
            s: speaker_profile([self.waveforms[i] for i in np.flatnonzero(speakers == s)], cfg)
            for s in sorted(set(self.speakers) - {UNKNOWN_SPEAKER})
        }

    def require_speakers(self, what: str) -> None:
        """Refuse, with one line naming ``what`` needs them, a set whose files' speakers are unknown."""
        unknown = [p for p, s in zip(self.paths, self.speakers, strict=True) if s == UNKNOWN_SPEAKER]
        if unknown:
            raise DataError(
                f"{what} needs each file's speaker: {len(unknown)} of {len(self)} files do not name theirs "
                f"(e.g. {unknown[0]}); name them SPEAKER__anything.wav or use RAVDESS's file names"
            )

    def subset(self, idx: np.ndarray) -> AudioSet:
        return AudioSet(
            tuple(self.waveforms[i] for i in idx),
            self.labels[idx],
            tuple(self.speakers[i] for i in idx),
            tuple(self.paths[i] for i in idx),
            self.classes,
            self.sample_rate,
        )


def _ravdess_files(root: Path) -> list[tuple[Path, str, str]]:
    """(file, label, actor) of every RAVDESS speech file under ``root/Actor_XX/``."""
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and ACTOR_DIR.fullmatch(p.name)):
        for f in sorted(d.iterdir()):
            m = RAVDESS_FILE.fullmatch(f.name)
            if m is None or m.group(2) != "01":  # vocal channel 02 is song
                continue
            emotion, actor = m.group(3), m.group(7)
            if emotion not in RAVDESS_CODES:
                raise DataError(f"{f}: unknown RAVDESS emotion code {emotion}")
            out.append((f, RAVDESS_CODES[emotion], actor))
    return out


def audio_layout(data: str | Path) -> str | None:
    """``"ravdess"``, ``"folders"`` (``train/<class>/`` with audio files) or None (not speech data)."""
    root = Path(data)
    if not root.is_dir():
        return None
    actors = [p for p in root.iterdir() if p.is_dir() and ACTOR_DIR.fullmatch(p.name)]
    if any(RAVDESS_FILE.fullmatch(f.name) for d in actors for f in d.iterdir()):
        return "ravdess"
    train = root / "train"
    if train.is_dir():
        for d in train.iterdir():
            if d.is_dir() and any(f.suffix.lower() in AUDIO_SUFFIXES for f in d.iterdir()):
                return "folders"
    return None


def is_audio_data(data: str | Path) -> bool:
    """Whether ``data`` is a speech data set this module reads."""
    return audio_layout(data) is not None


def class_order(names: set[str]) -> tuple[str, ...]:
    """RAVDESS's emotions present, in its order, then other classes alphabetically."""
    return tuple(e for e in SPEECH_EMOTIONS if e in names) + tuple(sorted(names - set(SPEECH_EMOTIONS)))


def list_split(data: str | Path, split: str) -> list[tuple[Path, str, str]]:
    """(file, class name, speaker) of every utterance of ``split`` (``train``, ``val`` or ``test``)."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    root = Path(data)
    layout = audio_layout(root)
    if layout is None:
        raise DataError(
            f"{root} is no speech data: expected RAVDESS (Actor_XX/03-01-EE-II-SS-RR-AA.flac) or "
            "train/<class>/, val/<class>/, test/<class>/ folders of audio files"
        )
    if layout == "ravdess":
        actors = {f"{a:02d}" for a in RAVDESS_SPLITS[split]}
        files = [t for t in _ravdess_files(root) if t[2] in actors]
        if not files:
            raise DataError(f"{root} has no RAVDESS speech of the {split} actors ({', '.join(sorted(actors))})")
        return files
    sub = root / split
    if not sub.is_dir():
        raise DataError(f"no '{split}' folder in {root}; expected {root}/{split}/<class>/ with audio files")
    out: list[tuple[Path, str, str]] = []
    for d in sorted(p for p in sub.iterdir() if p.is_dir() and not p.name.startswith(".")):
        name = d.name.lower()
        if not CLASS_NAME.fullmatch(name):
            raise DataError(f"class folder {d}: name it after its class (lower-case letters, digits, - and _)")
        out.extend((f, name, folder_speaker(f)) for f in sorted(d.iterdir()) if f.suffix.lower() in AUDIO_SUFFIXES)
    if not out:
        raise DataError(f"no audio files in {sub}/<class>/")
    return out


def load_audio_split(
    data: str | Path, split: str, *, sample_rate: int = 16000, classes: tuple[str, ...] | None = None
) -> AudioSet:
    """Decode every utterance of ``split`` (see :func:`list_split`). ``classes`` fixes the label order
    (a model's, or the training split's); every class found must be among them."""
    from emolens.audio.decode import decode_audio

    files = list_split(data, split)
    found = {name for _, name, _ in files}
    order = tuple(classes) if classes is not None else class_order(found)
    unknown = found - set(order)
    if unknown:
        raise DataError(f"{data} ({split}) has classes {sorted(unknown)} that are not among {', '.join(order)}")
    waves, labels, speakers, paths = [], [], [], []
    root = Path(data)
    for f, name, speaker in files:
        audio = decode_audio(f, sample_rate, max_duration_s=MAX_UTTERANCE_S)
        waves.append(audio.samples)
        labels.append(order.index(name))
        speakers.append(speaker)
        paths.append(f.relative_to(root).as_posix())
    log.info("loaded %d %s utterances (%.0f s) from %s", len(waves), split, sum(map(len, waves)) / sample_rate, root)
    return AudioSet(tuple(waves), np.asarray(labels, dtype=np.int64), tuple(speakers), tuple(paths), order, sample_rate)
