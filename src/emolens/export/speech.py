"""Export a speech training checkpoint to ONNX with its feature settings; int8 weights optionally.

The graph takes the normalised log-mel (N, 1, n_mels, frames) (with pitch rows below it for
models trained with ``--pitch``), frames of any number (4 or more),
and returns probabilities (N, K); several checkpoints export as one ensemble graph that averages
their probabilities. The labels and the whole feature chain go into the metadata
(:class:`~emolens.audio.metadata.VoiceModelMeta`). The export is checked against torch on
generated sounds of several lengths and refused if they disagree by ``PARITY_TOLERANCE`` or more.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from emolens.audio.features import FeatureConfig
from emolens.audio.labels import SPEECH_EMOTIONS
from emolens.audio.metadata import KIND, VoiceModelMeta
from emolens.errors import ModelError
from emolens.export.onnx import PARITY_TOLERANCE as PARITY_TOLERANCE
from emolens.export.onnx import export_checked
from emolens.io import AtomicFile, write_json
from emolens.runtime.metadata import set_props

log = logging.getLogger(__name__)
PARITY_SECONDS = (0.3, 1.7, 3.0, 4.6)


@dataclass(frozen=True)
class SpeechExportResult:
    path: Path
    meta: VoiceModelMeta
    max_abs_diff: float


def is_speech_state(state: dict[str, Any]) -> bool:
    """Whether a loaded checkpoint holds a speech model."""
    if state.get("kind") == KIND:
        return True
    from emolens.models.registry import model_config

    arch = state.get("arch")
    return isinstance(arch, str) and model_config(arch).input_kind == "audio"


def is_speech_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` (a ``.pt`` of ``emolens train``) holds a speech model; False when unreadable."""
    from emolens.train import checkpoint as ckpt

    path = Path(path)
    if not path.is_file():
        return False
    try:
        return is_speech_state(ckpt.load(path))
    except Exception:  # not a checkpoint: the face export reports it
        return False


def _parity_sounds(seed: int = 0, rate: int = 16000) -> list[np.ndarray]:
    """Noise bursts with a syllable-like envelope, of :data:`PARITY_SECONDS` lengths."""
    rng = np.random.default_rng(seed)
    out = []
    for s in PARITY_SECONDS:
        t = np.arange(int(s * rate)) / rate
        env = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
        out.append((rng.normal(0, 0.1, len(t)) * env + 0.1 * np.sin(2 * np.pi * 150 * t)).astype(np.float32))
    return out


def export_speech_states(
    states: list[dict[str, Any]],
    out: str | Path,
    *,
    name: str | None = None,
    version: str = "1",
    source: str = "checkpoint",
    trim_db: float | None = None,
) -> SpeechExportResult:
    """Export loaded speech checkpoints to ``out``: one network, or with several an ensemble, one
    graph that averages its members' probabilities (they must share labels and feature settings;
    ``trim_db``: see :func:`export_speech_checkpoint`)."""
    import torch

    from emolens.audio.recognizer import VoiceRecognizer
    from emolens.models.ensemble import probabilities_of
    from emolens.models.registry import create_model

    if not states:
        raise ModelError("nothing to export: no checkpoint given")
    labels = tuple(states[0].get("labels", SPEECH_EMOTIONS))
    feats = _trimmed(FeatureConfig(**states[0].get("features", {})), trim_db)
    nets = []
    for i, state in enumerate(states):
        member_feats = _trimmed(FeatureConfig(**state.get("features", {})), trim_db)
        if tuple(state.get("labels", SPEECH_EMOTIONS)) != labels or member_feats != feats:
            raise ModelError(f"ensemble member {i + 1} has other labels or feature settings than the first")
        net = create_model(state["arch"], num_classes=len(labels), n_mels=feats.n_mels, pitch_rows=feats.pitch_rows)
        net.load_state_dict(state["model"])
        nets.append(net)
    model = probabilities_of(nets)
    archs = [str(state["arch"]) for state in states]
    meta = VoiceModelMeta(
        name=name or "+".join(archs),  # an ensemble is named by its members' architectures
        version=version,
        arch="+".join(archs),
        labels=labels,
        features=feats,
        params=sum(p.numel() for net in nets for p in net.parameters()),
        train_seconds=float(states[0].get("crop_s", 3.0)),
    )
    dummy = torch.zeros(1, 1, feats.rows, 300)

    def parity(path: str) -> float:
        rec = VoiceRecognizer(path, threads=1, partner=False)
        diff = 0.0
        for sound in _parity_sounds(rate=feats.sample_rate):
            x = rec.prepare(sound, feats.sample_rate)
            with torch.no_grad():
                ref = model(torch.from_numpy(x)).numpy()
            diff = max(diff, float(np.abs(ref - rec.run(x)).max()))
        return diff

    out = Path(out)
    axes = {"input": {0: "batch", 3: "frames"}, "probs": {0: "batch"}}
    diff = export_checked(model, dummy, out, axes, meta.to_props(), parity)
    log.info("exported %s -> %s (max |p_onnx - p_torch| = %.2e)", source, out, diff)
    write_json(out.with_suffix(".json"), {**meta.as_dict(), "members": len(states), "parity_max_abs_diff": diff})
    return SpeechExportResult(out, meta, diff)


def speech_model_file(member: str | Path) -> Path | None:
    """The ONNX file of a speech model that ``member`` names (a bundled speech model's name, or an
    ``.onnx`` file whose metadata says speech), else None."""
    from emolens.audio.recognizer import SPEECH_WEIGHTS

    if isinstance(member, str) and (SPEECH_WEIGHTS / f"{member}.onnx").is_file():
        return SPEECH_WEIGHTS / f"{member}.onnx"
    path = Path(member)
    if path.suffix != ".onnx" or not path.is_file():
        return None
    try:
        _read_speech_file(path)
    except ModelError:
        return None
    return path


def is_speech_member(member: str | Path) -> bool:
    """Whether ``member`` can join a speech export: a speech checkpoint or a speech model file."""
    return is_speech_checkpoint(member) or speech_model_file(member) is not None


def _read_speech_file(path: Path) -> tuple[Any, VoiceModelMeta]:
    import onnx

    try:
        proto = onnx.load(str(path))
    except Exception as e:
        raise ModelError(f"cannot read {path} as an ONNX model: {e}") from None
    props = {p.key: p.value for p in proto.metadata_props}
    return proto, VoiceModelMeta.from_props(props, str(path))


def _trimmed(feats: FeatureConfig, trim_db: float | None) -> FeatureConfig:
    """``feats`` with the silence trimming ``trim_db`` (None: as it is)."""
    return feats if trim_db is None else replace(feats, trim_db=trim_db)


def export_speech_checkpoint(
    checkpoint: str | Path | list[str | Path],
    out: str | Path,
    *,
    name: str | None = None,
    version: str = "1",
    trim_db: float | None = None,
) -> SpeechExportResult:
    """Export ``checkpoint`` (a speech ``best.pt`` or ``last.pt`` of ``emolens train``) to ``out``; a
    list of several: their ensemble (:func:`export_speech_states`). Members may also be float32
    speech model files or bundled speech model names (:func:`export_speech_files`): each network
    then weighs the same, so a pair file and a checkpoint make three equal members. ``trim_db``: the
    model trims its input's silent ends so (``FeatureConfig.trim_db``), whatever its members were
    trained with, which may then differ in it; None: as its members, which must agree."""
    from emolens.train import checkpoint as ckpt

    members = list(checkpoint) if isinstance(checkpoint, list) else [checkpoint]
    if any(speech_model_file(m) is not None for m in members):
        return export_speech_files(members, out, name=name, version=version, trim_db=trim_db)
    paths = [Path(c) for c in members]
    states = []
    for path in paths:
        if not path.is_file():
            raise ModelError(f"checkpoint not found: {path}")
        state = ckpt.load(path)
        if not is_speech_state(state):
            raise ModelError(f"{path} holds a face model; export it with emolens.export.onnx")
        states.append(state)
    source = ", ".join(map(str, paths))
    return export_speech_states(states, out, name=name, version=version, source=source, trim_db=trim_db)


def export_speech_files(
    members: list[str | Path],
    out: str | Path,
    *,
    name: str | None = None,
    version: str = "1",
    trim_db: float | None = None,
) -> SpeechExportResult:
    """The ensemble of ``members`` (speech checkpoints, float32 speech model files, bundled speech
    model names) as one graph: each file's graph copied whole (:func:`average_graphs`), each
    network weighing the same (a file's networks are counted from its ``arch``, ``a+b``). They must
    share labels and feature settings (``trim_db``: see :func:`export_speech_checkpoint`). The
    temperature and test-time augmentation start afresh (1.0 and none): calibrate the result.
    Checked against the members run apart by ONNX Runtime on generated sounds; refused, leaving
    ``out`` as it was, at :data:`PARITY_TOLERANCE` or more."""
    import tempfile

    import onnx

    from emolens.audio.recognizer import VoiceRecognizer
    from emolens.export.graph_ensemble import average_graphs
    from emolens.runtime.session import open_session

    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="emolens-export-") as tmp:
        files: list[Path] = []
        for i, member in enumerate(members):
            path = speech_model_file(member)
            if path is None:  # a checkpoint: exported alone first
                path = export_speech_checkpoint(member, Path(tmp) / f"member{i}.onnx").path
            files.append(path)
        parts = [_read_speech_file(f) for f in files]
        parts = [(proto, replace(meta, features=_trimmed(meta.features, trim_db))) for proto, meta in parts]
        first = parts[0][1]
        for i, (_, meta) in enumerate(parts):
            if meta.precision != "fp32":
                raise ModelError(
                    f"ensemble member {i + 1} ({files[i]}) is {meta.precision}; "
                    "join float32 files and quantize the ensemble afterwards"
                )
            if meta.labels != first.labels or meta.features != first.features:
                raise ModelError(f"ensemble member {i + 1} has other labels or feature settings than the first")
        networks = [len(meta.arch.split("+")) for _, meta in parts]
        merged = average_graphs([proto for proto, _ in parts], networks)
        archs = "+".join(meta.arch for _, meta in parts)
        meta = VoiceModelMeta(
            name=name or archs,
            version=version,
            arch=archs,
            labels=first.labels,
            features=first.features,
            params=sum(m.params for _, m in parts),
            min_seconds=max(m.min_seconds for _, m in parts),
            train_seconds=first.train_seconds,
        )
        singles = [open_session(f, 1) for f in files]  # raw probabilities: no temperature
        share = np.asarray(networks, dtype=np.float64) / sum(networks)

        def parity(path: Path) -> float:
            ens = VoiceRecognizer(path, threads=1, partner=False)
            merged_session = open_session(path, 1)
            diff = 0.0
            for sound in _parity_sounds(rate=first.features.sample_rate):
                feed = {"input": ens.prepare(sound, first.features.sample_rate)}
                want = sum(w * s.run(None, feed)[0] for w, s in zip(share, singles, strict=True))
                diff = max(diff, float(np.abs(merged_session.run(None, feed)[0] - want).max()))
            return diff

        out.parent.mkdir(parents=True, exist_ok=True)
        with AtomicFile(out) as atomic:
            set_props(merged, meta.to_props())
            onnx.save(merged, str(atomic.path))
            diff = parity(atomic.path)
            if diff >= PARITY_TOLERANCE:
                raise ModelError(
                    f"the merged graph and its members disagree by {diff:.2e} (tolerance {PARITY_TOLERANCE:g}); "
                    "export refused"
                )
    source = ", ".join(map(str, members))
    log.info("exported %s -> %s (%d networks; max |p - members| = %.2e)", source, out, sum(networks), diff)
    write_json(out.with_suffix(".json"), {**meta.as_dict(), "members": sum(networks), "parity_max_abs_diff": diff})
    return SpeechExportResult(out, meta, diff)


def quantize_speech(model: str | Path, out: str | Path, *, name: str | None = None) -> Path:
    """An int8 copy of a speech model: int8 weights of its matrix products and LSTM, activations
    quantized on the fly (ONNX Runtime's dynamic quantization; the convolutions stay float32).
    No calibration data needed."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from emolens.audio.recognizer import VoiceRecognizer

    rec = VoiceRecognizer(model, threads=1, partner=False)
    if rec.meta.precision != "fp32":
        raise ModelError(f"{rec.path} is already quantized ({rec.meta.precision}); quantize its float32 model")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with AtomicFile(out) as atomic:
        tmp = str(atomic.path)
        quantize_dynamic(
            str(rec.path), tmp, op_types_to_quantize=["MatMul", "Gemm", "LSTM"], weight_type=QuantType.QInt8
        )
        proto = onnx.load(tmp)
        meta = replace(rec.meta, name=name or out.stem, version=rec.meta.version + "-int8", precision="int8-dynamic")
        set_props(proto, meta.to_props())
        onnx.save(proto, tmp)
    log.info("quantized %s -> %s (int8 weights, dynamic)", rec.path, out)
    return out
