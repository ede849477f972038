"""Distillation targets: trained models' probabilities on the training faces or utterances (``emolens train --teacher``).

The teachers (bundled names or ``.onnx`` files, run by :class:`~emolens.runtime.recognizer.Recognizer`
for faces and :class:`~emolens.audio.recognizer.VoiceRecognizer` for speech, each with its own
test-time augmentation and calibration) judge every training face or utterance once, before
training; their probabilities, averaged over the teachers, are mapped onto the student's classes by
name and blended into the training targets. It is offline distillation: the teacher sees each
face or whole utterance un-augmented, so it costs one pass over the training set instead of a
teacher forward pass per step, and the targets are the same in every epoch and after ``--resume``
(every random crop of an utterance gets that utterance's target).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from emolens.errors import EmolensError

if TYPE_CHECKING:
    from emolens.data.audio import AudioSet

log = logging.getLogger(__name__)


def parse_teachers(teacher: str) -> list[str]:
    """``--teacher``'s comma-separated models, each named once."""
    names = [t.strip() for t in teacher.split(",") if t.strip()]
    if not names:
        raise EmolensError("--teacher names no model; give a bundled name or an .onnx file (several: comma-separated)")
    if len(set(names)) != len(names):
        raise EmolensError(f"--teacher names a model twice: {teacher}")
    return names


def to_classes(probs: np.ndarray, labels: tuple[str, ...], classes: tuple[str, ...], name: str) -> np.ndarray:
    """``probs`` over a teacher's ``labels`` as probabilities over the student's ``classes`` (by
    name; the teacher's other labels are dropped and each row renormalised)."""
    missing = [c for c in classes if c not in labels]
    if missing:
        raise EmolensError(
            f"teacher {name} has no class {', '.join(missing)}: its labels are {', '.join(labels)}; "
            "a teacher must know every class of the data"
        )
    p = probs[:, [labels.index(c) for c in classes]].astype(np.float64)
    total = p.sum(axis=1, keepdims=True)
    uniform = np.full_like(p, 1.0 / len(classes))
    return np.where(total > 1e-12, p / np.maximum(total, 1e-12), uniform)


def soften(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``probs`` ** (1 / ``temperature``), renormalised: softer above 1, sharper below."""
    if temperature == 1.0:
        return probs
    logp = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    e = np.exp(logp - logp.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def _mean_of_teachers(
    teachers: list[str],
    judge: Callable[[str], tuple[np.ndarray, tuple[str, ...], str]],
    classes: tuple[str, ...],
    what: str,
    labels: np.ndarray | None,
    temperature: float,
) -> np.ndarray:
    """``judge(name)`` gives a teacher's probabilities over its labels and its TTA; their mean over
    ``teachers``, mapped onto ``classes`` and softened by ``temperature`` (float32). Each teacher's
    time, and its agreement with ``labels`` when given, is logged."""
    if not temperature > 0:
        raise EmolensError(f"--teacher-temperature must be positive, got {temperature}")
    total: np.ndarray | None = None
    for name in teachers:
        t0 = time.time()
        raw, their_labels, tta = judge(name)
        probs = to_classes(raw, their_labels, classes, name)
        agree = "" if labels is None else f", {100 * float(np.mean(probs.argmax(1) == labels)):.1f}% of their labels"
        log.info("teacher %s (tta %s): %d %s in %.0f s%s", name, tta, len(probs), what, time.time() - t0, agree)
        total = probs if total is None else total + probs
    assert total is not None  # parse_teachers gives at least one
    return soften(total / len(teachers), temperature).astype(np.float32)


def teacher_probabilities(
    teachers: list[str],
    images: np.ndarray,
    classes: tuple[str, ...],
    *,
    labels: np.ndarray | None = None,
    temperature: float = 1.0,
    threads: int | None = None,
) -> np.ndarray:
    """The teachers' mean probabilities (float32, (N, len(classes))) on ``images`` ((N, H, W) uint8
    gray faces, framed as the training data are), softened by ``temperature``. With the faces'
    ``labels`` (indices into ``classes``), each teacher's accuracy on them is logged."""
    from emolens.runtime.recognizer import Recognizer

    def judge(name: str) -> tuple[np.ndarray, tuple[str, ...], str]:
        rec = Recognizer(name, threads=threads or None)
        return rec.predict_faces(images), rec.labels, rec.tta

    return _mean_of_teachers(teachers, judge, classes, "faces", labels, temperature)


def speech_teacher_probabilities(
    teachers: list[str],
    data: AudioSet,
    classes: tuple[str, ...],
    *,
    temperature: float = 1.0,
    threads: int | None = None,
) -> np.ndarray:
    """The speech teachers' mean probabilities (float32, (N, len(classes))) on ``data``'s utterances,
    each judged whole as :func:`emolens.audio.evaluate.split_probabilities` judges (the teacher's own
    test-time augmentation; a teacher with speaker profiles gets each speaker's from all of their
    utterances), softened by ``temperature``; each teacher's agreement with the labels is logged."""
    from emolens.audio.evaluate import split_probabilities
    from emolens.audio.recognizer import VoiceRecognizer

    def judge(name: str) -> tuple[np.ndarray, tuple[str, ...], str]:
        rec = VoiceRecognizer(name, threads=threads or None)
        return split_probabilities(rec, data), rec.labels, rec.tta

    return _mean_of_teachers(teachers, judge, classes, "utterances", data.labels, temperature)


def blend(targets: np.ndarray, teacher: np.ndarray, weight: float) -> np.ndarray:
    """``(1 - weight) * targets + weight * teacher``: rows still sum to 1."""
    if targets.shape != teacher.shape:
        raise ValueError(f"targets {targets.shape} and teacher {teacher.shape} differ in shape")
    return ((1.0 - weight) * targets + weight * teacher).astype(np.float32)
