"""Face and voice together: late fusion of calibrated probabilities, per moment of a video.

The voice model speaks RAVDESS's eight emotions and the face model FER-2013's seven, so the voice's
probabilities are first mapped onto the face's labels (:data:`VOICE_TO_FACE`): ``calm`` joins
``neutral`` (both are low-arousal, non-negative states in RAVDESS; FER-2013 has no calm),
``fearful`` is ``fear``, ``surprised`` is ``surprise``, and the other five keep their names.

The fused probabilities are a weighted mean of the two, each weight the modality's measured
*skill* (accuracy above chance, ``(acc - 1/k) / (1 - 1/k)`` on its own held-out selection set, see
:class:`FusionOptions`) times how much it is present at that moment: the face's weight counts when
a face is seen, the voice's is multiplied by the voice-activity detector's speech score of the
window (0 in silence and music, so a quiet moment is the face alone). Both inputs are calibrated
(temperature-scaled) probabilities, so a mean of them is a mean of comparable beliefs.

:class:`VoiceTrack` holds the voice windows of a recording (:meth:`VoiceRecognizer.windows
<emolens.audio.recognizer.VoiceRecognizer.windows>`) and finds the one that describes a moment.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from emolens.audio.labels import window_counts
from emolens.errors import EmolensError
from emolens.labels import EMOTIONS

if TYPE_CHECKING:
    from emolens.audio.recognizer import VoiceWindow

__all__ = ["VOICE_TO_FACE", "Fused", "FusionOptions", "VoiceTrack", "fuse", "voice_as_face"]

VOICE_TO_FACE: dict[str, str] = {
    "neutral": "neutral",
    "calm": "neutral",
    "happy": "happy",
    "sad": "sad",
    "angry": "angry",
    "fearful": "fear",
    "disgust": "disgust",
    "surprised": "surprise",
}
"""RAVDESS's speech emotions -> FER-2013's face emotions."""

FACE_SKILL = round((0.7027 - 1 / 7) / (1 - 1 / 7), 3)
"""The default face model's skill on its selection split: 70.27% on FER-2013 PublicTest (int8 with
selective flip, its default since 2026-12-01; its model card), 7 classes (chosen on selection data,
never on the test splits)."""
VOICE_SKILL = round((0.7417 - 1 / 8) / (1 - 1 / 8), 3)
"""The shipped speech model's skill on its selection speakers: 74.17% on RAVDESS actors 19-20 judged
in one pass, as ``windows()`` judges each window (``emolens-speech-ravdess``: two 200-epoch
speech_crnn networks, the 120-epoch speaker-adversary one and two 200-epoch speech_crnn_delta
networks, since 2026-12-07; its model card), 8 classes."""


@dataclass(frozen=True)
class FusionOptions:
    """``face_skill``, ``voice_skill``: each modality's accuracy above chance on its own held-out
    selection set (1: always right, 0: chance), the weights of the fusion; the defaults are the
    shipped models' measured figures (:data:`FACE_SKILL`, :data:`VOICE_SKILL`). ``window_s``,
    ``hop_s``: the voice windows."""

    face_skill: float = field(default=FACE_SKILL, metadata={"help": "the face's weight in the fusion (its skill)"})
    voice_skill: float = field(default=VOICE_SKILL, metadata={"help": "the voice's weight in the fusion (its skill)"})
    window_s: float = field(default=2.0, metadata={"help": "length of a voice window, seconds"})
    hop_s: float = field(default=0.5, metadata={"help": "step between voice windows, seconds"})

    def __post_init__(self) -> None:
        for name in ("face_skill", "voice_skill"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise EmolensError(f"fusion {name} must lie in [0, 1], got {value}")
        if not 0.5 <= self.window_s <= 30.0:
            raise EmolensError(f"voice window_s must lie in [0.5, 30] seconds, got {self.window_s}")
        if not 0.05 <= self.hop_s <= self.window_s:
            raise EmolensError(f"voice hop_s must lie in [0.05, window_s] seconds, got {self.hop_s}")


def voice_as_face(
    probs: Sequence[float], voice_labels: Sequence[str], face_labels: Sequence[str] = EMOTIONS
) -> dict[str, float]:
    """The voice's probabilities over ``face_labels`` (:data:`VOICE_TO_FACE`; a voice label with no
    face counterpart is left out and the rest renormalised)."""
    out = dict.fromkeys(face_labels, 0.0)
    for label, p in zip(voice_labels, probs, strict=True):
        target = VOICE_TO_FACE.get(label, label)
        if target in out:
            out[target] += float(p)
    total = sum(out.values())
    if not math.isfinite(total) or any(v < 0 for v in out.values()):
        raise EmolensError(f"voice probabilities must be finite numbers of 0 or more, got {list(probs)}")
    if total <= 0:
        return {k: 1.0 / len(out) for k in out}
    return {k: v / total for k, v in out.items()}


def _distribution(what: str, probs: Mapping[str, float], labels: Sequence[str]) -> dict[str, float]:
    """``probs`` over ``labels`` (others dropped), rescaled to sum to 1; an EmolensError when they
    are not finite numbers of 0 or more, or none of them is one of ``labels``."""
    values = {k: float(probs.get(k, 0.0)) for k in labels}
    total = sum(values.values())
    if not math.isfinite(total) or any(v < 0 for v in values.values()):
        raise EmolensError(f"{what} probabilities must be finite numbers of 0 or more, got {dict(probs)}")
    if total <= 0:
        raise EmolensError(f"{what} probabilities give nothing to any of the labels {list(labels)}: {dict(probs)}")
    return {k: v / total for k, v in values.items()}


@dataclass(frozen=True)
class Fused:
    """The fused ``probs`` over the face's labels, their top ``label``, and the weights used."""

    probs: dict[str, float]
    label: str
    face_weight: float
    voice_weight: float


def fuse(
    face: Mapping[str, float] | None,
    voice: Mapping[str, float] | None,
    speech: float,
    options: FusionOptions | None = None,
    labels: Sequence[str] = EMOTIONS,
) -> Fused | None:
    """Late fusion of a face's probabilities and the voice's (already over the face's labels, see
    :func:`voice_as_face`; ``speech`` is its window's speech score). None when neither counts.
    Each distribution is taken over ``labels`` and rescaled to sum to 1; probabilities that are not
    finite numbers of 0 or more are an :class:`~emolens.errors.EmolensError`, and a speech score
    that is not a number counts as no speech."""
    opts = options or FusionOptions()
    face = _distribution("face", face, labels) if face is not None else None
    voice = _distribution("voice", voice, labels) if voice is not None else None
    speech = speech if math.isfinite(speech) else 0.0  # a speech score that is not a number: no voice
    wf = opts.face_skill if face is not None else 0.0
    wv = opts.voice_skill * max(0.0, min(1.0, speech)) if voice is not None else 0.0
    if wf + wv <= 0.0:
        return None
    probs = {
        k: (
            wf * (face.get(k, 0.0) if face is not None else 0.0)
            + wv * (voice.get(k, 0.0) if voice is not None else 0.0)
        )
        / (wf + wv)
        for k in labels
    }
    return Fused(probs, max(probs, key=lambda k: probs[k]), wf, wv)


class VoiceTrack:
    """The voice windows of one recording, looked up by time (seconds from the start)."""

    def __init__(
        self, windows: Sequence[VoiceWindow], voice_labels: Sequence[str], face_labels: Sequence[str] = EMOTIONS
    ) -> None:
        self.windows = sorted(windows, key=lambda w: w.start_s)
        self._starts = [w.start_s for w in self.windows]
        self._longest = max((w.end_s - w.start_s for w in self.windows), default=0.0)
        self.voice_labels = tuple(voice_labels)
        self.face_labels = tuple(face_labels)
        self.as_face = [
            None if w.probs is None else voice_as_face(w.probs.tolist(), self.voice_labels, self.face_labels)
            for w in self.windows
        ]

    def at(self, t: float) -> tuple[VoiceWindow, dict[str, float] | None] | None:
        """The window that covers ``t`` with its centre nearest to it, and its probabilities over the
        face's labels (None for silence and non-speech); None outside the sound."""
        best: int | None = None
        i = bisect.bisect_right(self._starts, t) - 1
        while i >= 0 and self.windows[i].start_s >= t - self._longest:
            w = self.windows[i]
            if w.start_s <= t <= w.end_s:
                gap = abs((w.start_s + w.end_s) / 2 - t)
                if best is None or gap <= abs((self.windows[best].start_s + self.windows[best].end_s) / 2 - t):
                    best = i
            i -= 1
        if best is None:
            return None
        return self.windows[best], self.as_face[best]

    def summary(self) -> dict[str, object]:
        """Windows, how many were speech, and the share of each voice emotion among those."""
        speech = [w for w in self.windows if w.probs is not None]
        share = {lab: 0.0 for lab in self.voice_labels}
        for w in speech:
            share[w.label] += 1.0 / len(speech)
        return {
            **window_counts([w.label for w in self.windows]),
            "share": {k: round(v, 5) for k, v in share.items()},
        }
