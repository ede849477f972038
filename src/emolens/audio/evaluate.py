"""Score a speech model on a split of RAVDESS (or audio folders): 8-class and 4-class figures.

Each utterance is judged as a whole by :meth:`VoiceRecognizer.predict`, with the test-time augmentation
the model file asks for unless ``tta`` says otherwise (no voice-activity gate: every utterance of the
data is speech). A model that normalises by a speaker profile is given, by default, its speaker's
from all their utterances in the split (the labels are not used); ``profile_utterances`` K > 0
takes K other utterances of the speaker at random instead (what a short enrolment gives), 0 none
(each utterance its own profile; a model's speaker-profile partner stays silent). The four-class figure keeps the utterances of neutral, calm,
happy, sad and angry, merges neutral and calm, and takes the most probable of the four groups
(the probabilities of neutral and calm added), so a calm utterance judged neutral counts as right.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from emolens.audio.labels import FOUR_CLASS, FOUR_CLASSES
from emolens.data.audio import UNKNOWN_SPEAKER
from emolens.errors import EmolensError
from emolens.eval.metrics import Metrics, compute_metrics

if TYPE_CHECKING:
    from emolens.audio.recognizer import VoiceRecognizer
    from emolens.data.audio import AudioSet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeechEvaluation:
    model: str
    data: str
    split: str
    utterances: int
    metrics: Metrics
    four_class: Metrics | None
    """None when the model's labels do not hold the four classes."""
    per_speaker: dict[str, float]
    """Accuracy per speaker (RAVDESS actor)."""
    seconds: float
    profile: str
    """How a speaker-profile model was given profiles (``speaker``, ``K others``, ``utterance``); ``none``
    for other models."""
    tta: str
    """How each utterance was judged (:data:`~emolens.runtime.metadata.SPEECH_TTA_MODES`)."""

    def as_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "data": self.data,
            "split": self.split,
            "utterances": self.utterances,
            **self.metrics.as_dict(),
            "four_class": None if self.four_class is None else self.four_class.as_dict(),
            "per_speaker_accuracy": self.per_speaker,
            "seconds": self.seconds,
            "profile": self.profile,
            "tta": self.tta,
        }


def four_class(probs: np.ndarray, y_true: np.ndarray, labels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """(true, predicted) indices into :data:`FOUR_CLASSES` for the utterances of those classes."""
    if not set(FOUR_CLASS) <= set(labels):
        return None
    groups = np.array([FOUR_CLASSES.index(FOUR_CLASS[lab]) if lab in FOUR_CLASS else -1 for lab in labels])
    keep = groups[y_true] >= 0
    merged = np.zeros((len(probs), len(FOUR_CLASSES)), dtype=np.float64)
    for j, g in enumerate(groups):
        if g >= 0:
            merged[:, g] += probs[:, j]
    return groups[y_true[keep]], merged[keep].argmax(axis=1)


def profile_mode(rec: VoiceRecognizer, profile_utterances: int | None) -> str:
    """How :func:`split_probabilities` profiles speakers, in words."""
    if not rec.uses_profile:
        return "none"
    if profile_utterances is None:
        return "speaker"
    if profile_utterances == 0:
        return "none (the partner is silent)" if rec.partner is not None else "utterance"
    return f"{profile_utterances} others"


def split_probabilities(
    rec: VoiceRecognizer, ds: AudioSet, profile_utterances: int | None = None, seed: int = 0
) -> np.ndarray:
    """Probabilities (N, K) of each utterance of ``ds``, each judged by :meth:`VoiceRecognizer.predict`;
    speaker profiles as the module says (``profile_utterances``: None all of the speaker's, K > 0 K
    others at random, 0 none)."""
    if profile_utterances is not None and profile_utterances < 0:
        raise EmolensError(f"profile_utterances must be at least 0, got {profile_utterances}")
    speakers = np.asarray(ds.speakers)
    rng = np.random.default_rng(seed)
    whole = ds.speaker_profiles(rec.profile_features) if rec.uses_profile and profile_utterances is None else {}
    rows = []
    for i, w in enumerate(ds.waveforms):
        profile = whole.get(ds.speakers[i])
        if rec.uses_profile and profile_utterances and ds.speakers[i] != UNKNOWN_SPEAKER:
            mine = np.flatnonzero(speakers == speakers[i])
            others = mine[mine != i]
            pick = rng.choice(others, size=min(profile_utterances, len(others)), replace=False)
            profile = rec.profile([ds.waveforms[j] for j in pick], ds.sample_rate) if len(pick) else None
        rows.append(rec.predict(w, ds.sample_rate, profile))
    return np.stack(rows)


def evaluate_speech(
    model: str | Path | None,
    data: str | Path,
    split: str = "test",
    *,
    threads: int | None = None,
    profile_utterances: int | None = None,
    tta: str | None = None,
    partner: bool = True,
) -> SpeechEvaluation:
    """Score ``model`` on ``split`` of ``data`` (RAVDESS: test = actors 21-24, val = 19-20);
    ``profile_utterances``: see :func:`split_probabilities`; ``tta``: how each utterance is judged
    (None: the model file's, ``crops`` for the bundled default); ``partner``: False, the file alone
    without the speaker-profile partner it may name (:class:`VoiceRecognizer`)."""
    from emolens.audio.recognizer import VoiceRecognizer
    from emolens.data.audio import load_audio_split

    rec = VoiceRecognizer(model, threads=threads, tta=tta, partner=partner)
    ds = load_audio_split(data, split, sample_rate=rec.features.sample_rate, classes=rec.labels)
    if len(ds) == 0:
        raise EmolensError(f"no utterances in {data} ({split})")
    t0 = time.time()
    probs = split_probabilities(rec, ds, profile_utterances)
    seconds = time.time() - t0
    pred = probs.argmax(axis=1)
    metrics = compute_metrics(ds.labels, pred, labels=rec.labels)
    four = four_class(probs, ds.labels, rec.labels)
    per_speaker = {
        s: float((pred[idx] == ds.labels[idx]).mean())
        for s in sorted(set(ds.speakers))
        for idx in [np.array([i for i, sp in enumerate(ds.speakers) if sp == s])]
    }
    log.info("%s on %s (%s): accuracy %.4f in %.1f s", rec.path.name, data, split, metrics.accuracy, seconds)
    return SpeechEvaluation(
        str(rec.path),
        str(data),
        split,
        len(ds),
        metrics,
        None if four is None else compute_metrics(four[0], four[1], labels=FOUR_CLASSES),
        per_speaker,
        seconds,
        profile_mode(rec, profile_utterances),
        rec.tta,
    )
