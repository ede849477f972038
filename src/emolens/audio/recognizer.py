"""The VoiceRecognizer: speech in, emotion probabilities out, with ONNX Runtime on the CPU.

The features are computed the way the model file says (:class:`~emolens.audio.metadata.VoiceModelMeta`),
in NumPy; long recordings are cut into overlapping windows, each gated by the voice-activity
detector (:mod:`emolens.audio.vad`) before the network judges its emotion.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from emolens.audio.features import (
    FeatureConfig,
    SpeakerProfile,
    features,
    resample,
    speaker_profile,
    to_mono,
    trim_silence,
)
from emolens.audio.labels import MUSIC, NON_SPEECH, SILENCE
from emolens.audio.metadata import VoiceModelMeta
from emolens.audio.vad import SPEECH, VadConfig, VadResult, classify, frame_features
from emolens.errors import DataError, ModelError
from emolens.eval.calibration import apply_temperature
from emolens.runtime.metadata import check_tta
from emolens.runtime.session import check_prepared, check_threads, open_session

log = logging.getLogger(__name__)

DEFAULT_SPEECH_MODEL = "emolens-speech-ravdess"
"""The bundled speech model's name."""
SPEECH_WEIGHTS = Path(__file__).parent / "weights"
"""Where the shipped speech models live (apart from the face models of :mod:`emolens.models.bundled`)."""
MAX_BATCH = 64
CLIP_LEVEL = 0.999
CROP_S = 2.0
CROP_HOP_S = 0.5
"""Crop length and hop of ``tta="crops"`` (:data:`SPEECH_TTA_MODES`), chosen on RAVDESS actors 19-20
(benchmarks/speech_crops.py)."""


@dataclass(frozen=True)
class VoiceWindow:
    """One window of a recording: its emotion ``label`` and ``probs`` (over the recognizer's labels),
    or ``label`` ``silence`` / ``non-speech`` with ``probs`` None (no emotion is claimed); the
    voice-activity verdict ``vad``; ``clipped``: share of its samples at full scale."""

    start_s: float
    end_s: float
    label: str
    probs: np.ndarray | None
    vad: VadResult
    clipped: float

    @property
    def speech(self) -> float:
        """The voice-activity detector's speech score in [0, 1]."""
        return self.vad.speech

    def as_dict(self, labels: tuple[str, ...]) -> dict[str, object]:
        return {
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "label": self.label,
            "confidence": None if self.probs is None else round(float(self.probs.max()), 4),
            "probs": None
            if self.probs is None
            else {k: round(float(p), 4) for k, p in zip(labels, self.probs, strict=True)},
            "speech": round(self.vad.speech, 4),
            "level_db": round(self.vad.level_db, 2),
            "clipped": round(self.clipped, 5),
            "vad": self.vad.as_dict(),
        }


def available_speech_models() -> list[str]:
    """Names of the bundled speech models (``VoiceRecognizer(NAME)``); the default is :data:`DEFAULT_SPEECH_MODEL`."""
    return sorted(p.stem for p in SPEECH_WEIGHTS.glob("*.onnx"))


def resolve_speech_model(model: str | Path | None) -> Path:
    """A speech model file from a bundled name, a path, or None for the bundled default."""
    from emolens.models.bundled import resolve_model

    name = DEFAULT_SPEECH_MODEL if model is None else model
    if isinstance(name, str) and (SPEECH_WEIGHTS / f"{name}.onnx").is_file():
        return SPEECH_WEIGHTS / f"{name}.onnx"
    if model is None:
        raise ModelError(
            "no speech model is installed: train one ('emolens train --data RAVDESS_FOLDER --arch speech_crnn "
            "--out runs/speech') and give its runs/speech/best.onnx as the model"
        )
    from emolens.models.bundled import available_models

    if (
        isinstance(model, str)
        and not model.endswith(".onnx")
        and not Path(model).exists()
        and model not in available_models()
    ):
        speech = ", ".join(available_speech_models()) or "none are installed"
        raise ModelError(
            f"unknown speech model {model!r}; bundled speech models: {speech}; or give the path of an .onnx file"
        )
    return resolve_model(model)


def check_windows(window_s: float, hop_s: float) -> None:
    """Refuse, with a DataError saying why, windows under 0.1 s, hops under 0.05 s (a window that short
    holds no emotion; a hop that short only costs time) and hops longer than the window (the sound
    between windows would go unheard)."""
    if not (0.1 <= window_s < math.inf and 0.05 <= hop_s < math.inf):
        raise DataError(f"window must be 0.1 s or more and hop 0.05 s or more, got {window_s} and {hop_s}")
    if hop_s > window_s:
        raise DataError(
            f"a hop of {hop_s:g} s is longer than the {window_s:g} s window: the sound between windows would go "
            "unheard; use a hop no longer than the window"
        )


Progress = Callable[[str, int, int], None]
"""A listener to long work: called with (stage, steps done, steps in the stage) as it goes."""


def _stage(progress: Progress | None, stage: str) -> Callable[[int, int], None] | None:
    """``progress`` bound to one stage's name (None stays None)."""
    if progress is None:
        return None
    return lambda done, total: progress(stage, done, total)


def window_spans(duration_s: float, window_s: float, hop_s: float) -> list[tuple[float, float]]:
    """Windows of ``window_s`` every ``hop_s`` from 0; the last one ends at ``duration_s`` (all of it
    is covered); one window when the sound is no longer than a window. Windows and hops that
    :func:`check_windows` refuses are a DataError."""
    check_windows(window_s, hop_s)
    if duration_s <= window_s:
        return [(0.0, max(duration_s, 0.0))]
    spans = []
    start = 0.0
    while start + window_s < duration_s - 1e-9:
        spans.append((start, start + window_s))
        start += hop_s
    spans.append((duration_s - window_s, duration_s))
    return spans


def crops_of(x: np.ndarray, rate: int, crop_s: float, hop_s: float) -> list[np.ndarray]:
    """The crops of ``crop_s`` seconds of samples ``x`` at ``rate``, every ``hop_s`` from the start,
    the last one ending with ``x`` (:func:`window_spans`); ``x`` itself when it is no longer."""
    length = int(round(crop_s * rate))
    if len(x) <= length:
        return [x]
    starts = [min(int(round(a * rate)), len(x) - length) for a, _ in window_spans(len(x) / rate, crop_s, hop_s)]
    return [x[s : s + length] for s in starts]


def speech_stretches(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sorted spans (start, end) merged where they overlap or touch: windows of speech -> stretches."""
    out: list[tuple[float, float]] = []
    for a, b in spans:
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _check_rate(sample_rate: object) -> int:
    rate = int(sample_rate) if isinstance(sample_rate, numbers.Integral) and not isinstance(sample_rate, bool) else 0
    if not 1000 <= rate <= 768000:
        raise DataError(f"sample_rate must be a whole number of Hz between 1000 and 768000, not {sample_rate!r}")
    return rate


def open_partner(
    name: str, model_path: Path, labels: tuple[str, ...], sample_rate: int, threads: int | None, tta: str | None
) -> VoiceRecognizer:
    """The speaker-profile partner ``name`` of the model file at ``model_path``: a file of that name
    beside it, else a bundled model of that name. It must normalise by speaker profiles, name no
    partner itself, and take the model's ``labels`` and ``sample_rate``; else a ModelError."""
    beside = model_path.parent / (name if name.endswith(".onnx") else f"{name}.onnx")
    try:
        partner = VoiceRecognizer(beside if beside.is_file() else name, threads=threads, tta=tta, partner=False)
    except ModelError as e:
        raise ModelError(f"{model_path}: its speaker-profile partner {name!r} cannot be used: {e}") from None
    why = (
        "does not normalise by speaker profiles"
        if partner.features.feature_norm != "speaker"
        else "names a partner itself"
        if partner.meta.partner
        else "has other labels"
        if partner.labels != labels
        else "takes sound at another rate"
        if partner.features.sample_rate != sample_rate
        else ""
    )
    if why:
        raise ModelError(f"{model_path}: its speaker-profile partner {partner.path} {why}")
    return partner


class VoiceRecognizer:
    """Recognise the emotion of speech with an emolens speech model (ONNX).

    ``model``: a bundled name, a path to an ``.onnx`` file made by ``emolens train`` on speech, or
    None for the bundled default (``emolens-speech-ravdess``).
    ``threads`` caps ONNX Runtime's threads (None or 0: one per core). ``vad``: the thresholds of the
    voice-activity detector used by :meth:`windows`. ``tta``: how :meth:`predict` judges an utterance
    (:data:`SPEECH_TTA_MODES`; default: the model file's, ``crops`` for the bundled default).
    ``partner``: whether a file that names a speaker-profile partner (``meta.partner``) is averaged
    with it, half each, whenever a speaker profile is given (:attr:`partner`); False: the file alone.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        threads: int | None = None,
        vad: VadConfig | None = None,
        tta: str | None = None,
        partner: bool = True,
    ) -> None:
        threads = check_threads(threads)
        check_tta(tta, speech=True)
        self.path = resolve_speech_model(model)
        self.threads = threads
        self.vad = vad or VadConfig()
        self._session = open_session(self.path, threads)
        self.meta = VoiceModelMeta.from_props(dict(self._session.get_modelmeta().custom_metadata_map), str(self.path))
        self.tta = tta or self.meta.tta
        self._input = self._session.get_inputs()[0].name
        self._untrimmed = replace(self.meta.features, trim_db=None)  # for input trimmed already
        self.partner: VoiceRecognizer | None = self._open_partner() if partner and self.meta.partner else None
        """The speaker-profile model averaged with this one when a profile is given, or None."""

    def _open_partner(self) -> VoiceRecognizer:
        return open_partner(
            self.meta.partner, self.path, self.labels, self.features.sample_rate, self.threads, self.tta
        )

    @property
    def labels(self) -> tuple[str, ...]:
        """The label order of the probabilities returned."""
        return self.meta.labels

    @property
    def features(self) -> FeatureConfig:
        """How this model's input is made (read from the model file)."""
        return self.meta.features

    @property
    def uses_profile(self) -> bool:
        """Whether this model normalises by a speaker's profile (``feature_norm="speaker"``; without one
        each input is its own), or has a :attr:`partner` that does (without one the partner is silent):
        either way it is most accurate given a profile (:meth:`profile`)."""
        return self.features.feature_norm == "speaker" or self.partner is not None

    @property
    def profile_features(self) -> FeatureConfig:
        """The feature settings speaker profiles are made with: the partner's when there is one."""
        return self.partner.features if self.partner is not None else self.features

    def _input_from(self, x: np.ndarray, profile: SpeakerProfile | None = None, *, trimmed: bool = False) -> np.ndarray:
        """Mono samples at the model's rate -> its input (1, 1, rows, frames), padded to ``min_seconds``;
        ``trimmed``: ``x`` has had its silence trimmed already (:meth:`predict`), not to be done again."""
        if profile is not None and not isinstance(profile, SpeakerProfile):
            raise DataError(f"profile must be a SpeakerProfile (from VoiceRecognizer.profile), got {profile!r}"[:160])
        cfg = self._untrimmed if trimmed else self.features
        shortest = int(self.meta.min_seconds * cfg.sample_rate)
        if len(x) < shortest:
            x = np.pad(x, (0, shortest - len(x)))
        return features(x, cfg.sample_rate, cfg, profile)[None, None]

    def _mono(self, waveform: np.ndarray, sample_rate: int) -> np.ndarray:
        return resample(to_mono(waveform), _check_rate(sample_rate), self.features.sample_rate)

    def profile(self, waveforms: list[np.ndarray], sample_rate: int) -> SpeakerProfile:
        """The :class:`~emolens.audio.features.SpeakerProfile` of several utterances of one speaker
        (each a waveform as :meth:`predict` takes), to pass to :meth:`predict` or :meth:`windows`.
        A few utterances (10-30 s of speech) suffice; only level and spectrum statistics are kept."""
        return speaker_profile([self._mono(w, sample_rate) for w in waveforms], self.profile_features)

    def prepare(self, waveform: np.ndarray, sample_rate: int, profile: SpeakerProfile | None = None) -> np.ndarray:
        """Any waveform (mono (n,) or multichannel (n, c), float or integer samples, any rate) -> the
        network's input float32 (1, 1, rows, frames): the mel bands, and pitch rows for models trained
        with them (``features.rows``). Sound shorter than ``meta.min_seconds`` is
        padded with silence. ``profile``: see :meth:`predict`."""
        return self._input_from(self._mono(waveform, sample_rate), profile)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Probabilities float32 (N, len(labels)) for prepared input (N, 1, rows, frames), calibrated."""
        whole = "predict() takes a waveform as it is"
        x = check_prepared(x, (1, self.features.rows, "frames"), DataError, source="waveform", whole=whole)
        out: np.ndarray = self._session.run(None, {self._input: np.ascontiguousarray(x)})[0]
        p = out.astype(np.float32, copy=False)
        p /= p.sum(axis=1, keepdims=True)
        return apply_temperature(p, self.meta.temperature)

    def predict(self, waveform: np.ndarray, sample_rate: int, profile: SpeakerProfile | None = None) -> np.ndarray:
        """Emotion probabilities float32 (len(labels),), summing to 1, for one utterance as a whole.

        With ``tta="crops"`` (the bundled default's) an utterance longer than :data:`CROP_S` is judged whole
        and by each of its crops (every :data:`CROP_HOP_S`, the last ending with it): the mean of the
        whole's probabilities and the crops' mean. ``profile``: the speaker's (:meth:`profile`), for
        models that use one (:attr:`uses_profile`); without it the utterance is its own profile, and a
        :attr:`partner` is silent. Other models ignore it. No voice-activity gate: silence and noise
        get probabilities too (:meth:`windows` gates them)."""
        x = self._mono(waveform, sample_rate)  # the partner takes the same rate (open_partner): resampled once
        probs = self._predict_own(x, profile)
        if self.partner is None or profile is None:
            return probs
        both: np.ndarray = ((probs + self.partner._predict_own(x, profile)) / 2).astype(np.float32)
        return both

    def _predict_own(self, x: np.ndarray, profile: SpeakerProfile | None) -> np.ndarray:
        """:meth:`predict` by this file's networks alone, of mono samples ``x`` at the model's rate."""
        rate, trim_db = self.features.sample_rate, self.features.trim_db
        if trim_db is not None:  # the crops are cut from the sentence, not from the silence around it
            x = trim_silence(x, rate, trim_db)
        trimmed = trim_db is not None
        whole: np.ndarray = self.run(self._input_from(x, profile, trimmed=trimmed))[0]
        if self.tta == "none" or len(x) <= CROP_S * rate:
            return whole
        crops = crops_of(x, rate, CROP_S, CROP_HOP_S)
        mean = self.run(np.concatenate([self._input_from(c, profile, trimmed=trimmed) for c in crops]))
        mean = mean.mean(axis=0)
        probs: np.ndarray = ((whole + mean) / 2).astype(np.float32)
        return probs

    def windows(
        self,
        waveform: np.ndarray,
        sample_rate: int,
        window_s: float = 2.0,
        hop_s: float = 0.5,
        profile: SpeakerProfile | None = None,
        progress: Progress | None = None,
    ) -> list[VoiceWindow]:
        """Judge a recording window by window (see :func:`window_spans`): each window is silence,
        music, non-speech, or speech with the emotion probabilities of its sound.

        A model that uses a speaker profile (:attr:`uses_profile`) and is given none takes the
        recording's: the speech it finds, stretches of overlapping speech windows as utterances. A
        :attr:`partner` then judges each speech window too, and the two are averaged.

        ``progress``, when given, hears how the work goes (:data:`Progress`): stage ``"cues"`` (the
        voice-activity cues of every frame), then ``"voice"`` (the speech windows through the
        networks) and, with a partner, ``"partner"``."""
        cfg = self.features
        check_windows(window_s, hop_s)  # before any work
        x = self._mono(waveform, sample_rate)
        frames = frame_features(x, cfg.sample_rate, progress=_stage(progress, "cues"))
        spans = window_spans(len(x) / cfg.sample_rate, window_s, hop_s)
        verdicts: list[tuple[float, float, VadResult, float]] = []
        speech: list[tuple[int, np.ndarray]] = []
        for i, (a, b) in enumerate(spans):
            seg = x[int(round(a * cfg.sample_rate)) : int(round(b * cfg.sample_rate))]
            verdict = classify(frames.slice(a, b), self.vad)
            clipped = float(np.mean(np.abs(seg) >= CLIP_LEVEL)) if len(seg) else 0.0
            verdicts.append((a, b, verdict, clipped))
            if verdict.label == SPEECH:
                speech.append((i, seg))
        if profile is None and self.uses_profile and speech:
            stretches = speech_stretches([spans[i] for i, _ in speech])
            rate = cfg.sample_rate
            pieces = [x[int(round(a * rate)) : int(round(b * rate))] for a, b in stretches]
            profile = speaker_profile(pieces, self.profile_features)
        probs = self._window_probs(speech, profile, _stage(progress, "voice"))
        if self.partner is not None and profile is not None:
            theirs = self.partner._window_probs(speech, profile, _stage(progress, "partner"))
            probs = {i: ((p + theirs[i]) / 2).astype(np.float32) for i, p in probs.items()}
        out = []
        for i, (a, b, verdict, clipped) in enumerate(verdicts):
            if i in probs:
                label = self.labels[int(np.argmax(probs[i]))]
            else:
                label = verdict.label if verdict.label in (SILENCE, MUSIC) else NON_SPEECH
            out.append(VoiceWindow(a, b, label, probs.get(i), verdict, clipped))
        if any(w.clipped > 0.01 for w in out):
            log.warning("the sound is clipped (samples at full scale) in places: emotions there are less reliable")
        return out

    def _window_probs(
        self,
        speech: list[tuple[int, np.ndarray]],
        profile: SpeakerProfile | None,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[int, np.ndarray]:
        """Probabilities of each speech window (index, samples) by this file's networks, one pass each,
        batched by length; ``progress``: called with (windows done, windows in all) after each batch."""
        probs: dict[int, np.ndarray] = {}
        by_len: dict[int, list[tuple[int, np.ndarray]]] = {}
        for i, seg in speech:
            inp = self._input_from(seg, profile)
            by_len.setdefault(inp.shape[-1], []).append((i, inp))
        for group in by_len.values():
            for s in range(0, len(group), MAX_BATCH):
                part = group[s : s + MAX_BATCH]
                p = self.run(np.concatenate([inp for _, inp in part]))
                probs.update((i, row) for (i, _), row in zip(part, p, strict=True))
                if progress is not None:
                    progress(len(probs), len(speech))
        return probs
